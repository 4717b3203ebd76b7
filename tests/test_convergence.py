"""The convergence diagnostic (harness/statistics/convergence.py): each status, and its edges."""
import math

import numpy as np
import pandas as pd
import pytest

from harness.statistics import convergence as cv


def curves(final_slope, n=5, epochs=6, noise=0.3, seed=0, start=60.0):
    """Curves that climb fast, then at ``final_slope`` points per epoch over the last epochs."""
    rng = np.random.default_rng(seed)
    base = [start + 10 * (1 - math.exp(-e)) for e in range(epochs - 3)]
    out = []
    for _ in range(n):
        shift = rng.normal(0, 1.0)
        tail = [base[-1] + final_slope * (k + 1) for k in range(3)]
        out.append([v + shift + rng.normal(0, noise) for v in base + tail])
    return out


def test_run_slope_is_least_squares_over_the_last_epochs():
    assert cv.run_slope([0, 0, 0, 1, 2, 3]) == pytest.approx(1.0)
    assert cv.run_slope([0, 50, 1, 2, 3], last=3) == pytest.approx(1.0)
    assert cv.run_slope([5, 3]) == pytest.approx(-2.0)
    assert math.isnan(cv.run_slope([7.0]))
    assert math.isnan(cv.run_slope([1.0, float("nan"), 2.0]))


def test_a_clear_climb_is_flagged():
    c = cv.configuration(curves(final_slope=2.0))
    assert c.status == cv.STILL_IMPROVING and c.still_improving
    assert c.ci[0] > 0 and c.slope == pytest.approx(2.0, abs=0.5)
    assert "still improving" in c.summary()


def test_a_flat_tail_is_plateaued():
    c = cv.configuration(curves(final_slope=0.0))
    assert c.status == cv.PLATEAUED
    assert c.ci[0] <= 0 <= c.ci[1]


def test_a_tiny_but_certain_climb_below_the_noise_fraction_is_plateaued():
    # every seed gains 0.05 points an epoch, far below a quarter of a 2-point seed SD
    base = [70.0, 71.0, 71.05, 71.10]
    runs = [[v + off for v in base] for off in (-3, -1, 0, 1, 3)]
    c = cv.configuration(runs)
    assert c.ci[0] > 0
    assert c.seed_sd > 1.5
    assert c.status == cv.PLATEAUED
    # the same climb against seeds that agree is flagged
    same = cv.configuration([[v + off * 0.01 for v in base] for off in (-3, -1, 0, 1, 3)])
    assert same.status == cv.STILL_IMPROVING


def test_too_little_to_tell_is_unknown():
    assert cv.configuration([[60, 70, 80]]).status == cv.UNKNOWN           # one run
    assert cv.configuration([[60], [61], [62]]).status == cv.UNKNOWN      # one epoch each
    assert cv.configuration([]).status == cv.UNKNOWN
    assert "unknown" in cv.configuration([]).summary()


def test_of_runs_groups_by_configuration_and_skips_rows_without_curves():
    climb, flat = curves(2.0, seed=1), curves(0.0, seed=2)
    df = pd.DataFrame({"norm": ["batch"] * 5 + ["group"] * 5 + ["group"],
                       "batch_size": [128] * 10 + [2],
                       "test_acc": climb + flat + [None]})
    got = {(k["norm"], k["batch_size"]): c.status for k, c in cv.of_runs(df, ["norm", "batch_size"])}
    assert got == {("batch", 128): cv.STILL_IMPROVING, ("group", 128): cv.PLATEAUED}
    assert cv.of_runs(df.drop(columns="test_acc"), ["norm"]) == []


def test_to_dict_is_json_ready():
    import json

    d = cv.configuration(curves(1.0)).to_dict()
    assert json.loads(json.dumps(d)) == d


def test_a_claim_comparing_a_still_improving_arm_says_so_everywhere(tmp_path):
    """issue 24 on the committed cpu runs: Q5's batch-16 arms were still climbing at epoch 6,
    so the claims comparing them are budget-confounded in report.json, report.md, report.html
    and the terminal; an undecided claim says what deciding it would take."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "claims/test_q5_normalization_batch.py", "--source",
         "docs/results/fashion-mnist-cpu/runs.csv", "--reports-dir", str(tmp_path)],
        cwd=repo, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads((tmp_path / "latest" / "report.json").read_text())
    by_id = {r["id"]: r for r in report["results"]}
    worse = by_id["q5-bn-small-batch-worse"]["convergence"]
    assert set(worse["arms"]) == {"BN b2", "BN b16"}
    assert worse["arms"]["BN b16"]["status"] == cv.STILL_IMPROVING
    assert "BN b16" in worse["still_improving"]
    assert by_id["q5-gn-beats-bn-small-batch"]["seeds_needed"]["direction"] in ("supported", "refuted")
    md = (tmp_path / "latest" / "report.md").read_text()
    assert "## Convergence and what undecided claims would take" in md
    assert "(budget-confounded)" in md and "`q5-bn-small-batch-worse` (BN b16, BN b2)" in md
    assert "budget-confounded" in (tmp_path / "latest" / "report.html").read_text()
    assert "supported†" in proc.stdout and "† budget-confounded" in proc.stdout
    assert "q5-gn-beats-bn-small-batch: " in proc.stdout
    table = proc.stdout.split("= claims =")[-1].split("evidence report:")[0].splitlines()[1:]
    assert table and all(len(line) <= 120 for line in table)  # the marker keeps the width


def test_the_arm_table_shows_each_arm_on_the_most_seeds_a_claim_read():
    """Under --seeds auto one claim stops at 5 seeds and another reads the same arm at 10: the
    table shows the 10-seed diagnostic, whichever claim came last (cpu2's first report showed
    BN b16 'plateaued' at n=5 beside a claim that flagged it at n=10)."""
    from harness.report.markdown import convergence_section
    from harness.report.result import parse_results

    at5 = cv.configuration(curves(0.0, n=5)).to_dict()
    at10 = cv.configuration(curves(1.0, n=10)).to_dict()
    assert (at5["n"], at10["n"], at10["status"]) == (5, 10, cv.STILL_IMPROVING)
    base = {"question": "Q5", "sentence": "s", "evidence": {"verdict": "supported"}}
    for order in ((at10, at5), (at5, at10)):
        results = parse_results([dict(base, id=f"c{i}", convergence={"arms": {"BN b16": c}})
                                 for i, c in enumerate(order)])
        row = next(x for x in convergence_section(results) if x.startswith("| `BN b16`"))
        assert "still improving" in row and row.rstrip(" |").endswith("10"), row
