"""The questions, defined once (harness/declare/questions.py): the grid trains them, the claims select
them and the report files runs under them, all through the same cells."""
import subprocess
import sys

import pytest

from harness.declare import questions as Q
from harness.declare.profiles import PROFILES
from harness.runstore.runs import question_arm, published_runs


def test_knowing_a_question_never_imports_torch():
    code = ("import sys; import harness.declare.questions, harness.declare.grids, harness.runstore.runs, "
            "harness.runstore.validate, models; assert 'torch' not in sys.modules, 'torch imported'")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _row(spec) -> dict:
    """The runs-table row of a spec (harness.runstore.runs.record_to_row), without its metrics."""
    from harness.runstore.runs import record_to_row

    return record_to_row({"key": spec.key(), "spec": spec.to_dict()}, "test")


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_trained_run_is_filed_under_its_own_question(profile):
    """The old guess (report.question_of) filed tiny's 2-block Q6 CNN under no question."""
    from harness.declare import grids

    p = PROFILES[profile]
    for q in Q.QUESTIONS:
        specs = grids.grid(q, p)
        assert specs
        assert {Q.question_of(_row(s), p) for s in specs} == {q}


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_each_claim_arm_selects_exactly_one_cells_runs(profile):
    """A table of every question's runs: each cell's selector finds its own n runs, no more."""
    import pandas as pd
    from harness.declare import grids

    p = PROFILES[profile].replace(seeds=3)
    rows = []
    for q in Q.QUESTIONS:
        for s in grids.grid(q, p):
            rows.append(_row(s) | {"kind": "run", "seed": s.seed, "dataset": p.dataset, "final_test_acc": 50.0 + s.seed,
                                   "best_test_acc": 51.0 + s.seed})
    df = pd.DataFrame(rows)
    for q in Q.QUESTIONS:
        for c in Q.cells(q, p):
            arm = question_arm(df, p, q, "best_test_acc", **dict(c.levels))
            assert arm.n == 3 and arm.label == c.label


def test_the_papers_table_is_filed_completely():
    """Every published row answers exactly the question the paper's CSV says it does."""
    import pandas as pd
    from harness.runstore.runs import PUBLISHED_CSV

    full = PROFILES["full"]
    df = published_runs()
    got = [Q.question_of(r, full) for r in df.to_dict("records")]
    assert None not in got
    want = [k.split(":")[1] for k in df["key"]]  # paper:<question>:<row>
    assert got == want
    assert set(pd.read_csv(PUBLISHED_CSV).question) == {"Q4", "Q5", "Q6"}


def test_cells_follow_the_profile_and_the_papers_order():
    p = PROFILES["cpu"]
    assert [c.label for c in Q.cells("Q6", p)][:2] == ["cnn bn-relu", "mlp bn-relu"]
    assert [dict(c.levels)["depth"] for c in Q.cells("Q4", p)] == list(p.sizes["Q4"]["depth"]) * 2
    assert {c.fields["depth"] for c in Q.cells("Q6", p) if c.fields["arch"] == "cnn"} == \
        {p.sizes["Q6"]["depth"]}
    order = Q.get("Q6").level("order")
    assert list(order.labels) == list(order.fields) == list(order.values)
    assert Q.runs_of("headline") == "Q4" and Q.runs_of("Q5") == "Q5"


@pytest.mark.parametrize("call,match", [
    (lambda p: Q.cell("Q5", p, norm="batch"), "selected by batch_size, norm"),
    (lambda p: Q.cell("Q6", p, order="relu-relu", arch="cnn"), "unknown order 'relu-relu'"),
    (lambda p: Q.cell("Q7", p), "unknown question"),
    (lambda p: Q.runs_of("Q7"), "unknown question"),
])
def test_a_wrong_selector_is_one_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call(PROFILES["smoke"])


