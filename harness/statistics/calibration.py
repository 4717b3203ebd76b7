"""Null scenarios and naive variants for every decision rule of ``harness.statistics.stats``: the one
place where the false-positive and false-refutation rates of docs/STATISTICS.md are defined.

Each scenario draws ``reps`` replicates of raw runs (arrays of shape (reps, n) per arm) at
the boundary of a family's null hypothesis, and returns the per-replicate p of the claim,
the p of its refutation (both as the rule computes them, via ``harness.statistics.simulate``) and the
p of a deliberately naive variant of the rule (pooling unequal variances, refuting at alpha
per part, ...). ``rates`` turns them into rates at alpha. ``check_against_stats`` re-runs the
real scalar function of ``harness.statistics.stats`` on the first replicates and asserts it agrees with
the vectorised rule, so the simulation measures the code that judges claims.

Used by ``tests/test_calibration.py`` (few thousand replicates, a few seconds) and
``benchmarks/power_table.py`` (the documented table, more replicates).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import special

from harness.statistics import simulate as sim
from harness.statistics import stats

ALPHA = 0.05


@dataclass(frozen=True)
class Scenario:
    family: str          # the stats function
    name: str            # short scenario name
    description: str     # for the docs table
    draw: Callable       # rng, reps -> list of arm arrays (reps, n)
    rule: Callable       # arms -> (p_claim, p_refuted)
    naive: Callable | None = None   # arms -> (p_claim, p_refuted) of the naive variant
    naive_what: str = ""            # what the naive variant does
    naive_side: str = "supported"   # which of its rates the naive variant inflates
    scalar: Callable | None = None  # arms (1-D arrays) -> Evidence, the real function
    #: non-empty for a documented weakness: the rule is NOT held to alpha here (why)
    weakness: str = ""


def _noise(rng, reps, n, sd=1.0, kind="normal"):
    if kind == "t3":  # Student t(3) scaled to SD 1: heavy-tailed seeds
        return sd * rng.standard_t(3, (reps, n)) / math.sqrt(3.0)
    return sd * rng.standard_normal((reps, n))


def _arms_draw(specs, kind="normal"):
    """specs: [(mean, sd, n), ...] -> draw(rng, reps) -> list of arrays."""
    def draw(rng, reps):
        return [m + _noise(rng, reps, n, sd, kind) for m, sd, n in specs]
    return draw


def _A(label, x):
    return stats.Arm.from_values(label, x)


# ---------------------------------------------------------------- naive variants
def _student_p(x, y, margin=0.0):
    """Pooled-variance (Student) t: assumes equal variances."""
    nx, ny = x.shape[-1], y.shape[-1]
    sp2 = ((nx - 1) * x.var(-1, ddof=1) + (ny - 1) * y.var(-1, ddof=1)) / (nx + ny - 2)
    t = (x.mean(-1) - y.mean(-1) - margin) / np.sqrt(sp2 * (1 / nx + 1 / ny))
    return special.stdtr(nx + ny - 2, -t), special.stdtr(nx + ny - 2, t)


def _z_one_sample(x, thr):
    n = x.shape[-1]
    z = (x.mean(-1) - thr) / (x.std(-1, ddof=1) / math.sqrt(n))
    return special.ndtr(-z), special.ndtr(z)


def _pooled_f(a_arms, b_arms):
    def pool(arms):
        df = sum(a.shape[-1] - 1 for a in arms)
        return sum((a.shape[-1] - 1) * a.var(-1, ddof=1) for a in arms) / df, df
    (va, dfa), (vb, dfb) = pool(a_arms), pool(b_arms)
    F = va / vb
    return special.fdtrc(dfa, dfb, F), special.fdtr(dfa, dfb, F)


def _trend_refute_each_part(levels, arms):
    p_tau, p_tau_opp = sim.kendall_p(levels, arms)
    p_c, p_c_opp = sim.welch_p(arms[-1], arms[0])
    return np.maximum(p_tau, p_c), np.minimum(p_tau_opp, p_c_opp)  # no Bonferroni


def _nonsignificant_equivalence(x, y, margin):
    """'Equivalent' when the difference is not significant and the estimate is inside the
    margin: absence of evidence taken as evidence."""
    p_two = 2 * np.minimum(*sim.welch_p(x, y))
    inside = np.abs(x.mean(-1) - y.mean(-1)) < margin
    return np.where(inside & (p_two >= ALPHA), 0.0, 1.0), np.ones(x.shape[0])


def _pooled_dod(a1, b1, a2, b2):
    arms = (a1, b1, a2, b2)
    df = sum(x.shape[-1] - 1 for x in arms)
    sp2 = sum((x.shape[-1] - 1) * x.var(-1, ddof=1) for x in arms) / df
    c = (a1.mean(-1) - b1.mean(-1)) - (a2.mean(-1) - b2.mean(-1))
    t = c / np.sqrt(sp2 * sum(1 / x.shape[-1] for x in arms))
    return special.stdtr(df, -t), special.stdtr(df, t)


def _interaction_alone(a_arms, b_arms):
    """An early spread rule: the 2 x k interaction F (pooled within-cell MSE) significant,
    direction read off the sample spreads."""
    mA, mB, vA, vB, nA, nB = sim._cell_summaries(a_arms, b_arms)
    nA, nB = np.asarray(nA, float), np.asarray(nB, float)
    k = nA.size
    df2 = nA.sum() + nB.sum() - 2 * k
    mse = (((nA - 1) * vA).sum(-1) + ((nB - 1) * vB).sum(-1)) / df2
    w = 1.0 / (1.0 / nA + 1.0 / nB)
    d = mA - mB
    dbar = (w * d).sum(-1, keepdims=True) / w.sum()
    p_int = special.fdtrc(k - 1, df2, (w * (d - dbar) ** 2).sum(-1) / (k - 1) / mse)
    up = mA.std(-1) > mB.std(-1)
    return np.where(up, p_int, 1.0), np.where(~up, p_int, 1.0)


def _uncorrected_spread(a_arms, b_arms):
    """The variances of the level means compared without noise correction, var(means_A) /
    var(means_B) against F(k-1, k-1): reads a noisier family as more spread."""
    mA, mB, vA, vB, nA, nB = sim._cell_summaries(a_arms, b_arms)
    k = len(nA)
    ratio = mA.var(-1, ddof=1) / mB.var(-1, ddof=1)
    return special.fdtrc(k - 1, k - 1, ratio), special.fdtr(k - 1, k - 1, ratio)


def _one_boundary_point(a_arms, b_arms):
    """The bootstrap at one boundary point only (the common tau at the mean of the two
    estimates) instead of the larger p over both families' estimates."""
    mA, mB, vA, vB, nA, nB = sim._cell_summaries(a_arms, b_arms)
    r = sim.spread_test(mA, vA, nA, mB, vB, nB, boundary="mean")
    return r["p"], r["p_refuted"]


