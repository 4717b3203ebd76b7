"""Tests of harness.statistics.stats: exact agreement with scipy, invariance properties, verdict logic
(null rates: tests/test_calibration.py)."""
from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from harness.statistics.stats import (INCONCLUSIVE, REFUTED, SUPPORTED, UNTESTABLE, Arm, Evidence, all_of,
                           diff_of_diffs, equivalent, mean_above, mean_greater,
                           minimum_detectable_difference, spread_greater, trend,
                           variance_greater)

ALPHA = 0.05
XA = [71.2, 72.5, 70.9, 73.1, 72.0]
XB = [69.0, 69.8, 68.7, 70.5, 69.9]
XC = [70.1, 72.9, 69.5, 71.8, 70.4, 71.0]  # n = 6: unequal n


def arm(label, xs):
    return Arm.from_values(label, xs)


def summary_of(a: Arm) -> Arm:
    """The same arm as a published summary (mean, population SD, n)."""
    return Arm.from_summary(a.label, float(np.mean(a.values)), float(np.std(a.values)), a.n)


def close(x, y, rel=1e-10, abs_=1e-12):
    return math.isclose(x, y, rel_tol=rel, abs_tol=abs_)


# ------------------------------------------------------------------------------- Arm

def test_arm_from_values_and_summary_agree():
    a = arm("A", XA)
    s = summary_of(a)
    assert a.n == s.n == 5
    assert close(a.mean, s.mean) and close(a.var, s.var)
    assert close(a.var, np.var(XA, ddof=1)) and close(a.sd, np.std(XA, ddof=1))
    assert s.values is None and a.values == tuple(XA)


def test_arm_small_n():
    one = Arm.from_values("one", [3.0])
    assert one.n == 1 and one.mean == 3.0 and math.isnan(one.var) and math.isnan(one.sd)
    assert math.isnan(Arm.from_summary("s", 3.0, 0.0, 1).var)
    empty = Arm.from_values("none", [])
    assert empty.n == 0 and math.isnan(empty.mean)
    with pytest.raises(ValueError):
        Arm.from_summary("bad", 1.0, 1.0, 0)


# ------------------------------------------------------------------------------- exact values vs scipy

def hsu(x, y, alternative="greater", shift=0.0):
    """(t, p, df) of scipy's Welch statistic read on Hsu's df = min(n) - 1 (the suite's rule,
    harness.statistics.simulate.contrast_df): an independent computation of what the rules must give."""
    t = float(stats.ttest_ind(np.asarray(x) - shift, y, equal_var=False).statistic)
    df = min(len(x), len(y)) - 1
    return t, float(stats.t.sf(t, df) if alternative == "greater" else stats.t.cdf(t, df)), df


@pytest.mark.parametrize("xb", [XB, XC])
def test_welch_matches_scipy(xb):
    a, b = arm("A", XA), arm("B", xb)
    t, p, df = hsu(XA, xb)
    e = mean_greater(a, b, alpha=ALPHA)
    assert close(e.p, p) and close(e.details["t"], t)
    assert e.details["df"] == df
    assert close(e.effect, np.mean(XA) - np.mean(xb))
    se = math.sqrt(np.var(XA, ddof=1) / len(XA) + np.var(xb, ddof=1) / len(xb))
    h = stats.t.ppf(0.975, df) * se  # two-sided 95% CI on Hsu's df
    assert close(e.ci[0], e.effect - h) and close(e.ci[1], e.effect + h)
    assert close(e.details["p_opposite"], 1 - p, rel=1e-9)
    # summary path (ttest_ind_from_stats) gives the same numbers
    es = mean_greater(summary_of(a), summary_of(b), alpha=ALPHA)
    for key in ("t", "df", "se", "hedges_g", "p_opposite"):
        assert close(es.details[key], e.details[key]), key
    assert close(es.p, e.p) and close(es.ci[0], e.ci[0]) and close(es.ci[1], e.ci[1])
    assert close(es.mde, e.mde)
    assert es.details["p_superiority"] is None


def test_welch_margin_is_a_shift():
    a, b = arm("A", XA), arm("B", XB)
    for m in (-1.0, 0.5, 2.0):
        e = mean_greater(a, b, margin=m, alpha=ALPHA)
        _, p, _ = hsu(XA, XB, shift=m)
        assert close(e.p, p)
        es = mean_greater(summary_of(a), summary_of(b), margin=m, alpha=ALPHA)
        assert close(es.p, p)
        assert close(e.effect, np.mean(XA) - np.mean(XB))  # effect is not shifted


