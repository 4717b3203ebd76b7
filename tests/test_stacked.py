"""The trainer (harness.train.stacked) against the reference single-model loop
(tests/reference_trainer.py), CPU.

In float64, K = 3 replicas trained as one stack (and a stack of one) must end with the
weights, running statistics and per-epoch metrics that ``reference.train_run`` gives each seed
alone, to 1e-6 relative.
(Measured: ~1e-15 for most tensors; up to ~1e-9 for the biases of convs that feed a
BatchNorm, or a GroupNorm with one channel per group. Their true gradient is exactly zero (the
norm subtracts them), so their float gradient is rounding noise (~1e-17) that Adam rescales to
lr-sized steps; they do not change the network's output. Their per-layer gradient norms are
that noise too, so layer norms are compared relative to the epoch's largest layer norm.)

The standalone model is taken from ``train_run`` by wrapping the reference's ``init_model``
(the model object it returns is the one train_run trains), so nothing is re-implemented here.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import reference_trainer as reference
from harness.declare.spec import DataSpec, Protocol, RunSpec
from harness.train import stacked
from harness.train.data import Splits
from harness.train.stacked import Stack, train_stacked
from models import q4_depth_net, q5_norm_net, q6_order_cnn, q6_order_mlp

K = 3
B = 8
STEPS = 20
C, S = 1, 6  # tiny single-channel images
REL = 1e-6
SMALL = dict(width=4, in_channels=C, image_size=S)


def random_splits(n_train: int, n_test: int = 40, seed: int = 0) -> Splits:
    g = torch.Generator().manual_seed(seed)
    return Splits("random", torch.randn(n_train, C, S, S, generator=g),
                  torch.randint(0, 10, (n_train,), generator=g),
                  torch.randn(n_test, C, S, S, generator=g), torch.randint(0, 10, (n_test,), generator=g))


def specs_for(net, epochs=1, batch_size=B, seeds=(0, 1, 2)) -> list[RunSpec]:
    return [RunSpec(net, DataSpec("random"), Protocol(epochs=epochs, batch_size=batch_size), seed=s)
            for s in seeds]


def standalone(spec: RunSpec, data: Splits, monkeypatch) -> tuple[dict, torch.nn.Module]:
    """``reference.train_run`` in float64, and the model object it trained."""
    made = []
    original = reference.init_model

    def capture(*args, **kwargs):
        made.append(original(*args, **kwargs))
        return made[-1]

    with monkeypatch.context() as m:
        m.setattr(reference, "init_model", capture)
        rec = reference.train_run(spec, data, "cpu", dtype=torch.float64)
    assert len(made) == 1
    return rec, made[0]


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    scale = b.abs().max().item()
    return (a - b).abs().max().item() / (scale if scale > 0 else 1.0)


def close(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= REL * max(abs(a), abs(b), 1e-12)


def assert_same_run(fused_rec: dict, fused_model, single_rec: dict, single_model) -> None:
    for name, ref in single_model.state_dict().items():
        got = fused_model.state_dict()[name]
        if ref.is_floating_point():
            assert rel_err(got, ref) <= REL, (name, rel_err(got, ref))
            # (The bias of a conv that feeds a norm has a zero true gradient: see above.)
        else:
            assert torch.equal(got, ref), name
    for key in ("steps", "dropped_samples", "diverged_epoch"):
        assert fused_rec[key] == single_rec[key], key
    for key in ("test_acc", "test_acc_a", "test_acc_b", "train_loss", "train_acc", "grad_mean"):
        assert len(fused_rec[key]) == len(single_rec[key]), key
        assert all(close(a, b) for a, b in zip(fused_rec[key], single_rec[key])), (
            key, fused_rec[key], single_rec[key])
    for key in ("best_test_acc", "final_test_acc", "heldout_best_test_acc", "grad_metric"):
        assert close(fused_rec[key], single_rec[key]), (key, fused_rec[key], single_rec[key])
    # Per-layer norms are compared relative to the epoch's largest layer norm: the norm of a
    # conv bias that feeds a norm layer is pure rounding noise (~1e-17), see the docstring.
    ref_norms, got_norms = single_rec["layer_grad_norm"], fused_rec["layer_grad_norm"]
    assert got_norms.keys() == ref_norms.keys()
    for e in range(len(single_rec["train_loss"])):
        scale = max(v[e] for v in ref_norms.values())
        for name, ref in ref_norms.items():
            assert len(got_norms[name]) == len(ref), name
            assert abs(got_norms[name][e] - ref[e]) <= REL * scale, (name, got_norms[name], ref)
    assert fused_rec["key"] == single_rec["key"] and fused_rec["spec"] == single_rec["spec"]


NETS = {
    "bn-norm-act": q6_order_cnn("norm-act", "relu", **SMALL).with_(depth=2),
    "gn": q5_norm_net("group", **SMALL).with_(depth=2, width=8),  # 2 channels per group
    "act-norm-relu": q6_order_cnn("act-norm", "relu", **SMALL).with_(depth=2),
    "act-norm-leaky": q6_order_cnn("act-norm", "leaky_relu", **SMALL).with_(depth=2),
    "sigmoid-stem-block": q4_depth_net(2, "sigmoid", **SMALL),
    "mlp-norm-act": q6_order_mlp("norm-act", "relu", **SMALL),
    "mlp-act-norm-leaky": q6_order_mlp("act-norm", "leaky_relu", **SMALL),
}


@pytest.mark.parametrize("name", list(NETS))
def test_stack_equals_one_by_one_after_20_steps(name, monkeypatch):
    data = random_splits(STEPS * B)
    specs = specs_for(NETS[name])
    recs, models = train_stacked(specs, data, "cpu", dtype=torch.float64, return_models=True)
    assert [r["steps"] for r in recs] == [STEPS] * K
    for spec, rec, model in zip(specs, recs, models):
        single_rec, single_model = standalone(spec, data, monkeypatch)
        assert_same_run(rec, model, single_rec, single_model)


#: one protocol per registered optimizer, each away from its defaults where it takes arguments
OPTIMIZER_PROTOCOLS = {
    "adam": dict(optimizer="adam", weight_decay=1e-3),
    "adamw": dict(optimizer="adamw", weight_decay=1e-2),
    "sgd": dict(optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=1e-3),
}


def test_every_registered_optimizer_has_an_equivalence_case():
    from harness.declare.spec import OPTIMIZERS

    assert set(OPTIMIZER_PROTOCOLS) == set(OPTIMIZERS)


@pytest.mark.parametrize("optimizer", list(OPTIMIZER_PROTOCOLS))
def test_stacked_optimizer_is_k_optimizers(optimizer, monkeypatch):
    """Every optimizer of the registry, on the stack, gives each seed the run its own model
    and its own (unfused, torch default) optimizer give it: the registry's promise that each
    entry is elementwise. Without it a non-elementwise entry would silently mix the seeds."""
    data = random_splits(STEPS * B)
    kw = OPTIMIZER_PROTOCOLS[optimizer]
    specs = [RunSpec(NETS["bn-norm-act"], DataSpec("random"), Protocol(1, B, **kw), seed=s)
             for s in (0, 1, 2)]
    recs, models = train_stacked(specs, data, "cpu", dtype=torch.float64, return_models=True)
    for spec, rec, model in zip(specs, recs, models):
        assert rec["spec"]["protocol"]["optimizer"] == optimizer
        assert_same_run(rec, model, *standalone(spec, data, monkeypatch))
    # and the optimizer's arguments reach it: another weight decay trains another run
    other = RunSpec(spec.net, spec.data, Protocol(1, B, **(kw | {"weight_decay": 0.5})), seed=2)
    assert train_stacked([other], data, "cpu", dtype=torch.float64)[0]["train_loss"] != rec["train_loss"]


@pytest.mark.parametrize("extra", [5, 1])  # ragged last batch of 5; of 1 (dropped, counted)
def test_ragged_last_batch_two_epochs(extra, monkeypatch):
    data = random_splits(6 * B + extra)
    specs = specs_for(NETS["bn-norm-act"], epochs=2)
    recs, models = train_stacked(specs, data, "cpu", dtype=torch.float64, return_models=True)
    for spec, rec, model in zip(specs, recs, models):
        single_rec, single_model = standalone(spec, data, monkeypatch)
        assert rec["steps"] == 2 * (6 + (extra > 1))
        assert rec["dropped_samples"] == (2 if extra == 1 else 0)
        assert_same_run(rec, model, single_rec, single_model)


def test_mlp_ragged_last_batch(monkeypatch):
    data = random_splits(5 * B + 3)
    specs = specs_for(NETS["mlp-norm-act"], epochs=2)
    recs, models = train_stacked(specs, data, "cpu", dtype=torch.float64, return_models=True)
    for spec, rec, model in zip(specs, recs, models):
        assert_same_run(rec, model, *standalone(spec, data, monkeypatch))


def test_record_schema_matches_the_reference():
    data = random_splits(2 * B)
    specs = specs_for(NETS["gn"])
    recs = train_stacked(specs, data, "cpu")
    single = reference.train_run(specs[0], data, "cpu")
    assert [r["spec"]["seed"] for r in recs] == [0, 1, 2]  # order of specs
    for rec in recs:
        assert set(rec) == set(single)
        assert rec["cuda_graph"] is False and rec["bf16"] is False
        assert rec["engine"] == "stacked" and single["engine"] == "reference"
        assert rec["layer_grad_norm"].keys() == single["layer_grad_norm"].keys()
        for key in ("test_acc", "test_acc_a", "test_acc_b", "train_loss", "train_acc", "grad_mean"):
            assert type(rec[key]) is list and all(type(v) is float for v in rec[key]), key


def test_a_diverged_replica_stops_alone(monkeypatch):
    """Seed 1 starts with NaN weights: it is recorded as diverged in epoch 1, as train_run
    records it; seeds 0 and 2 train on, unaffected, and still match their standalone runs."""
    original = stacked.init_model

    def poisoned(spec, device, dtype=torch.float32):
        model = original(spec, device, dtype)
        if spec.seed == 1:
            with torch.no_grad():
                model[0].weight.fill_(float("nan"))
        return model

    monkeypatch.setattr(reference, "init_model", poisoned)
    monkeypatch.setattr(stacked, "init_model", poisoned)
    data = random_splits(4 * B)
    specs = specs_for(NETS["bn-norm-act"], epochs=2)
    recs, models = train_stacked(specs, data, "cpu", dtype=torch.float64, return_models=True)
    assert [r["diverged_epoch"] for r in recs] == [None, 1, None]
    assert [len(r["test_acc"]) for r in recs] == [2, 1, 2]
    single_rec, _ = standalone(specs[1], data, monkeypatch)
    assert single_rec["diverged_epoch"] == 1 and recs[1]["steps"] == single_rec["steps"]
    assert recs[1]["test_acc"] == single_rec["test_acc"]
    for r in (0, 2):
        assert_same_run(recs[r], models[r], *standalone(specs[r], data, monkeypatch))


def test_stack_of_one_is_the_single_model(monkeypatch):
    data = random_splits(3 * B + 2)
    spec = specs_for(NETS["gn"], seeds=(7,))
    recs, models = train_stacked(spec, data, "cpu", dtype=torch.float64, return_models=True)
    assert_same_run(recs[0], models[0], *standalone(spec[0], data, monkeypatch))


def test_static_gradients_variant_is_the_same(monkeypatch):
    """The CUDA-graph path keeps gradients in fixed tensors (zeroed, not freed); run that
    variant of the step on the CPU: same weights and metrics as one-by-one."""
    data = random_splits(5 * B + 3)
    specs = specs_for(NETS["gn"], epochs=2)
    stack = Stack(specs, data, "cpu", dtype=torch.float64, static_grads=True)
    grads = [p.grad for p in stack.params]
    epochs = [stack.train_epoch() for _ in range(2)]
    assert all(p.grad is g for p, g in zip(stack.params, grads))  # never reallocated
    for r, (spec, model) in enumerate(zip(specs, stack.unstack())):
        single_rec, single_model = standalone(spec, data, monkeypatch)
        for name, ref in single_model.state_dict().items():
            assert rel_err(model.state_dict()[name], ref) <= REL, name
        for e, m in enumerate(epochs):
            assert close(m["train_loss"][r], single_rec["train_loss"][e])
            assert close(m["grad_mean"][r], single_rec["grad_mean"][e])


def test_specs_must_differ_only_in_seed():
    a = specs_for(NETS["gn"], seeds=(0,))[0]
    b = RunSpec(a.net, a.data, Protocol(epochs=1, batch_size=2 * B), seed=1)
    with pytest.raises(ValueError, match="differ only in seed"):
        Stack([a, b], random_splits(B), "cpu")
    with pytest.raises(ValueError):
        train_stacked([], random_splits(B), "cpu")


def test_stacked_layout_names_and_slices():
    """Every stacked tensor has its standalone name, and slice k is replica k's tensor."""
    data = random_splits(B)
    specs = specs_for(NETS["sigmoid-stem-block"])
    stack = Stack(specs, data, "cpu")
    for k, model in enumerate(stack.models):
        for name, p in model.state_dict().items():
            q = stack.model.state_dict()[name]
            assert torch.equal(q if q.dim() == 0 else q.reshape(K, *p.shape)[k], p), name