# ---------------------------------------------------------------- scenarios
def _mean_greater_scenarios():
    rule = lambda a: sim.welch_p(a[0], a[1])
    naive = lambda a: _student_p(a[0], a[1])
    scalar = lambda a: stats.mean_greater(_A("a", a[0]), _A("b", a[1]), alpha=ALPHA)
    out = []
    for name, desc, specs, kind in (
            ("equal", "equal means, SD 1 and 1, n 5/5", [(0, 1, 5), (0, 1, 5)], "normal"),
            ("unequal_var_n", "equal means, SD 3 (n 4) vs SD 1 (n 10)", [(0, 3, 4), (0, 1, 10)], "normal"),
            ("t3", "equal means, t(3) noise, n 5/5", [(0, 1, 5), (0, 1, 5)], "t3")):
        out.append(Scenario("mean_greater", name, desc, _arms_draw(specs, kind), rule, naive,
                            "Student t (pooled variance)", "supported", scalar))
    return out


def _mean_above_scenarios():
    rule = lambda a: sim.one_sample_p(a[0], 0.0)
    naive = lambda a: _z_one_sample(a[0], 0.0)
    scalar = lambda a: stats.mean_above(_A("a", a[0]), 0.0, alpha=ALPHA)
    return [Scenario("mean_above", name, desc, _arms_draw(specs, kind), rule, naive,
                     "normal quantile instead of t (z test with the sample SD)", "supported", scalar)
            for name, desc, specs, kind in (
                ("equal", "true mean = threshold, n 5", [(0, 1, 5)], "normal"),
                ("small_n", "true mean = threshold, n 3", [(0, 1, 3)], "normal"),
                ("t3", "true mean = threshold, t(3) noise, n 5", [(0, 1, 5)], "t3"))]


LEVELS = (1.0, 2.0, 4.0)


