"""harness.pytest_plugin.judging.interval_at: the confidence interval at the level a pytest
outcome was decided at (issue 21), shown beside the 95% one. It must be the family's own interval at that level,
and exclude the null exactly when the claim is supported there."""
import numpy as np
import pytest

from harness.pytest_plugin.judging import interval_at
from harness.report.cells import decision_ci_cell
from harness.statistics import stats

LEVEL = 0.05 / 17


def _arm(name, values):
    return stats.Arm.from_values(name, values)


def test_welch_interval_at_the_outcome_level_is_the_welch_interval_at_that_level():
    rng = np.random.default_rng(0)
    a, b = _arm("a", rng.normal(1, 1, 6)), _arm("b", rng.normal(0, 2, 9))
    ev = stats.mean_greater(a, b, alpha=0.05).to_dict()
    # TOST's interval is the same Welch interval at 1 - 2 alpha: an independent computation
    tost = stats.equivalent(a, b, margin=1.0, alpha=LEVEL)
    assert interval_at(ev, 1 - 2 * LEVEL) == pytest.approx(list(tost.ci), rel=1e-9)
    assert interval_at(ev, 0.95) == pytest.approx(list(ev["ci"]), rel=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_the_interval_excludes_zero_exactly_when_supported_at_that_level(seed):
    rng = np.random.default_rng(seed)
    for shift in np.linspace(0.5, 4, 15):
        ev = stats.mean_greater(_arm("a", rng.normal(shift, 1, 5)), _arm("b", rng.normal(0, 1, 5)), alpha=0.05)
        lo, _ = interval_at(ev.to_dict(), 1 - 2 * LEVEL)
        assert (lo > 0) == (ev.p < LEVEL), (shift, lo, ev.p)


def test_a_ratio_interval_is_rescaled_on_the_log_scale():
    rng = np.random.default_rng(4)
    ev = stats.variance_greater(_arm("a", rng.normal(0, 3, 8)), _arm("b", rng.normal(0, 1, 8)), alpha=0.05).to_dict()
    assert interval_at(ev, 0.95) == pytest.approx(list(ev["ci"]), rel=1e-9)
    lo, hi = interval_at(ev, 1 - 2 * LEVEL)
    assert lo < ev["ci"][0] and hi > ev["ci"][1]
    assert lo * hi == pytest.approx(ev["effect"] ** 2, rel=1e-9)  # symmetric about the ratio on the log scale


def test_all_of_uses_its_binding_part_and_other_intervals_are_not_rescaled():
    rng = np.random.default_rng(5)
    strong = stats.mean_greater(_arm("a", rng.normal(5, 1, 5)), _arm("b", rng.normal(0, 1, 5)), alpha=0.05)
    weak = stats.mean_greater(_arm("c", rng.normal(0.5, 1, 5)), _arm("b", rng.normal(0, 1, 5)), alpha=0.05)
    both = stats.all_of([strong, weak]).to_dict()
    assert interval_at(both, 0.99) == pytest.approx(interval_at(weak.to_dict(), 0.99))
    spread = stats.spread_greater([_arm(f"a{j}", rng.normal(j, 1, 5)) for j in range(3)],
                                  [_arm(f"b{j}", rng.normal(0, 1, 5)) for j in range(3)], alpha=0.05)
    assert interval_at(spread.to_dict(), 0.99) is None  # Cohen's f: a noncentral-F interval
    assert interval_at({"ci": None, "effect": 0.3, "ci_level": 0.95, "details": {"df": 4}}, 0.99) is None


def test_the_report_cell_shows_the_interval_and_its_level():
    rng = np.random.default_rng(6)
    ev = stats.mean_greater(_arm("a", rng.normal(3, 1, 5)), _arm("b", rng.normal(0, 1, 5)), alpha=0.05).to_dict()
    ci = interval_at(ev, 1 - 2 * LEVEL)
    cell = decision_ci_cell({"id": "x", "evidence": ev, "decision_ci": {"level": 1 - 2 * LEVEL, "ci": ci}},
                            with_level=True)
    assert cell.startswith("[") and cell.endswith("(99.41%)")
    assert decision_ci_cell({"id": "x", "evidence": ev}) == "—"