def test_bf16_option_runs_and_is_recorded():
    data = random_splits(2 * B)
    recs = train_stacked(specs_for(NETS["bn-norm-act"]), data, "cpu", bf16=True)
    assert all(r["bf16"] is True and len(r["test_acc"]) == 1 for r in recs)
    assert all(math.isfinite(r["train_loss"][0]) for r in recs)


# --- stack_models on any module tree the builder could make (issue 23 item 1) --------------

class Residual(nn.Module):
    """x + body(x): composes children only, so its stacked form is itself."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)


class ConcatBranches(nn.Module):
    """cat of two branches along channels: mixes replicas' channel blocks in a stack."""

    def __init__(self, w: int):
        super().__init__()
        self.a, self.b = nn.Conv2d(w, w, 3, padding=1), nn.Conv2d(w, w, 3, padding=1)

    def forward(self, x):
        return torch.cat([self.a(x), self.b(x)], 1)


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return self.scale * x


class Blocks(nn.Module):
    """Its children in a ModuleList, applied in turn by its own forward."""

    def __init__(self, blocks: list[nn.Module]):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


def residual_net(w: int = 4) -> nn.Module:
    block = lambda: Residual(nn.Sequential(nn.Conv2d(w, w, 3, padding=1), nn.GroupNorm(2, w), nn.ReLU()))
    return nn.Sequential(nn.Conv2d(C, w, 3, padding=1), Blocks([block(), block()]),
                         nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), nn.Linear(w, 10))


