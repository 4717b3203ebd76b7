"""docs/STATISTICS.md's family-wise error table is benchmarks/fwer.py's output (issue 21): it
lists every scenario and design the script produces, its rates meet the issue's bounds
(family-wise error <= alpha + 3 MC SE for auto and fixed seeds; refuted under auto within 0.05
of fixed n at a true -1 SD), and the script's model uses the real rules (its claims are the
declared body, its futility is sequential.futile's)."""
import importlib.util
import math
import re
from pathlib import Path

import numpy as np
import pytest

from harness.statistics import sequential, stats

REPO = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("fwer", REPO / "benchmarks" / "fwer.py")
fwer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fwer)

BLOCK = fwer.doc_block(fwer.DOC.read_text())


def _table(header_start: str) -> list[list[str]]:
    """The rows (cells) of the block's table whose header line starts with header_start."""
    i = next(k for k, line in enumerate(BLOCK) if line.startswith(header_start))
    rows = []
    for line in BLOCK[i + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def test_the_doc_lists_every_scenario_and_design_the_script_produces():
    assert fwer.HEADER in BLOCK, "run benchmarks/fwer.py --update-doc"
    rows = _table(fwer.HEADER)
    assert [(r[0], r[1]) for r in rows] == fwer.expected_rows()
    reps = int(re.match(r"(\d+) replicates", BLOCK[0]).group(1))
    assert reps >= 5000


def test_family_wise_error_is_at_most_alpha_plus_3_se_and_the_old_design_is_caught():
    reps = int(re.match(r"(\d+) replicates", BLOCK[0]).group(1))
    limit = fwer.ALPHA + 3 * math.sqrt(fwer.ALPHA * (1 - fwer.ALPHA) / reps)
    rows = _table(fwer.HEADER)
    for scenario, design, nulls, outcome, _, holm, _, _ in rows:
        if "before issue 21" in design:
            continue
        assert float(outcome) <= limit and float(holm) <= limit, (scenario, design, outcome, holm)
    # The model sees what spending the design at alpha costs: under the global null the old
    # rule's error is above the current design's by more than 3 SE of the difference. (With
    # the Welch df it also broke the bound, 0.083-0.094; Hsu's conservative df, since
    # 2026-12-04, brings even the old rule under it, so the bound alone no longer shows it.)
    glob = {d: (float(h), float(se)) for sc, d, _, _, _, h, se, _ in rows if sc.startswith("global null")}
    (old, se_old), (now, se_now) = glob["auto, design at alpha (before issue 21)"], glob["auto"]
    assert old - now > 3 * math.hypot(se_old, se_now), "the model no longer sees the design spent at alpha"


def test_refuted_under_auto_is_within_005_of_fixed_n():
    rows = {r[0]: r for r in _table("| true effect")}
    auto, fixed = float(rows["-1 SD"][2]), float(rows["-1 SD"][3])
    assert rows["-1 SD"][1] == stats.REFUTED and abs(auto - fixed) <= 0.05


def test_the_model_simulates_the_declared_body_of_claims():
    assert set(fwer.FAMILY_OF) == set(fwer.declared())
    assert len(fwer.declared()) == 17


@pytest.mark.parametrize("n", [5, 10])
def test_the_models_futility_is_the_real_rule(n):
    design = sequential.Design(fwer.STAGES, fwer.ALPHA / 17)
    rng = np.random.default_rng(n)
    a = rng.normal(rng.uniform(-1.5, 1.5, (300, 1)), 1, (300, n))
    b = rng.normal(0, 1, (300, n))
    est, se, df = fwer._welch(a, b)
    model = fwer._futile(est, se, df, n, design)
    real = [sequential.futile(stats.mean_greater(stats.Arm.from_values("a", x), stats.Arm.from_values("b", y),
                                                 alpha=design.levels[-1]).to_dict(), n, fwer.STAGES[-1])
            for x, y in zip(a, b)]
    assert model.tolist() == real
    if n == 10:  # both outcomes occur: the comparison can fail (at 5 seeds Hsu's df of 4
        # leaves every interval too wide to stop for futility)
        assert 0 < sum(real) < len(real)
