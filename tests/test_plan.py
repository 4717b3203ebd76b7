"""Execution plans (harness.train.plan): every plan trains the same runs, up to float reordering.

Each plan is checked in float64 against the reference single-model loop
(tests/reference_trainer.py) seed by seed, with ``test_stacked.assert_same_run`` (1e-6
relative), through ``harness.train.executors.train_configuration``, the engine's path; and the table
and the names are checked to say what they mean."""
from __future__ import annotations

import pytest
import torch

from harness.train import plan as plans
from harness.train.executors import train_configuration
from harness.train.plan import EAGER_STACKED, Plan, PlanError, choose, parse
from harness.train import stacked
from harness.train.stacked import Stack
from test_stacked import NETS, B, assert_same_run, random_splits, specs_for, standalone

STEPS = 6
PLANS = [EAGER_STACKED, Plan("stacked", channels_last=True), Plan("per-seed"),
         Plan("per-seed", channels_last=True)]


def train_plan(plan: Plan, specs, data):
    """The records and trained standalone models of ``specs`` under ``plan``, in float64."""
    real = Stack.__init__
    stacks = []

    def float64(self, *args, **kwargs):  # the engine's path, at float64 for the comparison
        real(self, *args, **{**kwargs, "dtype": torch.float64})
        stacks.append(self)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(Stack, "__init__", float64)
        recs = list(train_configuration(specs, data, "cpu", plan=plan))
    models = [model for st in stacks for model in st.unstack()]
    return recs, models, stacks


@pytest.mark.parametrize("plan", PLANS, ids=lambda p: p.name)
@pytest.mark.parametrize("net", ["bn-norm-act", "gn"])
def test_every_plan_trains_the_reference_runs(plan, net, monkeypatch):
    data = random_splits(STEPS * B + 3)  # a ragged last batch too
    specs = specs_for(NETS[net])
    recs, models, stacks = train_plan(plan, specs, data)
    assert len(stacks) == (1 if plan.stacking == "stacked" else len(specs))
    assert all(st.channels_last == plan.channels_last for st in stacks)
    for spec, rec, model in zip(specs, recs, models):
        assert rec["engine"] == plan.name and rec["plan"] == plan.to_dict()
        single_rec, single_model = standalone(spec, data, monkeypatch)
        assert_same_run(rec, model, single_rec, single_model)


def test_compiled_plan_trains_the_reference_run(monkeypatch, tmp_path):
    """torch.compile (inductor) at a tiny size: one seed, one epoch, float64."""
    pytest.importorskip("torch._inductor")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    data = random_splits(4 * B)
    specs = specs_for(NETS["bn-norm-act"], seeds=(0,))
    plan = Plan("per-seed", compile=True)
    recs, models, stacks = train_plan(plan, specs, data)
    assert stacks[0].compiled and recs[0]["engine"] == "per-seed+compile"
    single_rec, single_model = standalone(specs[0], data, monkeypatch)
    assert_same_run(recs[0], models[0], single_rec, single_model)


def test_a_compiled_stack_lets_every_configuration_compile(monkeypatch):
    """Each configuration is another graph of the same forward: at dynamo's default limit (8)
    the ninth of a session ran eager under a "compile" record. Building a compiled stack
    raises the limit (nothing is compiled until the first step, so this is cheap)."""
    import torch._dynamo.config as dynamo

    name = "recompile_limit" if hasattr(dynamo, "recompile_limit") else "cache_size_limit"
    monkeypatch.setattr(dynamo, name, 8)
    specs = specs_for(NETS["bn-norm-act"], seeds=(0,))
    Stack(specs, random_splits(2 * B), "cpu")
    assert getattr(dynamo, name) == 8  # eager stacks leave dynamo alone
    assert Stack(specs, random_splits(2 * B), "cpu", compile=True).compiled
    assert getattr(dynamo, name) >= stacked.RECOMPILE_LIMIT >= 100


