"""The paper's protocol, deterministic on the CPU, divergence recorded: checked on the trainer
for one seed (``harness.train.stacked``, a stack of one: what the engine runs for a lone seed) and on
the reference single-model loop it is checked against (tests/reference_trainer.py)."""
import math

import pytest
import torch
import torch.nn.functional as F

import reference_trainer as reference
from harness.declare.spec import DataSpec, Protocol, RunSpec
from harness.train.data import Splits
from harness.train.stacked import epoch_batches, init_model, shuffle_generator, train_stacked
from models import NetConfig, q5_norm_net, q6_order_mlp


def stack_of_one(spec, data, device="cpu", **kw):
    (rec,) = train_stacked([spec], data, device, **kw)
    return rec


TRAINERS = {"stack-of-one": (stack_of_one, "stacked"),
            "reference": (reference.train_run, "reference")}


@pytest.fixture(params=list(TRAINERS))
def train(request):
    """One run's record, from the trainer (a stack of one) or from the reference loop."""
    return TRAINERS[request.param][0]


def toy_data(n_train=64, n_test=40, size=6, seed=0) -> Splits:
    g = torch.Generator().manual_seed(seed)
    y_train = torch.arange(n_train) % 10
    y_test = torch.arange(n_test) % 10
    # Class-dependent means make the task learnable, so accuracy moves.
    def images(y):
        base = torch.randn(len(y), 1, size, size, generator=g) * 0.5
        return (base + (y.float() / 10.0 - 0.5).view(-1, 1, 1, 1)).clamp(-1, 1)
    return Splits("toy", images(y_train), y_train, images(y_test), y_test)


def spec(net=None, epochs=2, batch=16, seed=0):
    net = net or q5_norm_net("batch", width=4, in_channels=1, image_size=6)
    return RunSpec(net, DataSpec("toy"), Protocol(epochs, batch), seed)


def strip(rec):
    return {k: v for k, v in rec.items() if k not in ("wall_s", "device")}


def test_seeded_run_is_deterministic_on_cpu(train):
    data = toy_data()
    a = train(spec(), data)
    b = train(spec(), data)
    assert strip(a) == strip(b)


def test_different_seeds_give_different_runs(train):
    data = toy_data()
    a = train(spec(seed=0), data)
    b = train(spec(seed=1), data)
    assert a["train_loss"] != b["train_loss"]


@pytest.mark.parametrize("name", list(TRAINERS))
def test_record_has_per_epoch_metrics_and_both_seed_metrics(name):
    train, engine = TRAINERS[name]
    data = toy_data()
    rec = train(spec(epochs=3), data)
    for field in ("test_acc", "train_loss", "train_acc", "grad_mean"):
        assert len(rec[field]) == 3
    assert rec["best_test_acc"] == max(rec["test_acc"])
    assert rec["final_test_acc"] == rec["test_acc"][-1]
    assert rec["grad_metric"] == sum(rec["grad_mean"]) / 3
    model = init_model(spec(), "cpu")
    assert set(rec["layer_grad_norm"]) == {n for n, _ in model.named_parameters()}
    assert all(len(v) == 3 for v in rec["layer_grad_norm"].values())
    assert rec["steps"] == 3 * math.ceil(64 / 16)
    assert rec["diverged_epoch"] is None
    assert {"torch", "python"} <= set(rec["versions"])
    assert rec["engine"] == engine and rec["wall_s"] > 0


def test_gradient_metric_is_the_seeds_definition(train):
    """One step on one full batch: the recorded metric equals mean over parameter tensors of
    mean |grad| computed by hand, and the L2 norms match per layer."""
    data = toy_data(n_train=16)
    s = spec(epochs=1, batch=16)
    rec = train(s, data)
    model = init_model(s, "cpu")
    model.train()
    perm = epoch_batches(16, 16, shuffle_generator(s.seed))[0]
    F.cross_entropy(model(data.x_train[perm]), data.y_train[perm]).backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    expected = sum(g.abs().mean().item() for g in grads.values()) / len(grads)
    assert math.isclose(rec["grad_mean"][0], expected, rel_tol=1e-5)
    # Per layer relative to the largest layer norm: the bias of a conv that feeds a BatchNorm
    # has a zero true gradient, so its norm is rounding noise (~1e-8 in float32) that another
    # kernel (the stack's grouped conv) rounds differently (tests/test_stacked.py).
    scale = max(g.norm().item() for g in grads.values())
    for name, g in grads.items():
        assert abs(rec["layer_grad_norm"][name][0] - g.norm().item()) <= 1e-5 * scale, name