def test_welch_effect_sizes():
    a, b = arm("A", XA), arm("C", XC)
    e = mean_greater(a, b, alpha=ALPHA)
    n, m = len(XA), len(XC)
    sp = math.sqrt(((n - 1) * np.var(XA, ddof=1) + (m - 1) * np.var(XC, ddof=1)) / (n + m - 2))
    df = n + m - 2
    j = math.gamma(df / 2) / (math.sqrt(df / 2) * math.gamma((df - 1) / 2))
    assert close(e.details["hedges_g"], (np.mean(XA) - np.mean(XC)) / sp * j)
    u = stats.mannwhitneyu(XA, XC).statistic
    assert close(e.details["p_superiority"], u / (n * m))
    tied = mean_greater(arm("x", [1, 2, 3]), arm("y", [1, 2, 3]), alpha=ALPHA)
    assert close(tied.details["p_superiority"], 0.5)


def test_mde_has_about_80_percent_power():
    a, b = arm("A", XA), arm("B", XB)
    e = mean_greater(a, b, alpha=ALPHA)
    se, df = e.details["se"], e.details["df"]
    power = stats.nct.sf(stats.t.ppf(1 - ALPHA, df), df, e.mde / se)
    assert 0.78 < power < 0.82
    assert close(minimum_detectable_difference(se, df, ALPHA),
                 (stats.t.ppf(0.95, df) + stats.t.ppf(0.8, df)) * se)


def test_mean_above_matches_scipy():
    a = arm("A", XA)
    r = stats.ttest_1samp(XA, 71.0, alternative="greater")
    for x in (a, summary_of(a)):
        e = mean_above(x, 71.0, alpha=ALPHA)
        assert close(e.p, r.pvalue) and close(e.details["t"], r.statistic)
        two = stats.ttest_1samp(XA, 71.0).confidence_interval(0.95)
        assert close(e.ci[0], two.low - 71.0) and close(e.ci[1], two.high - 71.0)
        assert close(e.effect, np.mean(XA) - 71.0)


def test_tost_equals_two_shifted_one_sided_tests():
    a, b = arm("A", XA), arm("C", XC)
    for m in (1.0, 2.0, 4.0):
        e = equivalent(a, b, margin=m, alpha=ALPHA)
        _, p_lo, df = hsu(XA, XC, shift=-m)
        _, p_hi, _ = hsu(XA, XC, "less", shift=m)
        assert close(e.details["p_lower"], p_lo) and close(e.details["p_upper"], p_hi)
        assert close(e.p, max(p_lo, p_hi))
        se = math.sqrt(np.var(XA, ddof=1) / len(XA) + np.var(XC, ddof=1) / len(XC))
        h = stats.t.ppf(0.95, df) * se
        assert e.ci_level == pytest.approx(0.90)
        assert close(e.ci[0], e.effect - h) and close(e.ci[1], e.effect + h)
        # p < alpha  <=>  90% CI inside (-m, m)
        assert (e.p < ALPHA) == (-m < e.ci[0] and e.ci[1] < m)
        es = equivalent(summary_of(a), summary_of(b), margin=m, alpha=ALPHA)
        assert close(es.p, e.p)


def test_tost_mde_is_margin_with_80_percent_power_at_zero_difference():
    a, b = arm("A", XA), arm("B", XB)
    e = equivalent(a, b, margin=1.0, alpha=ALPHA)
    se, df = e.details["se"], e.details["df"]
    rng = np.random.default_rng(5)
    tq = stats.t.ppf(1 - ALPHA, df)
    # TOST with true difference 0 and margin = mde: Monte-Carlo over the t numerator
    z = rng.standard_normal(40000) * se
    s = se * np.sqrt(rng.chisquare(df, 40000) / df)
    power = np.mean(((z + e.mde) / s > tq) & ((z - e.mde) / s < -tq))
    assert 0.74 < power < 0.86