def _trend_scenarios():
    rule = lambda a: sim.trend_p(list(LEVELS), a, True)
    naive = lambda a: _trend_refute_each_part(list(LEVELS), a)
    scalar = lambda a: stats.trend(LEVELS, [_A(str(i), x) for i, x in enumerate(a)],
                                   direction="increasing", alpha=ALPHA)
    return [Scenario("trend", name, desc, _arms_draw(specs, kind), rule, naive,
                     "refuted when either part is significant against the claim at alpha",
                     "refuted", scalar)
            for name, desc, specs, kind in (
                ("equal", "3 levels, equal means, SD 1, n 5", [(0, 1, 5)] * 3, "normal"),
                ("unequal_var_n", "3 levels, equal means, SD 3/1/1, n 4/5/8",
                 [(0, 3, 4), (0, 1, 5), (0, 1, 8)], "normal"),
                ("t3", "3 levels, equal means, t(3) noise, n 5", [(0, 1, 5)] * 3, "t3"))]


def _variance_scenarios():
    def rule_for(k):
        return lambda a: sim.variance_p(a[:k], a[k:])[:2]

    def naive_for(k):
        return lambda a: _pooled_f(a[:k], a[k:])

    def scalar_for(k):
        return lambda a: stats.variance_greater([_A(f"a{i}", x) for i, x in enumerate(a[:k])],
                                                [_A(f"b{i}", x) for i, x in enumerate(a[k:])],
                                                alpha=ALPHA)
    out = []
    for name, desc, specs, k, kind in (
            ("equal", "equal SDs, one arm per side, n 5/5", [(0, 1, 5), (0, 1, 5)], 1, "normal"),
            ("unequal_within", "3 arms per side, SDs 3/1/1 vs 1/1/3 (same SDs, in another order), n 5",
             [(0, 3, 5), (0, 1, 5), (0, 1, 5), (0, 1, 5), (0, 1, 5), (0, 3, 5)], 3, "normal"),
            ("unequal_n", "equal SDs, n 4 vs 8", [(0, 1, 4), (0, 1, 8)], 1, "normal"),
            ("t3", "equal SDs, t(3) noise, 3 arms per side, n 5", [(0, 1, 5)] * 6, 3, "t3")):
        out.append(Scenario("variance_greater", name, desc, _arms_draw(specs, kind), rule_for(k),
                            naive_for(k), "F test of pooled variances (the old rule)", "supported",
                            scalar_for(k)))
    return out


def _equivalent_scenarios():
    rule = lambda a: sim.tost_p(a[0], a[1], 1.0)
    naive = lambda a: _nonsignificant_equivalence(a[0], a[1], 1.0)
    scalar = lambda a: stats.equivalent(_A("a", a[0]), _A("b", a[1]), margin=1.0, alpha=ALPHA)
    return [Scenario("equivalent", name, desc, _arms_draw(specs, kind), rule, naive,
                     "equivalent when not significantly different and the estimate is inside the margin",
                     "supported", scalar)
            for name, desc, specs, kind in (
                ("equal", "true difference = margin (1 SD), n 5/5", [(1, 1, 5), (0, 1, 5)], "normal"),
                ("unequal_var_n", "true difference = margin, SD 2 (n 4) vs 1 (n 8)",
                 [(1, 2, 4), (0, 1, 8)], "normal"),
                ("t3", "true difference = margin, t(3) noise, n 5/5", [(1, 1, 5), (0, 1, 5)], "t3"))]


def _dod_scenarios():
    rule = lambda a: sim.diff_of_diffs_p(*a)
    naive = lambda a: _pooled_dod(*a)
    scalar = lambda a: stats.diff_of_diffs(*[_A(str(i), x) for i, x in enumerate(a)], alpha=ALPHA)
    return [Scenario("diff_of_diffs", name, desc, _arms_draw(specs, kind), rule, naive,
                     "pooled-variance t", "supported", scalar)
            for name, desc, specs, kind in (
                ("equal", "four arms, equal means, SD 1, n 5", [(0, 1, 5)] * 4, "normal"),
                ("unequal_var_n", "equal means, SD 3/1/1/1, n 5/8/8/8",
                 [(0, 3, 5), (0, 1, 8), (0, 1, 8), (0, 1, 8)], "normal"),
                ("t3", "equal means, t(3) noise, n 5", [(0, 1, 5)] * 4, "t3"))]


