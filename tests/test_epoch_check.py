"""harness.epoch_check: the verdict with the held-out best-epoch metric swapped in."""
import math

import pandas as pd

from harness import stats
from harness.epoch_check import rejudge


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


def test_verdict_change_is_reported():
    runs = _runs()
    ev = _claim("best_test_acc")(runs)
    h = rejudge(_claim("best_test_acc"), runs, ev)
    assert ev.verdict == "supported"
    assert h["status"] == "judged" and h["verdict"] != "supported" and h["changed"]


def test_not_used_and_not_available():
    runs = _runs()
    ev = _claim("final_test_acc")(runs)
    assert rejudge(_claim("final_test_acc"), runs, ev)["status"] == "not used"
    no_held = _runs(heldout=False)
    ev = _claim("best_test_acc")(no_held)
    assert rejudge(_claim("best_test_acc"), no_held, ev)["status"] == "n/a"