def test_the_table_unstacks_compute_bound_cnns_and_lays_batchnorm_stacks_out_nhwc_on_the_cpu_only():
    cnn, mlp = NETS["bn-norm-act"], NETS["mlp-norm-act"]
    big = specs_for(cnn, batch_size=plans.PER_SEED_MIN_BATCH)[0]
    small = specs_for(cnn, batch_size=plans.PER_SEED_MIN_BATCH - 1)[0]
    assert choose(big, "cpu") == Plan("per-seed", channels_last=True)
    # below it a BatchNorm CNN keeps its stack in NHWC, a GroupNorm CNN its stack in NCHW
    assert choose(small, "cpu") == Plan("stacked", channels_last=True)
    gn_small = specs_for(NETS["gn"], batch_size=plans.PER_SEED_MIN_BATCH - 1)[0]
    assert choose(gn_small, "cpu") == EAGER_STACKED
    assert choose(specs_for(mlp, batch_size=128)[0], "cpu") == EAGER_STACKED
    assert choose(specs_for(mlp, batch_size=2)[0], "cpu") == EAGER_STACKED
    assert choose(big, "cuda") == EAGER_STACKED  # a GPU keeps its stack and graph


def test_the_table_compiles_a_batchnorm_cnn_only_where_its_arithmetic_pays_and_a_compiler_exists(monkeypatch):
    from dataclasses import replace

    from harness.declare.spec import DataSpec

    cnn = NETS["bn-norm-act"]
    small = specs_for(cnn, batch_size=128)[0]
    big = replace(small, net=cnn.with_(width=16, image_size=14, depth=8), data=DataSpec("x", train_size=20_000))
    assert plans.conv_macs(small) < plans.COMPILE_MIN_MACS <= plans.conv_macs(big)
    monkeypatch.setattr(plans, "cxx_compiler", lambda: "g++")
    assert choose(big, "cpu") == Plan("per-seed", channels_last=True, compile=True)
    assert not choose(small, "cpu").compile
    gn_big = replace(big, net=NETS["gn"].with_(width=16, image_size=14, depth=8))
    assert choose(gn_big, "cpu") == Plan("per-seed", channels_last=True)  # GroupNorm compiled slower
    assert choose(big, "cuda") == EAGER_STACKED
    monkeypatch.setattr(plans, "cxx_compiler", lambda: None)  # no compiler: eager, not an error
    assert choose(big, "cpu") == Plan("per-seed", channels_last=True)


def test_a_stack_whose_compile_fails_trains_eager_and_its_records_say_why(monkeypatch):
    """No usable toolchain on a machine: one warning, the same run as eager, the reason kept."""
    import torch

    def broken_compile(model):
        def call(x):
            raise RuntimeError("InductorError: no working C++ compiler")
        return call

    specs = specs_for(NETS["bn-norm-act"], seeds=(0,))
    data = random_splits(2 * B)
    monkeypatch.setattr(torch, "compile", broken_compile)
    with pytest.warns(RuntimeWarning, match="torch.compile failed"):
        failed = stacked.train_stacked(specs, data, "cpu", dtype=torch.float64, compile=True)
    eager = stacked.train_stacked(specs, data, "cpu", dtype=torch.float64)
    assert failed[0]["compile_fallback"].startswith("RuntimeError: InductorError")
    assert eager[0]["compile_fallback"] is None
    assert failed[0]["test_acc"] == eager[0]["test_acc"] and failed[0]["train_loss"] == eager[0]["train_loss"]


def test_plan_names_round_trip_and_bad_names_say_what_is_valid():
    assert parse("auto") is None
    assert parse("eager-stacked") == EAGER_STACKED
    for p in PLANS + [Plan("stacked", True, True)]:
        assert parse(p.name) == p
    for bad in ("stack", "per-seed+nhwc", "stacked+compile+compile", ""):
        with pytest.raises(PlanError, match="give auto, eager-stacked"):
            parse(bad)


def test_compile_cache_lives_beside_the_store_keyed_by_torch_and_code(tmp_path, monkeypatch):
    from harness.declare.spec import code_fingerprint

    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    path = plans.use_compile_cache(tmp_path / "runs.sqlite")
    assert path.parent == tmp_path / ".compile-cache"
    assert torch.__version__ in path.name and code_fingerprint() in path.name


def test_compile_cache_replaces_inductors_own_default_but_not_a_users_folder(tmp_path, monkeypatch):
    """Inductor pins its default folder into the environment the first time it asks (in a
    pytest session, before the engine starts): that value is replaced; a user's is kept."""
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))  # keep inductor's default out of /tmp
    cache_dir()  # what an early inductor import does
    assert plans.use_compile_cache(tmp_path / "runs.sqlite").parent == tmp_path / ".compile-cache"
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))
    assert plans.use_compile_cache(tmp_path / "runs.sqlite") == tmp_path / "mine"