def test_test_accuracy_is_measured_in_eval_mode():
    """BatchNorm evaluates with running statistics: the recorded accuracy equals an eval-mode
    pass of a model trained the same way, and the model is back in train mode afterwards.
    (The reference's evaluation; the stack's is held to it in tests/test_stacked.py.)"""
    data = toy_data()
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.BatchNorm1d(36), torch.nn.Linear(36, 10))
    model.train()
    acc = reference.evaluate(model, data.x_test, data.y_test)
    assert model.training
    model.eval()
    expected = (model(data.x_test).argmax(1) == data.y_test).float().mean().item() * 100
    assert math.isclose(acc, expected, rel_tol=1e-6)


def test_nan_loss_is_recorded_as_divergence_not_raised(train):
    data = toy_data()
    data.x_train[0, 0, 0, 0] = float("nan")  # poisons the first batch that contains it
    rec = train(spec(epochs=3), data)
    assert rec["diverged_epoch"] == 1
    assert len(rec["test_acc"]) == 1 and not math.isfinite(rec["train_loss"][0])


def test_singleton_last_batch_is_dropped_for_batchnorm1d(train):
    data = toy_data(n_train=33)
    net = q6_order_mlp("norm-act", "relu", width=2, in_channels=1, image_size=6)
    rec = train(spec(net, epochs=2, batch=16), data)
    assert rec["dropped_samples"] == 2  # one per epoch
    assert rec["steps"] == 4


def test_ragged_last_batch_is_kept(train):
    data = toy_data(n_train=40)
    rec = train(spec(epochs=1, batch=16), data)
    assert rec["steps"] == 3 and rec["dropped_samples"] == 0


def test_each_epoch_reshuffles():
    g = shuffle_generator(3)
    a, b = epoch_batches(50, 10, g), epoch_batches(50, 10, g)
    assert not torch.equal(torch.cat(a), torch.cat(b))
    assert sorted(torch.cat(a).tolist()) == list(range(50))


def test_adam_lr_is_the_protocols():
    """The trainer's optimizer is Adam at the spec's own learning rate (a declared level such
    as bn2015's lr must reach it), and a different lr trains different weights."""
    from harness.train.stacked import Stack

    data = toy_data()
    net = q5_norm_net("batch", width=4, in_channels=1, image_size=6)
    for lr in (0.0037, 0.02):
        s = RunSpec(net, DataSpec("toy"), Protocol(1, 16, lr), seed=0)
        stack = Stack([s], data, "cpu")
        assert isinstance(stack.opt, torch.optim.Adam)
        assert {g["lr"] for g in stack.opt.param_groups} == {lr}
    a = train_stacked([RunSpec(net, DataSpec("toy"), Protocol(1, 16, 0.0037), seed=0)], data)[0]
    b = train_stacked([RunSpec(net, DataSpec("toy"), Protocol(1, 16, 0.02), seed=0)], data)[0]
    assert a["train_loss"] != b["train_loss"]


@pytest.mark.parametrize("width,depth", [(8, 3), (4, 1)])
def test_width_and_depth_reach_the_network(width, depth):
    """The trained network has the spec's depth + 1 convolutions (stem and blocks), each
    ``width`` channels wide: read from the stack the trainer built, not from the config."""
    from harness.train.stacked import Stack

    net = NetConfig(width=width, depth=depth, in_channels=1, image_size=6)
    models = Stack([spec(net, epochs=1)], toy_data(), "cpu").unstack()
    convs = [m for m in models[0].modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == depth + 1
    assert {c.out_channels for c in convs} == {width}


def test_test_set_halves_make_the_whole_and_give_a_heldout_best_epoch(train):
    """The unbiased best-epoch metric: epoch chosen on half A, reported on half B."""
    from harness.train.data import load_splits

    data = DataSpec("digits", 400, 301)  # odd test size: half A has one more image
    splits = load_splits(data)
    spec = RunSpec(q5_norm_net("batch", width=4, in_channels=1, image_size=8), data,
                   Protocol(3, 32), seed=1)
    rec = train(spec, splits)
    n_a, n_b = 151, 150
    for whole, a, b in zip(rec["test_acc"], rec["test_acc_a"], rec["test_acc_b"]):
        assert abs(whole * 301 - (a * n_a + b * n_b)) < 1e-6
    best_a = max(range(3), key=lambda e: (rec["test_acc_a"][e], -e))
    assert rec["heldout_best_test_acc"] == rec["test_acc_b"][best_a]
