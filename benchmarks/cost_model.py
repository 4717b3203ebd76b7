"""How well the engine's cost model (``harness.train.engine.estimated_cost``) weighs configurations
against each other: what the progress line's time left and the scheduler's order rest on.

For every configuration of the committed CPU sessions (docs/results/*/runs.csv whose runs were
trained on the CPU, each configuration's seeds as one stack), its measured training seconds
(sum of its runs' wall_s) over its estimated cost gives seconds per cost unit. A perfect model
gives the same number for every configuration; the spread (largest over smallest, and the
error of a time-left estimate made from the first configuration trained, the most costly) is
what an estimate inherits. The model before this change (latency 2e6 per run, not shared by a
stack) is computed in the same run as the baseline.

    python3 benchmarks/cost_model.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness.declare.spec import DataSpec, Protocol, RunSpec  # noqa: E402
from harness.train.engine import RATE_EVIDENCE, estimated_cost  # noqa: E402
from models import NetConfig  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CONFIG = ["arch", "width", "depth", "norm", "activation", "block_order", "stem", "batch_size",
          "epochs", "train_size", "image_size", "dataset"]


def before(spec: RunSpec, stack: int) -> float:
    """The model before: the same work term, a per-run step latency of 2e6 x (depth + 2)."""
    return estimated_cost(spec, stack) - _latency(spec, stack) + _latency(spec, 1) * 10


def _latency(spec: RunSpec, stack: int) -> float:
    from harness.train.engine import STEP_LATENCY

    n = spec.data.train_size or 50_000
    steps = spec.protocol.epochs * -(-n // spec.protocol.batch_size)
    return steps * STEP_LATENCY * (spec.net.depth + 2) / max(stack, 1)


def rows(path: Path) -> list[dict]:
    df = pd.read_csv(path)
    out = []
    for _, g in df.groupby(CONFIG, dropna=False, sort=False):
        r = g.iloc[0]
        net = NetConfig(arch=r.arch, width=int(r.width), depth=int(r.depth), block_order=r.block_order,
                        norm=r.norm, activation=r.activation, stem=r.stem, image_size=int(r.image_size))
        data = DataSpec(r.dataset, train_size=None if pd.isna(r.train_size) else int(r.train_size),
                        image_size=int(r.image_size))
        spec = RunSpec(net, data, Protocol(int(r.epochs), int(r.batch_size), r.lr), 0)
        k = len(g)
        out.append({"source": path.parent.name, "config": f"{r.arch}/d{int(r.depth)}/{r.norm}/{r.activation}"
                    f"/{r.block_order}/b{int(r.batch_size)}", "seconds": float(g.wall_s.sum()),
                    "now": estimated_cost(spec, k) * k, "before": before(spec, k) * k})
    return out


def summary(tab: pd.DataFrame, model: str) -> tuple[float, float]:
    rate = tab["seconds"] / tab[model]
    first = tab[model].idxmax()  # a session trains the most costly configuration first
    eta = (tab[model].sum() - tab.loc[first, model]) * rate[first]
    real = tab["seconds"].sum() - tab.loc[first, "seconds"]
    return float(rate.max() / rate.min()), float(eta / real)


def main() -> None:
    for rel in RATE_EVIDENCE:
        tab = pd.DataFrame(rows(REPO / rel))
        print(f"\n{rel}: {len(tab)} configurations")
        print("| configuration | measured s | s per unit, model before | s per unit, model now |")
        print("|---|---:|---:|---:|")
        for _, r in tab.iterrows():
            print(f"| {r.config} | {r.seconds:.0f} | {r.seconds / r.before:.3g} | {r.seconds / r.now:.3g} |")
        for model in ("before", "now"):
            spread, eta = summary(tab, model)
            print(f"model {model}: largest/smallest seconds per unit {spread:.1f}x; time left "
                  f"estimated after the first configuration / real time left: {eta:.2f}")


if __name__ == "__main__":
    main()