def test_added_fields_at_their_default_leave_every_store_key_as_it_was(monkeypatch):
    """Defaults left out of the key: a Q4-Q6 spec hashes the same fields as before ``init``
    and the optimizer fields existed (the 11 NetConfig and 3 Protocol fields of the first
    store), so adding a field re-keys no run;
    a run that sets it (bn2015's small-gaussian init) is keyed on it."""
    import hashlib
    import json

    from harness.declare import grids, spec as spec_mod

    monkeypatch.setattr(spec_mod, "_fingerprint", "fixed")
    before = {"arch", "width", "depth", "block_order", "norm", "activation", "stem", "groups",
              "in_channels", "image_size", "num_classes"}
    before_protocol = {"epochs", "batch_size", "lr"}  # the optimizer fields came later
    p = PROFILES["cpu"]
    for q in ("Q4", "Q5", "Q6"):
        for s in grids.grid(q, p, seeds=1):
            d = s.to_dict()
            d["net"] = {k: v for k, v in d["net"].items() if k in before}
            d["protocol"] = {k: v for k, v in d["protocol"].items() if k in before_protocol}
            d["execution"].pop("threads")
            old = hashlib.sha256(json.dumps({"spec": d, "code": "fixed"}, sort_keys=True)
                                 .encode()).hexdigest()[:24]
            assert s.key() == old
    bn = grids.grid("bn2015-lr", p, seeds=1)[0]
    assert bn.net.init == "small-gaussian" and bn.key() != grids.spec_of(
        {**bn.net.to_dict(), "init": "default", "batch_size": 60, "lr": bn.protocol.lr,
         "epochs": bn.protocol.epochs}, p, p.dataset, bn.seed).key()
    # and a run that sets an optimizer field is keyed on it
    from dataclasses import replace
    sgd = replace(bn, protocol=replace(bn.protocol, optimizer="sgd"))
    assert len({bn.key(), sgd.key(), replace(sgd, protocol=replace(sgd.protocol, momentum=0.9)).key()}) == 3


def test_a_question_varies_the_optimizer_by_declaration(monkeypatch):
    """The optimizer is a training field like the learning rate: a question declares it as a
    level (here a named one, SGD with momentum against Adam) and takes weight decay from the
    profile; the grid trains it, runs.csv carries it, and each row is filed back under its arm."""
    from dataclasses import replace

    from harness.declare import grids
    from harness.declare.questions import Level, Question
    from harness.runstore.runs import from_records
    from harness.train.data import load_splits
    from harness.train.stacked import train_stacked

    q = Question(
        name="opt-demo", title="Adam against SGD with momentum",
        base={"arch": "fc", "depth": 1, "norm": "none", "block_order": "norm-act",
              "activation": "relu", "stem": "conv", "batch_size": 64},
        levels=(Level("optimizer", fields={"adam": {"optimizer": "adam", "lr": 0.001},
                                           "sgd-m": {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9}}),),
        metrics=("best_test_acc",),
        sizes={"smoke": {"optimizer": ("adam", "sgd-m"), "epochs": 1, "weight_decay": 1e-4}},
        label=lambda lv: lv["optimizer"])
    monkeypatch.setattr(Q, "_loaded", dict(Q._load()) | {q.name: q})
    profile = replace(PROFILES["smoke"], sizes=dict(PROFILES["smoke"].sizes) | {q.name: q.sizes["smoke"]},
                      width=4, image_size=8)
    specs = grids.grid(q.name, profile, dataset="digits", seeds=2)
    assert [(s.protocol.optimizer, s.protocol.momentum, s.protocol.weight_decay) for s in specs] == \
        [("adam", 0.0, 1e-4)] * 2 + [("sgd", 0.9, 1e-4)] * 2
    data = load_splits(specs[0].data)
    recs = train_stacked(specs[:2], data) + train_stacked(specs[2:], data)
    runs = from_records(recs)
    assert list(runs["optimizer"]) == ["adam", "adam", "sgd", "sgd"]
    assert list(runs["momentum"]) == [0.0, 0.0, 0.9, 0.9]
    filed = [Q.levels_of(q.name, row, profile) for row in runs.to_dict("records")]
    assert filed == [{"optimizer": "adam"}] * 2 + [{"optimizer": "sgd-m"}] * 2
    # a row of the other optimizer is not this arm's
    assert not Q.matches(runs.iloc[2].to_dict(), Q.where(q.name, profile, optimizer="adam"))
