"""Epoch selection shown (issue 9): re-judge a claim with the held-out best-epoch metric.

The paper's metric ``best_test_acc`` picks the best epoch ON the test set, which biases it
upward, more for noisy configurations (e.g. batch 2). The trainer also records
``heldout_best_test_acc``: the epoch is chosen on half A of the test set and its accuracy
on half B is reported (harness/train/stacked.py ``finish_record``). Claims keep the paper's
metric; the report shows, per claim that uses it, whether the verdict at the claim's own
outcome level (alpha / m; under ``--seeds auto`` through the same sequential p) changes when
the held-out metric is swapped in.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import pandas as pd

PAPER = "best_test_acc"
HELDOUT = "heldout_best_test_acc"


def _has_heldout(runs: pd.DataFrame) -> bool:
    if HELDOUT not in runs.columns:
        return False
    return bool(pd.to_numeric(runs[HELDOUT], errors="coerce").notna().any())


def rejudge(judge: Callable[[list], object], stage_runs: Sequence[pd.DataFrame], ev,
            level: float) -> dict:
    """{"status", "verdict", "p", "changed", "level"} for the report.

    ``judge(tables)`` is the claim's own judgment of its runs tables (one per stage reached:
    one table with fixed seeds, every stage's with ``--seeds auto``, whose sequential p it
    combines), ``ev`` its evidence on ``stage_runs``; both verdicts are read at ``level``, the
    level the claim's pytest outcome is judged at.

    status: "not used" (the claim does not read best_test_acc: replacing it by NaN leaves
    the evidence unchanged), "n/a" (the source has no held-out metric, e.g. the paper's
    table or runs trained before it was recorded), or "judged" (verdict/p under the swap;
    changed: the verdict at ``level`` differs from the claim's).
    """
    from harness.statistics.multiplicity import verdict_at

    def at_level(e) -> str:
        return verdict_at(e.verdict, e.p, e.details.get("p_refuted"), level)

    none = {"status": "not used", "verdict": None, "p": None, "changed": False, "level": level}
    if any(PAPER not in r.columns for r in stage_runs):
        return none
    blanks = []
    for r in stage_runs:
        blank = r.copy()
        # the published summaries (mean_best) stand in for best_test_acc where no run exists
        for col in (PAPER, "mean_best"):
            if col in blank.columns:
                blank[col] = math.nan
        blanks.append(blank)
    if judge(blanks).to_dict() == ev.to_dict():
        return none
    if not all(_has_heldout(r) for r in stage_runs):
        return dict(none, status="n/a")
    swapped = []
    for r in stage_runs:
        sw = r.copy()
        sw[PAPER] = pd.to_numeric(r[HELDOUT], errors="coerce")
        swapped.append(sw)
    alt = judge(swapped)
    return {"status": "judged", "verdict": at_level(alt), "p": alt.p,
            "changed": at_level(alt) != at_level(ev), "level": level}