def test_variance_greater_matches_hand_computation():
    """Brown-Forsythe scores |x - median|^(1/3) (smallest dropped, scaled per n), stratified
    t, by hand; one arm per side reduces to scipy's Welch statistic on the scores, on Hsu's df."""
    from harness.statistics.simulate import bf_scale

    a, b = arm("A", XA), arm("C", XC)
    e = variance_greater(a, b, alpha=ALPHA)

    def scores(xs):
        d = np.sort(np.abs(np.array(xs) - np.median(xs)))[1:]
        return d ** (1 / 3) / bf_scale(len(xs))

    sa, sc = scores(XA), scores(XC)
    _, p, _ = hsu(sa, sc)  # one arm a side: the capped Satterthwaite df is Hsu's
    assert close(e.p, p, rel=1e-9)
    assert close(e.details["p_refuted"], 1 - p, rel=1e-9)
    assert close(e.effect, (sa.mean() / sc.mean()) ** 3)
    assert e.ci[0] < e.effect < e.ci[1]
    # the old pooled-variance F stays in details for comparison
    F = np.var(XA, ddof=1) / np.var(XC, ddof=1)
    assert close(e.details["F"], F) and close(e.details["p_F"], stats.f.sf(F, 4, 5))
    # bf_scale makes the mean score of normal runs estimate sigma^(1/3) whatever n is
    rng = np.random.default_rng(3)
    for n in (3, 4, 5, 8):
        x = 2.0 * rng.standard_normal((50000, n))
        d = np.sort(np.abs(x - np.median(x, axis=1, keepdims=True)), axis=1)[:, 1:]
        assert abs((d ** (1 / 3)).mean() / bf_scale(n) - 2 ** (1 / 3)) < 0.01
    # several arms per side: the SE is built arm by arm (stratified); n < 3 arms are skipped
    pooled = variance_greater([a, arm("A2", XB)], [b, arm("one", [3.0, 4.0])], alpha=ALPHA)
    s1, s2 = scores(XA), scores(XB)
    tot = len(s1) + len(s2)
    ma = (s1.sum() + s2.sum()) / tot
    va = (len(s1) / tot) ** 2 * s1.var(ddof=1) / len(s1) + (len(s2) / tot) ** 2 * s2.var(ddof=1) / len(s2)
    vb = sc.var(ddof=1) / len(sc)
    t = (ma - sc.mean()) / math.sqrt(va + vb)
    assert close(pooled.details["t"], t, rel=1e-9)
    # summaries cannot give the scores
    assert variance_greater(summary_of(a), summary_of(b), alpha=ALPHA).verdict == UNTESTABLE
    # mde: the SD ratio at which the rule itself has 80% power (simulated, normal runs)
    assert 5 < e.mde < 20


def test_trend_matches_kendall_and_contrast():
    arms = [arm("w16", XB), arm("w32", XC), arm("w64", XA)]
    levels = [16, 32, 64]
    e = trend(levels, arms, direction="increasing", alpha=ALPHA)
    x = np.repeat(levels, [5, 6, 5])
    y = np.concatenate([XB, XC, XA])
    r = stats.kendalltau(x, y, alternative="greater")
    assert close(e.details["tau"], r.statistic) and close(e.details["p_tau"], r.pvalue)
    c = mean_greater(arms[2], arms[0], alpha=ALPHA)
    assert close(e.details["p_contrast"], c.p)
    assert close(e.effect, c.effect) and close(e.ci[0], c.ci[0])
    assert e.p == max(e.details["p_tau"], e.details["p_contrast"])
    assert e.verdict == SUPPORTED
    # order of arms does not matter (sorted by level)
    e2 = trend(levels[::-1], arms[::-1], direction="increasing", alpha=ALPHA)
    assert close(e2.p, e.p) and e2.n == (5, 6, 5)
    # the same data claimed decreasing -> refuted, effect negated
    d = trend(levels, arms, direction="decreasing", alpha=ALPHA)
    assert d.verdict == REFUTED and close(d.effect, -e.effect)
    rd = stats.kendalltau(x, y, alternative="less")
    assert close(d.details["p_tau"], rd.pvalue)


def test_trend_single_runs_rest_on_tau():
    ys = [1.0, 2.0, 3.5, 3.9, 5.0, 6.2]
    arms = [arm(f"l{i}", [v]) for i, v in enumerate(ys)]
    e = trend(range(6), arms, direction="increasing", alpha=ALPHA)
    r = stats.kendalltau(range(6), ys, alternative="greater")
    assert close(e.p, r.pvalue) and e.verdict == SUPPORTED
    assert "tau alone" in e.note and e.details["p_contrast"] is None and e.ci is None


def test_trend_summaries_rest_on_contrast():
    arms = [summary_of(arm("a", XB)), summary_of(arm("b", XC)), summary_of(arm("c", XA))]
    e = trend([1, 2, 3], arms, direction="increasing", alpha=ALPHA)
    c = mean_greater(arms[2], arms[0], alpha=ALPHA)
    assert close(e.p, c.p) and e.verdict == SUPPORTED
    assert "contrast alone" in e.note and e.details["tau"] is None
    both_missing = trend([1, 2], [Arm.from_summary("a", 1, 0, 1), Arm.from_summary("b", 2, 0, 1)],
                         direction="increasing", alpha=ALPHA)
    assert both_missing.verdict == UNTESTABLE and both_missing.note


def test_diff_of_diffs_matches_hand_computation():
    xs = [XA, XB, XC, XB[::-1]]
    arms = [arm(f"x{i}", x) for i, x in enumerate(xs)]
    e = diff_of_diffs(*arms, alpha=ALPHA)
    m = [np.mean(x) for x in xs]
    u = [np.var(x, ddof=1) / len(x) for x in xs]
    c = (m[0] - m[1]) - (m[2] - m[3])
    se = math.sqrt(sum(u))
    df = min(len(x) for x in xs) - 1  # Hsu's df
    assert close(e.effect, c) and close(e.details["se"], se) and close(e.details["df"], df)
    assert close(e.p, stats.t.sf(c / se, df))
    h = stats.t.ppf(0.975, df) * se
    assert close(e.ci[0], c - h) and close(e.ci[1], c + h)
    es = diff_of_diffs(*[summary_of(a) for a in arms], alpha=ALPHA)
    assert close(es.p, e.p)
    # with b1, a2, b2 of zero variance it reduces to a one-sample test of a1
    zero = [arm("z", [0.0, 0.0])] * 3
    ez = diff_of_diffs(arms[0], *zero, alpha=ALPHA)
    assert close(ez.p, stats.ttest_1samp(XA, 0.0, alternative="greater").pvalue)