def seeded(build, seeds=(0, 1, 2)) -> list[nn.Module]:
    out = []
    for s in seeds:
        torch.manual_seed(s)
        out.append(build().double())
    return out


def test_a_nested_residual_tree_stacks_to_its_standalone_networks():
    models = seeded(residual_net)
    x = torch.randn(5, C, S, S, dtype=torch.float64)
    stack = stacked.stack_models(models, example=x[:2])
    assert [n for n, _ in stack.named_parameters()] == [n for n, _ in models[0].named_parameters()]
    out = stack(x.repeat(1, K, 1, 1))  # training mode: batch statistics, per replica
    target = torch.randint(0, 10, (5,))
    sum(torch.nn.functional.cross_entropy(out[:, r], target) for r in range(K)).backward()
    for r, m in enumerate(models):
        want = m(x)
        assert rel_err(out[:, r], want) <= REL
        torch.nn.functional.cross_entropy(want, target).backward()
        scale = max(p.grad.abs().max().item() for p in m.parameters())
        for (name, p), q in zip(m.named_parameters(), stack.parameters()):
            # against the largest gradient: a conv bias feeding a norm has a zero true gradient
            assert (q.grad.reshape(K, *p.shape)[r] - p.grad).abs().max().item() <= REL * scale, name


def test_a_forward_that_mixes_replicas_is_refused_in_one_line():
    build = lambda: nn.Sequential(nn.Conv2d(C, 4, 3, padding=1), ConcatBranches(4),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
    models = seeded(build)
    x = torch.randn(2, C, S, S, dtype=torch.float64)
    with pytest.raises(stacked.CannotStack, match=r"^harness.train.stacked cannot stack this network: "
                                                  r"the forward of 1 \(ConcatBranches\) mixes replicas"):
        stacked.stack_models(models, example=x)
    assert stacked.stack_models(models[:1], example=x) is not None  # one seed: nothing to mix


def test_a_module_with_its_own_tensors_is_refused_in_one_line():
    models = seeded(lambda: nn.Sequential(nn.Conv2d(C, 4, 3), nn.Sequential(Scaled()),
                                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10)))
    with pytest.raises(stacked.CannotStack, match=r"cannot stack 1.0 \(Scaled\): it holds its own "
                                                  r"tensors \(scale\); train it with --plan per-seed"):
        stacked.stack_models(models)
    x = torch.randn(2, C, S, S, dtype=torch.float64)
    one = stacked.stack_models(models[:1], example=x)  # a stack of one takes it as it is
    assert rel_err(one(x)[:, 0], models[0](x)) <= REL

