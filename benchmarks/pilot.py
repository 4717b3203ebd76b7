"""Pilot runs for sizing a profile: train one configuration's seeds (stacked) and log
per-epoch test accuracy and wall time. Pilots use seeds >= 1000, disjoint from the
confirmatory seeds 0..n-1 (docs/RESULTS.md records every pilot).

    python benchmarks/pilot.py q5 --norm batch --batch 2 --width 16 --image 14 --train 10000 \
        --epochs 4 --tag P1

Appends one JSON line per configuration to docs/pilots/pilots.jsonl.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from harness.declare.profiles import input_shape
from harness.declare.spec import DataSpec, Protocol, RunSpec
from harness.statistics import convergence
from harness.train.data import load_splits
from harness.train.stacked import train_stacked
from models import q4_depth_net, q5_norm_net, q6_order_cnn, q6_order_mlp

LOG = Path(__file__).resolve().parent.parent / "docs" / "pilots" / "pilots.jsonl"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("question", choices=["q4", "q5", "q6cnn", "q6mlp"])
    ap.add_argument("--activation", default="relu")
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--norm", default="batch")
    ap.add_argument("--order", default="norm-act")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--image", type=int, default=14)
    ap.add_argument("--train", type=int, default=10000)
    ap.add_argument("--test", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tag", default="")
    a = ap.parse_args(argv)
    if a.first_seed < 1000:
        ap.error("pilot seeds start at 1000 or above (the confirmatory seeds are 0..n-1)")
    torch.set_num_threads(a.threads)
    channels, _ = input_shape(a.dataset)
    shape = {"width": a.width, "in_channels": channels, "image_size": a.image}
    net = {"q4": lambda: q4_depth_net(a.depth, a.activation, **shape),
           "q5": lambda: q5_norm_net(a.norm, **shape),
           "q6cnn": lambda: q6_order_cnn(a.order, a.activation, **shape).with_(depth=a.depth),
           "q6mlp": lambda: q6_order_mlp(a.order, a.activation, **shape)}[a.question]()
    data = DataSpec(a.dataset, a.train, a.test, a.image)
    splits = load_splits(data)
    specs = [RunSpec(net, data, Protocol(a.epochs, a.batch), s)
             for s in range(a.first_seed, a.first_seed + a.seeds)]
    t0 = time.perf_counter()
    recs = train_stacked(specs, splits, "cpu", progress=lambda line: print(
        f"[{time.perf_counter() - t0:7.1f}s] {line}", flush=True))
    wall = time.perf_counter() - t0
    accs = [r["test_acc"] for r in recs]
    per_epoch_mean = [sum(a_[e] for a_ in accs) / len(accs) for e in range(len(accs[0]))]
    row = {"tag": a.tag, "date": time.strftime("%Y-%m-%d %H:%M"), "question": a.question,
           "net": net.to_dict(), "data": vars(data) if hasattr(data, "__dict__") else str(data),
           "batch": a.batch, "epochs": a.epochs, "seeds": [s.seed for s in specs],
           "threads": a.threads, "wall_s": round(wall, 1),
           "mean_test_acc_per_epoch": [round(v, 2) for v in per_epoch_mean],
           "final_test_acc": [round(r["final_test_acc"], 2) for r in recs],
           "train_acc_last": [round(r["train_acc"][-1], 2) for r in recs],
           # per-run curves: the convergence diagnostic needs them (issue 24); the LR is
           # constant, so the first E epochs of a longer run are the run an E-epoch profile trains
           "test_acc_per_run": [[round(v, 2) for v in a_] for a_ in accs],
           "convergence_at_epoch": {e: convergence.configuration([a_[:e] for a_ in accs]).summary()
                                    for e in range(3, len(accs[0]) + 1)}}
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps({k: row[k] for k in ("tag", "wall_s", "mean_test_acc_per_epoch",
                                           "final_test_acc")}))


if __name__ == "__main__":
    main()