def test_diff_of_diffs_log_scale():
    xs = [XA, XB, XC, XB[::-1]]
    arms = [arm(f"x{i}", x) for i, x in enumerate(xs)]
    e = diff_of_diffs(*arms, alpha=ALPHA, log=True)
    e_raw = diff_of_diffs(*[arm(f"l{i}", np.log(x)) for i, x in enumerate(xs)], alpha=ALPHA)
    assert close(e.p, e_raw.p) and close(e.effect, e_raw.effect)
    assert close(e.details["ratio_of_ratios"], math.exp(e.effect))
    assert e.arms[0].mean == arms[0].mean  # reports the original arms
    assert diff_of_diffs(*[summary_of(a) for a in arms], alpha=ALPHA, log=True).verdict == UNTESTABLE
    neg = [arm("neg", [-1.0, 2.0])] + arms[1:]
    assert diff_of_diffs(*neg, alpha=ALPHA, log=True).verdict == UNTESTABLE


def test_tau2_hat_is_unbiased_with_the_exact_variance():
    """Fixed level effects, unequal cell SDs and n: tau2 = var(level means) - mean(var_j/n_j)
    is unbiased for the variance of the true level means, and the variance formula (at the
    true means and variances) is that of the Monte-Carlo estimates."""
    from harness.statistics import simulate as sim

    rng = np.random.default_rng(17)
    mu, sd, n = np.array([0.0, 1.0, 3.0, 2.0]), np.array([1.0, 3.0, 0.5, 2.0]), (5, 4, 8, 6)
    reps = 200_000
    cells = [m + s * rng.standard_normal((reps, k)) for m, s, k in zip(mu, sd, n)]
    means = np.stack([c.mean(-1) for c in cells], -1)
    variances = np.stack([c.var(-1, ddof=1) for c in cells], -1)
    t2, _ = sim.tau2_hat(means, variances, n)
    _, var_true = sim.tau2_hat(mu, sd ** 2, n)
    assert abs(t2.mean() - mu.var(ddof=1)) < 4 * t2.std() / math.sqrt(reps)
    assert t2.var() == pytest.approx(float(var_true), rel=0.03)


def test_spread_greater_verdicts_details_and_determinism():
    rng = np.random.default_rng(3)
    cells_a = [rng.normal(mu, 1, n) for mu, n in zip([0, 10, 25], [5, 4, 6])]
    cells_b = [rng.normal(mu, 1, n) for mu, n in zip([0, 0.5, 1], [5, 5, 3])]
    fa = [arm(f"a{j}", x) for j, x in enumerate(cells_a)]
    fb = [arm(f"b{j}", x) for j, x in enumerate(cells_b)]
    e = spread_greater(fa, fb, alpha=ALPHA)
    d = e.details
    assert e.verdict == SUPPORTED and d["spread_a"] > d["spread_b"]
    assert e.p == spread_greater(fa, fb, alpha=ALPHA).p  # seeded bootstrap: a re-judge agrees
    assert e.p >= 1 / (d["boot"] + 1)
    # effect: the noise-corrected spread difference over the pooled within-cell variance
    def tau2(cells):
        return np.var([np.mean(c) for c in cells], ddof=1) - np.mean([np.var(c, ddof=1) / len(c) for c in cells])
    assert close(d["tau2_a"], tau2(cells_a)) and close(d["tau2_b"], tau2(cells_b))
    assert close(e.effect, (d["tau2_a"] - d["tau2_b"]) / d["sigma2"])
    assert e.ci[0] <= e.effect <= e.ci[1] and e.ci[0] > 0
    lo, hi = d["tau_ratio_ci"]
    assert lo <= d["tau_ratio"] <= hi
    assert "tau A/B=" in e.summary()
    # summaries give the same
    es = spread_greater([summary_of(x) for x in fa], [summary_of(x) for x in fb], alpha=ALPHA)
    assert close(es.p, e.p, rel=1e-9)
    # reversed families -> refuted
    r = spread_greater(fb, fa, alpha=ALPHA)
    assert r.verdict == REFUTED and r.details["p_refuted"] < ALPHA
    # every cell needs a variance for the noise correction
    one = spread_greater(fa[:2] + [arm("one", [3.0])], fb, alpha=ALPHA)
    assert one.verdict == UNTESTABLE and "n=1" in one.note