def test_eval_chunks_are_even_and_sized_by_replicas_on_the_cpu_only():
    for k in (1, 2, 3, 5, 7, 10, 400):
        b = stacked.eval_batch(k)
        assert b >= 2 and b % 2 == 0  # even: the halves' parity stays global across chunks
        assert b * k <= max(stacked.EVAL_REPLICA_IMAGES_CPU, 2 * k)
    assert stacked.eval_batch(5, "cuda") == stacked.EVAL_BATCH


@pytest.mark.parametrize("chunk_images", [7, 40, 10_000])
def test_evaluation_in_chunks_gives_the_one_pass_accuracies_and_halves(chunk_images, monkeypatch):
    """A test set cut into many chunks (odd size, a ragged last chunk) gives each replica the
    accuracy and the two halves of one pass over it."""
    data = random_splits(2 * B, n_test=41)
    stack = Stack(specs_for(NETS["bn-norm-act"]), data, "cpu", dtype=torch.float64)
    stack.train_epoch()
    monkeypatch.setattr(stacked, "EVAL_REPLICA_IMAGES_CPU", 10 ** 6)
    whole, whole_halves = stack.evaluate(), stack.last_halves
    monkeypatch.setattr(stacked, "EVAL_REPLICA_IMAGES_CPU", chunk_images)
    assert stack.evaluate() == whole and stack.last_halves == whole_halves
