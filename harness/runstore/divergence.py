"""Divergence and runs stuck at chance: one meaning, used by every claim (via ``runs.arm``).

A run is **diverged** when its training loss became non-finite (``diverged_epoch`` is set;
the trainer records it and stops the run) or a metric it reports is infinite. A run is **at
chance** when its best test accuracy is within ``CHANCE_MARGIN`` points of chance,
100 / classes (every dataset here has 10 classes: at most 12%).

An arm cannot be judged, and every claim using it is untestable with the reason, when

1. it holds a diverged run: its numbers are whatever NaN weights predict;
2. every run in it is at chance with no spread (one constant value: a network predicting a
   single class, e.g. after its weights became NaN): a zero-variance arm would otherwise give
   "supported, p = 0";
3. every run of the source (the question's runs) is at chance: nothing learned at all
   (e.g. a broken learning rate), so no contrast between configurations means anything.

Kept as results: an arm wholly at chance whose runs differ (a configuration that did not
learn, e.g. a deep Sigmoid net), and some seeds at chance while the others learn (slow
starters: the smoke profile's Q5 batch-128 arms have seeds at 10.0% beside 19.9%).
Untestable is a skip, never a pass or a fail, so no divergence flips a strict expectation.
"""
from __future__ import annotations

import math

import pandas as pd

from harness.declare.profiles import DATASETS

NUM_CLASSES = dict.fromkeys(DATASETS, 10)
CHANCE_MARGIN = 2.0  # accuracy points above 100/classes still counted as chance


def chance_accuracy(dataset) -> float:
    return 100.0 / NUM_CLASSES.get(dataset, 10)


def _at_chance(runs: pd.DataFrame) -> pd.Series:
    acc = pd.to_numeric(runs["best_test_acc"], errors="coerce")
    if acc.isna().all():
        acc = pd.to_numeric(runs["final_test_acc"], errors="coerce")
    limit = runs["dataset"].map(chance_accuracy).fillna(10.0) + CHANCE_MARGIN
    return acc.notna() & (acc <= limit)


def _diverged(runs: pd.DataFrame, metric: str) -> pd.Series:
    div = runs["diverged_epoch"].notna() if "diverged_epoch" in runs else pd.Series(False, runs.index)
    vals = pd.to_numeric(runs[metric], errors="coerce")
    return div | vals.map(lambda v: isinstance(v, float) and math.isinf(v))


def arm_problem(source: pd.DataFrame, runs: pd.DataFrame, metric: str, label: str) -> str | None:
    """Why the arm ``label`` (its ``runs``: rows of kind "run" with a ``metric`` value, drawn
    from ``source``) cannot be judged, or None."""
    if not len(runs):
        return None
    div = _diverged(runs, metric)
    if div.any():
        epochs = sorted({int(e) for e in runs.loc[div, "diverged_epoch"].dropna()})
        at = f" (non-finite training loss at epoch {', '.join(map(str, epochs))})" if epochs else ""
        return (f"arm '{label}': {int(div.sum())} of {len(runs)} runs diverged{at}; a diverged "
                f"run's accuracy says nothing about the claim (docs/FAULTS.md, divergence)")
    all_runs = source[source["kind"] == "run"]
    chance_all = _at_chance(all_runs)
    if len(all_runs) and chance_all.all():
        return (f"every run in this source is at chance (best test accuracy <= "
                f"{chance_accuracy(all_runs['dataset'].iloc[0]) + CHANCE_MARGIN:g}%): nothing "
                f"learned, check the learning rate and the data")
    vals = pd.to_numeric(runs[metric], errors="coerce")
    if len(runs) > 1 and _at_chance(runs).all() and vals.nunique() == 1:
        return (f"arm '{label}': all {len(runs)} runs at chance with one constant value "
                f"({vals.iloc[0]:g}): a network predicting a single class, not a result")
    return None