def test_spread_greater_has_power_at_the_papers_q5_effect():
    """The paper's Q5 means and SDs at batch 2/16/128 (BatchNorm vs GroupNorm), 20 seeds: the
    old rule could only be inconclusive here; this one is supported at Holm's first level."""
    bn = [(67.83, 2.21), (77.79, 0.54), (72.96, 0.85)]
    gn = [(71.97, 1.91), (71.49, 0.54), (67.77, 0.87)]
    rng = np.random.default_rng(2)
    fa = [arm(f"bn{j}", rng.normal(m, s, 20)) for j, (m, s) in enumerate(bn)]
    fb = [arm(f"gn{j}", rng.normal(m, s, 20)) for j, (m, s) in enumerate(gn)]
    assert spread_greater(fa, fb, alpha=ALPHA / 17).verdict == SUPPORTED


def test_spread_greater_crossed_profiles_are_not_a_false_positive():
    """Both families vary equally, in opposite shapes: the interaction is real but neither
    spread is larger. The interaction-only rule said `supported` ~50% of the time; this rule
    stays within alpha + 3 Monte-Carlo SE, either way."""
    rng = np.random.default_rng(5)
    reps, hits, refs = 600, 0, 0
    for _ in range(reps):
        fa = [arm(f"a{j}", rng.normal(mu, 1, 5)) for j, mu in enumerate([0, 1, 2])]
        fb = [arm(f"b{j}", rng.normal(mu, 1, 5)) for j, mu in enumerate([2, 1, 0])]
        v = spread_greater(fa, fb, alpha=ALPHA).verdict
        hits += v == SUPPORTED
        refs += v == REFUTED
    lim = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / reps)
    assert hits / reps <= lim and refs / reps <= lim


# ------------------------------------------------------------------------------- all_of

def _ev(verdict, p, effect=1.0, n=(5, 5)):
    return Evidence(verdict=verdict, test="t", effect=effect if verdict != UNTESTABLE else None,
                    effect_label="d", ci=None, ci_level=0.95, p=p, n=n, alpha=ALPHA)


@pytest.mark.parametrize("verdicts,expected", [
    ((SUPPORTED, SUPPORTED), SUPPORTED),
    ((SUPPORTED, INCONCLUSIVE), INCONCLUSIVE),
    ((SUPPORTED, REFUTED), REFUTED),
    ((UNTESTABLE, SUPPORTED), UNTESTABLE),
    ((UNTESTABLE, REFUTED), REFUTED),
    ((INCONCLUSIVE, UNTESTABLE), UNTESTABLE),
])
def test_all_of_logic(verdicts, expected):
    parts = [_ev(v, None if v == UNTESTABLE else p, effect=i)
             for i, (v, p) in enumerate(zip(verdicts, (0.01, 0.3)))]
    e = all_of(parts)
    assert e.verdict == expected
    assert len(e.details["parts"]) == 2 and e.n == (5, 5, 5, 5)


def test_all_of_binding_part():
    a, b = arm("A", XA), arm("B", XB)
    p1 = mean_greater(a, b, alpha=ALPHA)
    p2 = mean_greater(a, b, margin=1.5, alpha=ALPHA)
    e = all_of([p1, p2], test_name="both")
    assert e.p == max(p1.p, p2.p) == p2.p
    assert e.effect == p2.effect and e.ci == p2.ci and e.test == "both"
    json.dumps(e.to_dict(), allow_nan=False)


# ------------------------------------------------------------------------------- output

def test_to_dict_and_summary():
    a, b = arm("A", XA), arm("B", XB)
    evs = [mean_greater(a, b, alpha=ALPHA), mean_above(a, 70, alpha=ALPHA),
           trend([1, 2], [b, a], direction="increasing", alpha=ALPHA),
           variance_greater(a, b, alpha=ALPHA), equivalent(a, b, margin=1, alpha=ALPHA),
           diff_of_diffs(a, b, b, a, alpha=ALPHA), spread_greater([a, b], [a, a], alpha=ALPHA),
           mean_greater(arm("one", [1.0]), b, alpha=ALPHA),
           variance_greater(a, arm("flat", [1.0, 1.0, 1.0]), alpha=ALPHA)]
    for e in evs:
        d = e.to_dict()
        json.dumps(d, allow_nan=False)
        assert set(d["arms"][0]) == {"label", "n", "mean", "sd"}
        s = e.summary()
        assert "\n" not in s and s.startswith(e.verdict + ":")
    s = evs[0].summary()
    assert "[95% CI" in s and "p=" in s and "n=5/5" in s and "g=" in s and "P(A>B)=" in s


# ------------------------------------------------------------------------------- hypothesis properties

samples = st.lists(st.floats(-50, 50, allow_nan=False, allow_infinity=False), min_size=2, max_size=7)
PROP = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _spread_ok(*xs):
    return all(np.std(x) > 1e-3 for x in xs)


