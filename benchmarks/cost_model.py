"""The engine's cost model (``harness.train.engine.estimated_cost``): its two constants fitted
to the committed CPU sessions, and how well it then weighs configurations against each other,
which is what the progress line's time left, the scheduler's order and --max-hours rest on.

For every configuration of the sessions in ``RATE_EVIDENCE`` (trained under execution plans),
its measured training seconds (sum of its runs' wall_s) over its estimated cost gives seconds
per cost unit. A perfect model gives one number for every configuration of a session. The fit
is the (latency, MLP work) pair of a grid that makes those numbers most alike (least standard
deviation of their log around each session's mean); the constants in the engine are the
fitted ones, and the model before them (2e5, 8) is printed in the same run as the baseline.
The spread (largest over smallest) and the time left a session would show after its most
costly configuration (time left estimated / real; 1 is exact) are what an estimate inherits.

    python3 benchmarks/cost_model.py
"""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness.train.engine import MLP_WORK, RATE_EVIDENCE, STEP_LATENCY, recorded_costs  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BEFORE = {"latency": 2e5, "mlp_work": 8}
NOW = {"latency": STEP_LATENCY, "mlp_work": MLP_WORK}
GRID = {"latency": [1e5, 2e5, 4e5, 6e5, 8e5, 1e6, 1.5e6, 2e6], "mlp_work": [1, 1.5, 2, 3, 4, 8]}


def tables(model: dict) -> list[pd.DataFrame]:
    return [recorded_costs(pd.read_csv(REPO / rel), **model) for rel in RATE_EVIDENCE]


def misfit(tabs: list[pd.DataFrame]) -> float:
    """Standard deviation of log(seconds per unit) around each session's own mean."""
    logs = [np.log(t.seconds / t.cost) for t in tabs]
    return float(np.concatenate([v - v.mean() for v in logs]).std())


def summary(tab: pd.DataFrame) -> tuple[float, float]:
    rate = tab.seconds / tab.cost
    first = tab.cost.idxmax()  # a session trains the most costly configuration first
    eta = (tab.cost.sum() - tab.cost[first]) * rate[first]
    real = tab.seconds.sum() - tab.seconds[first]
    return float(rate.max() / rate.min()), float(eta / real)


def main() -> None:
    fits = sorted((misfit(tables(dict(zip(GRID, values)))), values)
                  for values in itertools.product(*GRID.values()))
    best = dict(zip(GRID, fits[0][1]))
    print(f"fit over the grid {GRID}: least misfit {fits[0][0]:.3f} at {best}; "
          f"the engine's constants: {NOW} (misfit {misfit(tables(NOW)):.3f}); "
          f"before: {BEFORE} (misfit {misfit(tables(BEFORE)):.3f})")
    for rel, before, now in zip(RATE_EVIDENCE, tables(BEFORE), tables(NOW)):
        print(f"\n{rel}: {len(now)} configurations")
        print("| configuration | measured s | s per unit (1e-9), model before | s per unit (1e-9), model now |")
        print("|---|---:|---:|---:|")
        for b, n in zip(before.itertuples(), now.itertuples()):
            print(f"| {n.config} | {n.seconds:.0f} | {1e9 * b.seconds / b.cost:.2f} | {1e9 * n.seconds / n.cost:.2f} |")
        for name, tab in (("before", before), ("now", now)):
            spread, eta = summary(tab)
            print(f"model {name}: largest/smallest seconds per unit {spread:.1f}x; time left "
                  f"estimated after the first configuration / real time left: {eta:.2f}")


if __name__ == "__main__":
    main()