def _spread_scenarios():
    """Null scenarios of spread_greater: tau_A = tau_B (tau = SD of the true level effects),
    either both 0 or equal in crossed profiles (A rises where B falls). Each carries the naive
    rule the scenario defeats: the interaction alone (crossed profiles), the spread
    difference without noise correction (one family or level noisier), or the bootstrap at a
    single boundary point (crossed profiles with one family 3x noisier: refuted)."""
    def split(a):
        k = len(a) // 2
        return a[:k], a[k:]
    rule = lambda a: sim.spread_p(*split(a))

    def scalar(a):
        fa, fb = split(a)
        return stats.spread_greater([_A(f"a{i}", x) for i, x in enumerate(fa)],
                                    [_A(f"b{i}", x) for i, x in enumerate(fb)], alpha=ALPHA)
    naive = {
        "interaction": (lambda a: _interaction_alone(*split(a)),
                        "interaction F alone, direction read off the sample spreads"),
        "uncorrected": (lambda a: _uncorrected_spread(*split(a)),
                        "level-mean variances compared without noise correction, F(k-1, k-1)"),
        "one_point": (lambda a: _one_boundary_point(*split(a)),
                      "bootstrap at one boundary point (mean of the two tau estimates)"),
    }

    def crossed(k, rng_, sd_a, sd_b, n_a=None, n_b=None):
        prof = np.linspace(0, rng_, k)
        n_a = n_a or [5] * k
        n_b = n_b or [5] * k
        return ([(m, sd_a, n) for m, n in zip(prof, n_a)]
                + [(m, sd_b, n) for m, n in zip(prof[::-1], n_b)])
    rows = (
        # name, description, specs, noise kind, naive, side
        ("equal", "3 levels, the same profile 0/1/3 in both families, SD 1, n 5",
         [(0, 1, 5), (1, 1, 5), (3, 1, 5), (.5, 1, 5), (1.5, 1, 5), (3.5, 1, 5)], "normal",
         "interaction", "supported"),
        ("crossed", "equal spreads, crossed profiles 0/1/2 vs 2/1/0, SD 0.5, n 5",
         crossed(3, 2, .5, .5), "normal", "interaction", "supported"),
        ("unequal_noise", "no level effects, 7 levels, noise SD 3 (A) vs 1 (B), n 5",
         [(0, 3, 5)] * 7 + [(0, 1, 5)] * 7, "normal", "uncorrected", "supported"),
        ("unequal_noise_crossed_a", "7 levels, crossed profiles of range 1, noise SD 3 (A) vs 1 (B), n 5",
         crossed(7, 1, 3, 1), "normal", "uncorrected", "supported"),
        ("unequal_noise_crossed_b", "7 levels, crossed profiles of range 1, noise SD 1 (A) vs 3 (B), n 5",
         crossed(7, 1, 1, 3), "normal", "uncorrected", "refuted"),
        ("unequal_noise_k3", "3 levels, crossed profiles 0/0.5/1, noise SD 3 (A) vs 1 (B), n 5",
         crossed(3, 1, 3, 1), "normal", "one_point", "refuted"),
        ("unequal_n", "crossed profiles 0/1/2 vs 2/1/0, SD 0.5, n 3/5/8 vs 8/5/3",
         crossed(3, 2, .5, .5, [3, 5, 8], [8, 5, 3]), "normal", "interaction", "supported"),
        ("unequal_n_noise", "crossed profiles 0/0.5/1, noise SD 3 (A) vs 1 (B), n 3/5/8 vs 8/5/3",
         crossed(3, 1, 3, 1, [3, 5, 8], [8, 5, 3]), "normal", "one_point", "refuted"),
        ("unequal_noise_n20", "crossed profiles 0/0.5/1, noise SD 3 (A) vs 1 (B), n 20",
         crossed(3, 1, 3, 1, [20] * 3, [20] * 3), "normal", "one_point", "refuted"),
        ("equal_large_n20", "crossed profiles 0/3/6 vs 6/3/0, SD 1, n 20",
         crossed(3, 6, 1, 1, [20] * 3, [20] * 3), "normal", "interaction", "supported"),
        ("unequal_level_noise", "no level effects, 7 levels, one level of A with SD 5, all other cells SD 1, n 5",
         [(0, 5, 5)] + [(0, 1, 5)] * 13, "normal", "uncorrected", "supported"),
        ("unequal_level_noise_paper_q5", "no level effects, 7 levels, the paper's Q5 cell SDs "
         "(BatchNorm 2.47/1.20/0.85/0.60/1.13/1.38/0.95 vs GroupNorm 2.14/1.29/0.59/0.60/1.41/0.61/0.97), n 5",
         [(0, sd, 5) for sd in (2.47, 1.20, 0.85, 0.60, 1.13, 1.38, 0.95)]
         + [(0, sd, 5) for sd in (2.14, 1.29, 0.59, 0.60, 1.41, 0.61, 0.97)], "normal",
         "uncorrected", "supported"),
        ("t3", "crossed profiles 0/1/2 vs 2/1/0, t(3) noise (SD 0.5), n 5",
         crossed(3, 2, .5, .5), "t3", "interaction", "supported"),
        ("t3_unequal_noise", "7 levels, crossed profiles of range 1, t(3) noise SD 3 (A) vs 1 (B), n 5",
         crossed(7, 1, 3, 1), "t3", "uncorrected", "supported"),
    )
    return [Scenario("spread_greater", name, desc, _arms_draw(specs, kind), rule, naive[nv][0],
                     naive[nv][1], side, scalar)
            for name, desc, specs, kind, nv, side in rows]