@PROP
@given(samples, samples)
def test_swapping_arms_flips_direction(x, y):
    assume(_spread_ok(x, y))
    e_ab = mean_greater(arm("a", x), arm("b", y), alpha=ALPHA)
    e_ba = mean_greater(arm("b", y), arm("a", x), alpha=ALPHA)
    assert e_ab.p + e_ba.p == pytest.approx(1.0, abs=1e-9)
    assert e_ab.effect == pytest.approx(-e_ba.effect, abs=1e-9)
    assert e_ab.ci[0] == pytest.approx(-e_ba.ci[1], abs=1e-9)
    if e_ab.verdict == SUPPORTED:
        assert e_ba.verdict == REFUTED


@PROP
@given(samples, samples, st.floats(-100, 100, allow_nan=False))
def test_adding_a_constant_changes_nothing(x, y, c):
    assume(_spread_ok(x, y))
    # values that differ by a few ulps (found: y = [0, 1, 2.2e-16], c = 2) are not kept apart by
    # x + c itself: 2 + 2.2e-16 rounds to 2 + 4.4e-16, so the data, not the rule, changes
    assume(all(abs(u - v) == 0 or abs(u - v) > 1e-9 for z in (x, y) for u in z for v in z))
    a, b = arm("a", x), arm("b", y)
    a2, b2 = arm("a", np.add(x, c)), arm("b", np.add(y, c))
    # The spread test takes cube roots of |x - median|: near-zero deviations amplify the
    # rounding of x + c (a relative error of ~eps*|c|/deviation grows by the cube root), so its
    # invariance holds to 1e-4, the location tests' to 1e-6.
    for f, rel, p_abs in ((lambda u, v: mean_greater(u, v, alpha=ALPHA), 1e-6, 1e-9),
                          (lambda u, v: equivalent(u, v, margin=1.0, alpha=ALPHA), 1e-6, 1e-9),
                          (lambda u, v: variance_greater(u, v, alpha=ALPHA), 1e-4, 1e-5),
                          (lambda u, v: diff_of_diffs(u, v, v, u, alpha=ALPHA), 1e-6, 1e-9)):
        e, e2 = f(a, b), f(a2, b2)
        if e.verdict == UNTESTABLE:  # variance_greater needs n >= 3 per arm
            assert e2.verdict == UNTESTABLE
            continue
        assert e.p == pytest.approx(e2.p, rel=rel, abs=p_abs)
        assert e.effect == pytest.approx(e2.effect, rel=rel, abs=1e-6)
        assert e.ci[1] - e.ci[0] == pytest.approx(e2.ci[1] - e2.ci[0], rel=rel, abs=1e-6)
        assert e.verdict == e2.verdict or min(abs(e.p - ALPHA), abs(e2.p - ALPHA)) < 1e-6


@pytest.mark.parametrize("c", [1.0, 41.0, 0.1, 3.0])
def test_equal_values_have_exactly_zero_variance_in_any_units(c):
    """Found by hypothesis (test_scaling_leaves_p_unchanged, x = y = [0, 0, 1, 1], c = 41): the
    Brown-Forsythe scores of both arms were all equal, but numpy's mean of equal floats missed
    them by an ulp, so the 0/0 rule said untestable in one unit and inconclusive in another."""
    assert arm("a", [0.1 * c] * 3).var == 0.0
    x = np.multiply([0.0, 0.0, 1.0, 1.0], c)
    ev = variance_greater(arm("a", x), arm("b", x), alpha=ALPHA)
    assert ev.verdict == UNTESTABLE and "0/0" in ev.note
    # and when the deviations from the median are equal only in exact arithmetic (found by
    # hypothesis: x = y = [2, 2, 0.95, 0.95], c = 3; |2 - 1.475| and |0.95 - 1.475| differ
    # in the last bit)
    x = np.multiply([2.0, 2.0, 0.95, 0.95], c)
    ev = variance_greater(arm("a", x), arm("b", x), alpha=ALPHA)
    assert ev.verdict == UNTESTABLE and "0/0" in ev.note


@PROP
@given(samples, samples, st.floats(0.01, 100))
def test_scaling_leaves_p_unchanged(x, y, c):
    assume(_spread_ok(x, y))
    a, b = arm("a", x), arm("b", y)
    a2, b2 = arm("a", np.multiply(x, c)), arm("b", np.multiply(y, c))
    for f in (lambda u, v: mean_greater(u, v, alpha=ALPHA),
              lambda u, v: variance_greater(u, v, alpha=ALPHA),
              lambda u, v: diff_of_diffs(u, v, v, u, alpha=ALPHA),
              lambda u, v: spread_greater([u, v], [v, v], alpha=ALPHA)):
        e, e2 = f(a, b), f(a2, b2)
        if e.verdict == UNTESTABLE:  # variance_greater needs n >= 3 per arm
            assert e2.verdict == UNTESTABLE
            continue
        assert e.p == pytest.approx(e2.p, rel=1e-6, abs=1e-9)
    assert mean_greater(a2, b2, alpha=ALPHA).effect == pytest.approx(
        c * mean_greater(a, b, alpha=ALPHA).effect, rel=1e-6, abs=1e-6)


