"""harness.statistics.epoch_check: the verdict with the held-out best-epoch metric swapped in."""
import math

import numpy as np
import pandas as pd
import pytest

from harness.statistics import sequential, stats
from harness.statistics.epoch_check import rejudge
from harness.statistics.sequential import Design


def _runs(heldout=True):
    rows = []
    for cfg, best, held in (("a", [80, 81, 82, 81, 80], [70, 71, 70, 69, 70]),
                            ("b", [70, 71, 70, 72, 71], [70, 72, 71, 70, 71])):
        for b, h in zip(best, held):
            rows.append({"kind": "run", "cfg": cfg, "best_test_acc": float(b), "final_test_acc": 1.0,
                         "heldout_best_test_acc": float(h) if heldout else math.nan})
    return pd.DataFrame(rows)


def _claim(metric):
    def evaluate(runs):
        a = stats.Arm.from_values("a", runs[runs.cfg == "a"][metric].dropna())
        b = stats.Arm.from_values("b", runs[runs.cfg == "b"][metric].dropna())
        return stats.mean_greater(a, b, alpha=0.05)
    return evaluate


def _fixed(metric):
    """The judgment of a fixed-seed claim: one table."""
    return lambda tables: _claim(metric)(tables[0])


def test_verdict_change_is_reported():
    runs = _runs()
    ev = _claim("best_test_acc")(runs)
    h = rejudge(_fixed("best_test_acc"), [runs], ev, 0.05)
    assert ev.verdict == "supported"
    assert h["status"] == "judged" and h["verdict"] != "supported" and h["changed"]


def test_not_used_and_not_available():
    runs = _runs()
    ev = _claim("final_test_acc")(runs)
    assert rejudge(_fixed("final_test_acc"), [runs], ev, 0.05)["status"] == "not used"
    no_held = _runs(heldout=False)
    ev = _claim("best_test_acc")(no_held)
    assert rejudge(_fixed("best_test_acc"), [no_held], ev, 0.05)["status"] == "n/a"


# -- under --seeds auto: the same check through the claim's sequential p, at its outcome level ---
DESIGN = Design((5, 10, 20), 0.05 / 17)


def _stage_runs(gap_best, gap_held, heldout=True, seed=0):
    """Stage tables of a claim that ran to 20 seeds: arm a beats b by gap_best on the paper's
    metric and by gap_held on the held-out one (same noise)."""
    rng = np.random.default_rng(seed)
    noise = {c: rng.normal(0, 1, 20) for c in "ab"}
    rows = []
    for cfg in "ab":
        for i in range(20):
            up = cfg == "a"
            rows.append({"kind": "run", "cfg": cfg, "seed": i, "final_test_acc": 1.0 + noise[cfg][i],
                         "best_test_acc": 80 + noise[cfg][i] + (gap_best if up else 0),
                         "heldout_best_test_acc": (80 + noise[cfg][i] + (gap_held if up else 0))
                         if heldout else math.nan})
    runs = pd.DataFrame(rows)
    return [runs[runs.seed < n] for n in DESIGN.stages]


def _auto(metric):
    return lambda tables: sequential.combine([_claim(metric)(t) for t in tables], DESIGN)


@pytest.mark.parametrize("case, metric, gaps, heldout, status, changed", [
    ("not used", "final_test_acc", (3.0, 0.0), True, "not used", False),
    ("n/a", "best_test_acc", (3.0, 0.0), False, "n/a", False),
    ("judged, same", "best_test_acc", (3.0, 3.0), True, "judged", False),
    ("judged, changes", "best_test_acc", (3.0, 0.0), True, "judged", True),
])
def test_each_outcome_of_the_check_under_seeds_auto(case, metric, gaps, heldout, status, changed):
    """issue 21: under auto every claim showed "judged" (the check compared evidence judged at
    two alphas); now each status is reached and the verdicts compare at the outcome's level."""
    tables = _stage_runs(*gaps, heldout=heldout)
    ev = _auto(metric)(tables)
    h = rejudge(_auto(metric), tables, ev, DESIGN.alpha)
    assert (h["status"], h["changed"], h["level"]) == (status, changed, DESIGN.alpha), (case, h)
    if status == "judged":
        assert ev.p < DESIGN.alpha  # the claim itself is supported at the outcome's level
        assert (h["verdict"] == "supported") == (not changed)
        assert h["p"] == pytest.approx(_auto("heldout_best_test_acc")(tables).p)


def test_the_check_reads_both_verdicts_at_the_claims_level_not_the_profiles():
    """A held-out p between alpha/m and alpha: "supported" at 0.05 but not at the outcome's
    alpha/m; the check must say it changes the outcome."""
    runs = _runs()
    held = runs.copy()
    held.loc[held.cfg == "a", "heldout_best_test_acc"] = [71.0, 72.5, 71.5, 72.0, 73.0]
    ev = _claim("best_test_acc")(held)
    alt = _claim("heldout_best_test_acc")(held)
    assert ev.p < 0.05 / 17 and 0.05 / 17 < alt.p < 0.05, (ev.p, alt.p)
    assert rejudge(_fixed("best_test_acc"), [held], ev, 0.05)["changed"] is False
    assert rejudge(_fixed("best_test_acc"), [held], ev, 0.05 / 17)["changed"] is True
