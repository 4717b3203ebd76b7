"""Calibration of every decision rule of harness.statistics.stats (issue 9): under null scenarios with
unequal variances, unequal n and t(3) noise, the rates of `supported` and `refuted` stay at
most alpha + 3 Monte-Carlo standard errors; and the same simulation flags a deliberately
naive variant of each rule (pooling unequal variances, refuting at alpha per part, ...) as
above that limit, so these tests can fail.

The simulations run the vectorised rules of harness.statistics.simulate; each scenario first checks
that they give the real function's p and refutation p on its first replicates. CI runs
CALIBRATION_REPS replicates (the limit is computed from that count); docs/STATISTICS.md
shows the same scenarios at 20,000 (benchmarks/power_table.py).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from harness.statistics import calibration as cal
from harness.statistics import simulate as sim
from harness.statistics import stats

REPS = int(os.environ.get("CALIBRATION_REPS", "4000"))
#: spread_greater's rule is a bootstrap (2 x 2,000 resamples a replicate): fewer replicates,
#: with the limit computed from that count (benchmarks/spread_power.py has the table)
SPREAD_REPS = min(REPS, 600)
SCENARIOS = cal.scenarios()
FAMILIES = sorted({sc.family for sc in SCENARIOS})


def test_every_family_of_stats_is_calibrated_here():
    tested = {"mean_greater", "mean_above", "trend", "variance_greater", "equivalent",
              "diff_of_diffs", "spread_greater", "all_of"}
    assert set(FAMILIES) == tested
    for fam in FAMILIES:
        names = {sc.name for sc in SCENARIOS if sc.family == fam}
        assert any("unequal" in n or "small_n" in n for n in names), fam
        assert "t3" in names, fam


@pytest.mark.parametrize("family", FAMILIES)
def test_rule_at_most_alpha_and_naive_variant_flagged(family):
    reps = SPREAD_REPS if family == "spread_greater" else REPS
    lim = cal.limit(reps)
    naive_worst = 0.0
    for sc in (s for s in SCENARIOS if s.family == family):
        cal.check_against_stats(sc, k=3 if family == "spread_greater" else 10)
        r = cal.rates(sc, reps)
        if not sc.weakness:
            assert r["supported"] <= lim, f"{family}/{sc.name}: supported {r['supported']:.4f} > {lim:.4f}"
            assert r["refuted"] <= lim, f"{family}/{sc.name}: refuted {r['refuted']:.4f} > {lim:.4f}"
        naive_worst = max(naive_worst, r[f"naive_{sc.naive_side}"])
    naive_what = next(s.naive_what for s in SCENARIOS if s.family == family)
    assert naive_worst > lim, f"{family}: the naive variant ({naive_what}) was not flagged: {naive_worst:.4f}"


def test_documented_weaknesses_are_real():
    """A scenario marked as a weakness is above the limit (else the mark must go); 50,000
    replicates, so that a rate of 0.058 is told from 0.05. None is left since spread_greater's
    noise-corrected spread ratio (issue 9); the mechanism stays for the next one."""
    for sc in (s for s in SCENARIOS if s.weakness):
        assert cal.rates(sc, 50_000)["supported"] > cal.limit(50_000), sc.name


def test_spread_rule_holds_at_the_level_holm_uses():
    """spread_greater is a bootstrap test: its p is checked at alpha / 17 (Holm's first
    level) as well as at alpha, under every spread null, with the limit alpha/17 + 3 SE."""
    reps = SPREAD_REPS
    level = cal.ALPHA / 17
    lim = cal.limit(reps, level)
    for sc in (s for s in SCENARIOS if s.family == "spread_greater"):
        r = cal.rates(sc, reps, alpha=level)
        assert r["supported"] <= lim and r["refuted"] <= lim, (sc.name, r)


def test_kendall_vectorised_matches_scipy():
    from scipy import stats as ss

    rng = np.random.default_rng(11)
    arms = [rng.normal(size=(5, n)) for n in (4, 5, 6)]
    p, p_opp = sim.kendall_p([1, 2, 3], arms)
    for i in range(5):
        x = np.repeat([1, 2, 3], [4, 5, 6])
        y = np.concatenate([a[i] for a in arms])
        assert np.isclose(p[i], ss.kendalltau(x, y, alternative="greater").pvalue, rtol=1e-9)
        assert np.isclose(p_opp[i], ss.kendalltau(x, y, alternative="less").pvalue, rtol=1e-9)


# ------------------------------------------------------------------ MDE of the rule applied
def _power(draw, rule, reps=4000, seed=99):
    rng = np.random.default_rng(seed)
    return float((rule(draw(rng, reps))[0] < cal.ALPHA).mean())


def test_mde_matches_simulated_80_percent_power():
    """At the reported mde, a fresh simulation of the rule has 80% power (within 10%)."""
    A = stats.Arm.from_values
    rng = np.random.default_rng(5)
    # variance_greater, one arm of 5 per side
    e = stats.variance_greater(A("a", rng.normal(size=5)), A("b", rng.normal(size=5)), alpha=0.05)
    pw = _power(cal._arms_draw([(0, e.mde, 5), (0, 1, 5)]), lambda a: sim.variance_p(a[:1], a[1:]))
    assert 0.72 <= pw <= 0.88, pw
    # trend: equal steps, arm SDs as observed
    arms = [A(str(i), rng.normal(size=5)) for i in range(3)]
    e = stats.trend([1, 2, 4], arms, direction="increasing", alpha=0.05)
    specs = [(e.mde * j / 2, a.sd, 5) for j, a in enumerate(arms)]
    pw = _power(cal._arms_draw(specs), lambda a: sim.trend_p([1, 2, 4], a))
    assert 0.72 <= pw <= 0.88, pw
    # spread_greater: A in equal steps, B flat, common SD; mde is tau_A^2 / sigma^2, and the
    # steps s * (-1, 0, 1) have variance s^2
    fa = [A(f"a{j}", rng.normal(size=5)) for j in range(3)]
    fb = [A(f"b{j}", rng.normal(size=5)) for j in range(3)]
    e = stats.spread_greater(fa, fb, alpha=0.05)
    s = np.sqrt(e.mde)
    specs = [(-s, 1, 5), (0, 1, 5), (s, 1, 5)] + [(0, 1, 5)] * 3
    pw = _power(cal._arms_draw(specs), lambda a: sim.spread_p(a[:3], a[3:]))
    assert 0.72 <= pw <= 0.88, pw
    # mean_greater with a negative margin: mde is the shift beyond the margin, never negative
    e = stats.mean_greater(A("a", [1.0, 2, 3, 4, 5]), A("b", [1.0, 2, 3, 4, 6]), margin=-30,
                           alpha=0.05)
    assert e.mde > 0 and np.isclose(e.details["mde_difference"], -30 + e.mde)


# ------------------------------------------------------------------ at the level Holm uses
LEVEL_M = cal.ALPHA / 17


def test_every_rule_holds_at_alpha_over_m():
    """Issue 21 item 6: at the level Holm's first step uses, under unequal n, unequal
    variances and t(3) noise. The Welch-Satterthwaite df failed five of these scenarios (up to
    2.2x nominal); Hsu's df (harness.statistics.simulate.contrast_df) holds them all."""
    reps = 20_000
    lim = cal.limit(reps, LEVEL_M)
    for sc in SCENARIOS:
        if sc.family == "spread_greater":
            continue  # test_spread_rule_holds_at_the_level_holm_uses
        r = cal.rates(sc, reps, alpha=LEVEL_M)
        assert r["supported"] <= lim and r["refuted"] <= lim, (sc.family, sc.name, r)