# ------------------------------------------------------------------------------- verdict logic

def test_verdicts_separated_reversed_identical():
    hi, lo = arm("hi", [10.1, 10.3, 9.9, 10.0, 10.2]), arm("lo", [5.0, 5.2, 4.9, 5.1, 4.8])
    assert mean_greater(hi, lo, alpha=ALPHA).verdict == SUPPORTED
    assert mean_greater(lo, hi, alpha=ALPHA).verdict == REFUTED
    same = mean_greater(arm("x", XA), arm("y", XA), alpha=ALPHA)
    assert same.verdict == INCONCLUSIVE and same.mde > 0 and same.p == pytest.approx(0.5)
    assert mean_above(hi, 5.0, alpha=ALPHA).verdict == SUPPORTED
    assert mean_above(lo, 10.0, alpha=ALPHA).verdict == REFUTED
    assert mean_above(arm("x", XA), float(np.mean(XA)), alpha=ALPHA).verdict == INCONCLUSIVE
    wide, narrow = arm("w", [0, 10, -10, 5, -5, 8]), arm("n", [0, 0.1, -0.1, 0.05, -0.05, 0.02])
    assert variance_greater(wide, narrow, alpha=ALPHA).verdict == SUPPORTED
    assert variance_greater(narrow, wide, alpha=ALPHA).verdict == REFUTED
    v = variance_greater(arm("x", XA), arm("y", XA), alpha=ALPHA)
    assert v.verdict == INCONCLUSIVE and v.mde > 1
    assert equivalent(arm("x", XA), arm("y", np.add(XA, 0.1)), margin=2.0, alpha=ALPHA).verdict == SUPPORTED
    assert equivalent(hi, lo, margin=1.0, alpha=ALPHA).verdict == REFUTED
    eq = equivalent(arm("x", XA), arm("y", XA), margin=0.1, alpha=ALPHA)
    assert eq.verdict == INCONCLUSIVE and eq.mde > 0.1
    assert diff_of_diffs(hi, lo, lo, hi, alpha=ALPHA).verdict == SUPPORTED
    assert diff_of_diffs(lo, hi, hi, lo, alpha=ALPHA).verdict == REFUTED
    levels = [1, 2, 3]
    up = [lo, arm("mid", [7.5, 7.6, 7.4, 7.7, 7.3]), hi]
    assert trend(levels, up, direction="increasing", alpha=ALPHA).verdict == SUPPORTED
    assert trend(levels, up, direction="decreasing", alpha=ALPHA).verdict == REFUTED
    flat = trend(levels, [arm("x", XA)] * 3, direction="increasing", alpha=ALPHA)
    assert flat.verdict == INCONCLUSIVE and flat.mde > 0
    sp = spread_greater([lo, hi], [lo, arm("lo2", np.add(lo.values, 0.1))], alpha=ALPHA)
    assert sp.verdict == SUPPORTED
    sp_flat = spread_greater([arm("x", XA), arm("y", XB)], [arm("x", XA), arm("y", XB)], alpha=ALPHA)
    assert sp_flat.verdict == INCONCLUSIVE and sp_flat.mde > 0


def test_n1_is_untestable_everywhere():
    one, a = arm("one", [3.0]), arm("A", XA)
    summ = Arm.from_summary("pub", 3.0, 0.0, 1)
    cases = [mean_greater(one, a, alpha=ALPHA), mean_greater(a, summ, alpha=ALPHA),
             mean_above(one, 0.0, alpha=ALPHA), equivalent(a, one, margin=1, alpha=ALPHA),
             variance_greater(one, a, alpha=ALPHA), diff_of_diffs(a, a, a, one, alpha=ALPHA),
             spread_greater([one, one], [one, one], alpha=ALPHA),
             trend([1, 2], [summ, Arm.from_summary("p2", 4.0, 0.0, 1)], direction="increasing",
                   alpha=ALPHA)]
    for e in cases:
        assert e.verdict == UNTESTABLE and e.p is None and e.note, e
        json.dumps(e.to_dict(), allow_nan=False)
        assert e.summary().startswith("untestable:")


