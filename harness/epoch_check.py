"""Epoch selection shown (issue 9): re-judge a claim with the held-out best-epoch metric.

The paper's metric ``best_test_acc`` picks the best epoch ON the test set, which biases it
upward, more for noisy configurations (e.g. batch 2). The trainer also records
``heldout_best_test_acc``: the epoch is chosen on half A of the test set and its accuracy
on half B is reported (harness/stacked.py ``finish_record``). Claims keep the paper's
metric; the report shows, per claim that uses it, whether the verdict changes when the
held-out metric is swapped in.
"""
from __future__ import annotations

import math
from typing import Callable

import pandas as pd

PAPER = "best_test_acc"
HELDOUT = "heldout_best_test_acc"


def _has_heldout(runs: pd.DataFrame) -> bool:
    if HELDOUT not in runs.columns:
        return False
    return bool(pd.to_numeric(runs[HELDOUT], errors="coerce").notna().any())


def rejudge(evaluate: Callable[[pd.DataFrame], object], runs: pd.DataFrame, ev) -> dict:
    """{"status", "verdict", "p", "changed"} for the report.

    status: "not used" (the claim does not read best_test_acc: replacing it by NaN leaves
    the evidence unchanged), "n/a" (the source has no held-out metric, e.g. the paper's
    table or runs trained before it was recorded), or "judged" (verdict/p under the swap).
    """
    if PAPER not in runs.columns:
        return {"status": "not used", "verdict": None, "p": None, "changed": False}
    blank = runs.copy()
    # the published summaries (mean_best) stand in for best_test_acc where no run exists
    for col in (PAPER, "mean_best"):
        if col in blank.columns:
            blank[col] = math.nan
    if evaluate(blank).to_dict() == ev.to_dict():
        return {"status": "not used", "verdict": None, "p": None, "changed": False}
    if not _has_heldout(runs):
        return {"status": "n/a", "verdict": None, "p": None, "changed": False}
    swapped = runs.copy()
    swapped[PAPER] = pd.to_numeric(runs[HELDOUT], errors="coerce")
    alt = evaluate(swapped)
    return {"status": "judged", "verdict": alt.verdict, "p": alt.p,
            "changed": alt.verdict != ev.verdict}