def _all_of_scenarios():
    # three mean_greater parts (as in "A beats B, C and D"), each at its null boundary
    def rule(a):
        ps = [sim.welch_p(a[0], b) for b in a[1:]]
        m = len(ps)
        return (np.max([p for p, _ in ps], 0),
                np.minimum(1.0, m * np.min([q for _, q in ps], 0)))

    def naive(a):
        ps = [sim.welch_p(a[0], b) for b in a[1:]]
        return np.max([p for p, _ in ps], 0), np.min([q for _, q in ps], 0)

    def scalar(a):
        return stats.all_of([stats.mean_greater(_A("a", a[0]), _A(f"b{i}", b), alpha=ALPHA)
                             for i, b in enumerate(a[1:])])
    return [Scenario("all_of", name, desc, _arms_draw(specs, kind), rule, naive,
                     "refuted when any part is refuted at alpha", "refuted", scalar)
            for name, desc, specs, kind in (
                ("equal", "A vs three others, all means equal, SD 1, n 5", [(0, 1, 5)] * 4, "normal"),
                ("unequal_var_n", "all means equal, SD 1/3/1/2, n 5/4/8/6",
                 [(0, 1, 5), (0, 3, 4), (0, 1, 8), (0, 2, 6)], "normal"),
                ("t3", "all means equal, t(3) noise, n 5", [(0, 1, 5)] * 4, "t3"))]


def scenarios() -> list[Scenario]:
    return (_mean_greater_scenarios() + _mean_above_scenarios() + _trend_scenarios()
            + _variance_scenarios() + _equivalent_scenarios() + _dod_scenarios()
            + _spread_scenarios() + _all_of_scenarios())


def limit(reps: int, alpha: float = ALPHA) -> float:
    """alpha + 3 Monte-Carlo standard errors at ``reps`` replicates."""
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / reps)


def rates(sc: Scenario, reps: int, seed: int = 20261128, alpha: float = ALPHA) -> dict:
    """Supported and refuted rates of the rule and of its naive variant under ``sc``."""
    rng = np.random.default_rng(seed)
    arms = sc.draw(rng, reps)
    p, p_ref = sc.rule(arms)
    out = {"supported": float((p < alpha).mean()), "refuted": float((p_ref < alpha).mean()),
           "reps": reps}
    if sc.naive is not None:
        q, q_ref = sc.naive(arms)
        out["naive_supported"] = float((q < alpha).mean())
        out["naive_refuted"] = float((q_ref < alpha).mean())
    return out


def check_against_stats(sc: Scenario, k: int = 10, seed: int = 7) -> None:
    """The vectorised rule gives the real function's p and refutation p on k replicates."""
    rng = np.random.default_rng(seed)
    arms = sc.draw(rng, k)
    p, p_ref = sc.rule(arms)
    for i in range(k):
        ev = sc.scalar([a[i] for a in arms])
        assert math.isclose(ev.p, float(p[i]), rel_tol=1e-7, abs_tol=1e-10), \
            (sc.family, sc.name, i, ev.p, float(p[i]))
        assert math.isclose(ev.details["p_refuted"], float(p_ref[i]), rel_tol=1e-7, abs_tol=1e-10), \
            (sc.family, sc.name, i, ev.details["p_refuted"], float(p_ref[i]))