def test_zero_variance_is_handled_without_warnings():
    c1, c2 = arm("c1", [1.0, 1.0, 1.0]), arm("c2", [0.0, 0.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e = mean_greater(c1, c2, alpha=ALPHA)
        assert e.verdict == SUPPORTED and e.p == 0.0 and e.ci == (1.0, 1.0) and "zero variance" in e.note
        assert mean_greater(c2, c1, alpha=ALPHA).verdict == REFUTED
        assert mean_greater(c1, c1, alpha=ALPHA).verdict == UNTESTABLE  # 0/0
        assert mean_greater(c1, c2, margin=1.0, alpha=ALPHA).verdict == UNTESTABLE
        assert mean_above(c1, 0.5, alpha=ALPHA).verdict == SUPPORTED
        assert equivalent(c1, c2, margin=2.0, alpha=ALPHA).verdict == SUPPORTED
        assert equivalent(c1, c2, margin=0.5, alpha=ALPHA).verdict == REFUTED
        assert variance_greater(arm("a", XA), c1, alpha=ALPHA).verdict == SUPPORTED
        assert variance_greater(c1, arm("a", XA), alpha=ALPHA).verdict == REFUTED
        assert variance_greater(c1, c2, alpha=ALPHA).verdict == UNTESTABLE
        assert diff_of_diffs(c1, c2, c2, c2, alpha=ALPHA).verdict == SUPPORTED
        assert spread_greater([c1, c2], [c1, c1], alpha=ALPHA).verdict == SUPPORTED
        assert spread_greater([c1, c1], [c2, c2], alpha=ALPHA).verdict == UNTESTABLE
        assert trend([1, 2], [c2, c1], direction="increasing", alpha=ALPHA).verdict == SUPPORTED
        for e in (mean_greater(c1, c2, alpha=ALPHA), variance_greater(arm("a", XA), c1, alpha=ALPHA)):
            json.dumps(e.to_dict(), allow_nan=False)
            e.summary()


def test_programming_errors_raise():
    a = arm("A", XA)
    with pytest.raises(ValueError):
        mean_greater(a, a, alpha=1.5)
    with pytest.raises(ValueError):
        equivalent(a, a, margin=0.0, alpha=ALPHA)
    with pytest.raises(ValueError):
        trend([1, 2], [a], direction="increasing", alpha=ALPHA)
    with pytest.raises(ValueError):
        trend([1, 2], [a, a], direction="up", alpha=ALPHA)
    with pytest.raises(ValueError):
        spread_greater([a, a], [a], alpha=ALPHA)
    with pytest.raises(ValueError):
        all_of([])


# The null-rate simulations moved to tests/test_calibration.py (issue 9: unequal variances,
# unequal n and t(3) noise for every rule, each with a naive variant that must be flagged).


# ------------------------------------------------------------------------------- refutation (issue 9)

def _ev_ref(verdict, p, p_ref):
    return Evidence(verdict=verdict, test="t", effect=1.0, effect_label="d", ci=None, ci_level=0.95,
                    p=p, n=(5, 5), alpha=ALPHA, details={"p_refuted": p_ref})


def test_all_of_refutes_at_alpha_over_m():
    # two parts: a part refuted at 0.04 (< alpha, > alpha/2) does not refute the intersection
    e = all_of([_ev_ref(REFUTED, 0.96, 0.04), _ev_ref(SUPPORTED, 0.01, 0.99)])
    assert e.verdict == INCONCLUSIVE and e.details["p_refuted"] == pytest.approx(0.08)
    e = all_of([_ev_ref(REFUTED, 0.99, 0.02), _ev_ref(SUPPORTED, 0.01, 0.99)])
    assert e.verdict == REFUTED
    assert e.mde is None  # several parts: no single detectable effect
    one = all_of([mean_greater(arm("A", XA), arm("B", XB), alpha=ALPHA)])
    assert one.mde is not None


def test_every_rule_reports_its_refutation_p():
    a, b = arm("A", XA), arm("B", XB)
    evs = [mean_greater(a, b, alpha=ALPHA), mean_above(a, 70, alpha=ALPHA),
           equivalent(a, b, margin=1, alpha=ALPHA), variance_greater(a, b, alpha=ALPHA),
           diff_of_diffs(a, b, b, a, alpha=ALPHA), trend([1, 2], [b, a], direction="increasing", alpha=ALPHA),
           spread_greater([a, b], [b, b], alpha=ALPHA)]
    for e in evs:
        p_ref = e.details["p_refuted"]
        assert 0 <= p_ref <= 1
        assert (e.verdict == REFUTED) == (p_ref < ALPHA), (e.test, e.verdict, p_ref)
    # equivalence: the difference (2.4) lies beyond a margin of 1: refuted, p_refuted small
    eq = equivalent(a, b, margin=1, alpha=ALPHA)
    assert eq.verdict == REFUTED and eq.details["p_refuted"] < ALPHA


def test_trend_refutes_only_when_both_parts_point_against():
    levels = [1, 2, 3]
    down = [arm("x", np.add(XA, 10)), arm("y", np.add(XA, 5)), arm("z", XA)]
    e = trend(levels, down, direction="increasing", alpha=ALPHA)
    assert e.verdict == REFUTED
    assert e.details["p_refuted"] == pytest.approx(max(e.details["p_tau_opposite"],
                                                       e.details["p_contrast_opposite"]))
