"""Several configurations interleaved step by step (harness.train.concurrent) give exactly the
records ``train_stacked`` gives each configuration alone (CPU, float32: the same kernels in
the same order per configuration, so equality is exact, not approximate)."""
from __future__ import annotations

import torch

from harness.declare.spec import DataSpec, Protocol, RunSpec
from harness.train.concurrent import train_concurrent
from harness.train.stacked import train_stacked
from test_stacked import SMALL, random_splits
from models import q5_norm_net

# Q5's latency-bound sweep in miniature: BN and GN, batch 2 and 4, two seeds each.
NETS = {"batch": q5_norm_net("batch", **SMALL).with_(depth=2, width=8),
        "group": q5_norm_net("group", **SMALL).with_(depth=2, width=8)}


def groups():
    return [[RunSpec(NETS[norm], DataSpec("random"), Protocol(epochs=2, batch_size=b), seed=s)
             for s in (0, 1)] for norm in ("batch", "group") for b in (2, 4)]


def without_timing(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if k != "wall_s"}


def test_interleaved_records_equal_one_at_a_time():
    data = random_splits(14)  # batch 4: a ragged last batch of 2
    order = []
    together = train_concurrent(groups(), lambda d: data, "cpu", on_step=order.append)
    for group, recs in zip(groups(), together):
        alone = train_stacked(group, data, "cpu")
        assert [without_timing(r) for r in recs] == [without_timing(r) for r in alone]
    # Really interleaved: the first steps go round the four configurations in turn.
    assert order[:8] == [0, 1, 2, 3, 0, 1, 2, 3]
    steps = {i: order.count(i) for i in range(4)}
    assert steps == {0: 14, 1: 8, 2: 14, 3: 8}  # 2 epochs x ceil(14 / b) steps


def test_interleaving_keeps_divergence_per_configuration(monkeypatch):
    """A configuration whose runs diverge stops alone; the others run to the end."""
    from harness.train import stacked
    original = stacked.init_model

    def poisoned(spec, device, dtype=torch.float32):
        model = original(spec, device, dtype)
        if spec.net.norm == "group" and spec.protocol.batch_size == 2:
            with torch.no_grad():
                model[0].weight.fill_(float("nan"))
        return model

    monkeypatch.setattr(stacked, "init_model", poisoned)
    data = random_splits(14)
    recs = train_concurrent(groups(), lambda d: data, "cpu")
    assert [[r["diverged_epoch"] for r in g] for g in recs] == [[None, None], [None, None],
                                                                 [1, 1], [None, None]]
    assert [len(g[0]["test_acc"]) for g in recs] == [2, 2, 1, 2]
