"""Vectorised versions of the decision rules of :mod:`harness.stats`, for Monte-Carlo work.

Each function takes simulated data with a leading replicate axis (arrays of shape
(reps, n) per arm) and returns, per replicate, the p-value of the claim and the p-value of
its refutation, computed with the same formulas as the scalar functions in
``harness.stats`` (``tests/test_calibration.py`` checks them against each other on the
first replicates of every simulation). Three uses:

* the minimum detectable effect of rules that have no power formula (``variance_greater``,
  ``trend``, ``spread_greater``) is found by simulating the rule itself;
* ``harness.calibration`` measures null rates and power for docs/STATISTICS.md and for the
  calibration tests, at 10^3-10^5 replicates in seconds;
* the Brown-Forsythe scores used by ``variance_greater`` live here (one place).

Only numpy and scipy: importing this never imports torch or the rest of the harness.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
from scipy import special
from scipy.stats import rankdata

#: replicates and seed of the MDE searches (fixed: the same inputs give the same mde)
MDE_REPS = 2000
MDE_SEED = 90210

#: exponent of the transformed absolute deviations of ``variance_greater``. 1 is the classic
#: Brown-Forsythe test; the cube root makes the half-normal-like deviations nearly symmetric,
#: which keeps the Welch t on them at alpha with unequal n (see docs/STATISTICS.md section 4).
BF_POWER = 1.0 / 3.0


# ---------------------------------------------------------------- Brown-Forsythe scores
def sample_var(x: np.ndarray) -> np.ndarray:
    """Variance (ddof=1) over the last axis, exactly 0 where every value is the same: numpy's
    mean of equal floats can miss them by an ulp (3 x 0.1 gives var 3e-34), and the tests'
    zero-variance rule (0/0 untestable) must not depend on that rounding, or on the units."""
    x = np.asarray(x, dtype=float)
    return np.where(np.ptp(x, axis=-1) == 0, 0.0, x.var(axis=-1, ddof=1))


def _abs_dev_drop(x: np.ndarray) -> np.ndarray:
    """|x - median| per replicate row, without the smallest deviation. For odd n the median
    is one of the values (a structural zero); for even n the two middle values have equal
    deviations (a structural tie). Either way one deviation carries no information about the
    spread and makes the test conservative (Hines & Hines 2000): it is dropped."""
    med = np.median(x, axis=-1, keepdims=True)
    d = np.sort(np.abs(x - med), axis=-1)
    return d[..., 1:]


@lru_cache(maxsize=None)
def bf_scale(n: int) -> float:
    """E[mean of |x - median|^(1/3) over the n - 1 kept deviations] for n standard normal
    runs, so that scores from arms of different n estimate the same sigma^(1/3). Computed once
    per n by simulation (400,000 replicates, fixed seed: relative error ~0.05%)."""
    rng = np.random.default_rng(1000 + n)
    reps = 400_000 // n
    return float((_abs_dev_drop(rng.standard_normal((reps, n))) ** BF_POWER).mean())


def bf_scores(x: np.ndarray) -> np.ndarray:
    """Scores of one arm (shape (..., n), n >= 3): transformed absolute deviations from the
    arm's median, the structural one dropped, divided by ``bf_scale(n)``. For normal runs
    their mean estimates sigma^(1/3)."""
    x = np.asarray(x, dtype=float)
    n = x.shape[-1]
    return _abs_dev_drop(x) ** BF_POWER / bf_scale(n)


def _stratified(scores: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean of all scores of one side, the variance of that mean estimated arm by arm (so
    that arms of different spread are not treated as one sample) and the Satterthwaite
    denominator term sum u_i^2 / (m_i - 1)."""
    total = sum(s.shape[-1] for s in scores)
    mean = sum(s.sum(axis=-1) for s in scores) / total
    u = [(s.shape[-1] / total) ** 2 * sample_var(s) / s.shape[-1] for s in scores]
    var = sum(u)
    den = sum(ui * ui / (s.shape[-1] - 1) for ui, s in zip(u, scores))
    return mean, var, den


def variance_p(a_arms: Sequence[np.ndarray], b_arms: Sequence[np.ndarray]
               ) -> tuple[np.ndarray, np.ndarray, dict]:
    """One-sided p (H1: side A spreads more) and the opposite p of the stratified Welch t on
    Brown-Forsythe scores; arms are (reps, n_i) arrays with n_i >= 3."""
    sa = [bf_scores(a) for a in a_arms]
    sb = [bf_scores(b) for b in b_arms]
    ma, va, da = _stratified(sa)
    mb, vb, db = _stratified(sb)
    se2 = va + vb
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (ma - mb) / np.sqrt(se2)
        df = se2 * se2 / (da + db)
    p, p_opp = special.stdtr(df, -t), special.stdtr(df, t)
    return p, p_opp, {"mean_a": ma, "mean_b": mb, "var_a": va, "var_b": vb, "t": t, "df": df,
                      "se": np.sqrt(se2)}


# ---------------------------------------------------------------- t-type rules
def welch_p(x: np.ndarray, y: np.ndarray, margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """One-sided Welch p for H1: mean_x - mean_y > margin, and the mirror p."""
    nx, ny = x.shape[-1], y.shape[-1]
    ux, uy = x.var(axis=-1, ddof=1) / nx, y.var(axis=-1, ddof=1) / ny
    se2 = ux + uy
    t = (x.mean(axis=-1) - y.mean(axis=-1) - margin) / np.sqrt(se2)
    df = se2 * se2 / (ux * ux / (nx - 1) + uy * uy / (ny - 1))
    return special.stdtr(df, -t), special.stdtr(df, t)


def one_sample_p(x: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    n = x.shape[-1]
    t = (x.mean(axis=-1) - threshold) / (x.std(axis=-1, ddof=1) / np.sqrt(n))
    return special.stdtr(n - 1, -t), special.stdtr(n - 1, t)


def tost_p(x: np.ndarray, y: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """TOST p (max of the two one-sided Welch p's) and the refutation p (difference beyond
    the margin on either side: the smaller of the two outward one-sided p's)."""
    p_lo, p_out_lo = welch_p(x, y, -margin)   # H1: diff > -margin ; mirror: diff < -margin
    p_out_hi, p_hi = welch_p(x, y, margin)    # H1: diff > margin ; mirror: diff < margin
    return np.maximum(p_lo, p_hi), np.minimum(p_out_lo, p_out_hi)


def diff_of_diffs_p(a1, b1, a2, b2) -> tuple[np.ndarray, np.ndarray]:
    arms = (a1, b1, a2, b2)
    u = [x.var(axis=-1, ddof=1) / x.shape[-1] for x in arms]
    se2 = sum(u)
    c = (a1.mean(-1) - b1.mean(-1)) - (a2.mean(-1) - b2.mean(-1))
    t = c / np.sqrt(se2)
    df = se2 * se2 / sum(ui * ui / (x.shape[-1] - 1) for ui, x in zip(u, arms))
    return special.stdtr(df, -t), special.stdtr(df, t)


# ---------------------------------------------------------------- trend
def kendall_p(levels: Sequence[float], arms: Sequence[np.ndarray], increasing: bool = True
              ) -> tuple[np.ndarray, np.ndarray]:
    """One-sided p of Kendall's tau-b between level and value (ties only in the levels,
    continuous values), by the tie-corrected normal approximation that
    ``scipy.stats.kendalltau`` uses in that case; and the mirror p."""
    s = kendall_s(levels, arms)
    t = np.array([a.shape[-1] for a in arms], dtype=float)
    n = t.sum()
    var_s = (n * (n - 1) * (2 * n + 5) - (t * (t - 1) * (2 * t + 5)).sum()) / 18.0
    z = s / np.sqrt(var_s)
    if not increasing:
        z = -z
    return special.ndtr(-z), special.ndtr(z)


def kendall_s(levels: Sequence[float], arms: Sequence[np.ndarray]) -> np.ndarray:
    """Kendall's S = sum over pairs of runs at different levels of sign(level difference) x
    sign(value difference), in O(n log n) per pair of levels (issue 27: the pairwise form
    needed 760 GiB at 100,000 runs). For two arms, sum over u in a, v in b of sign(v - u) is
    2 U - n_a n_b with U the Mann-Whitney count from midranks (ties count 1/2: sign 0)."""
    s = np.zeros(np.broadcast_shapes(*(np.shape(a)[:-1] for a in arms)))
    for ia in range(len(arms)):
        for ib in range(ia + 1, len(arms)):
            direction = np.sign(float(levels[ib]) - float(levels[ia]))
            if direction == 0:
                continue
            a, b = np.asarray(arms[ia], dtype=float), np.asarray(arms[ib], dtype=float)
            na, nb = a.shape[-1], b.shape[-1]
            ranks = rankdata(np.concatenate([a, b], axis=-1), axis=-1)
            u = ranks[..., na:].sum(axis=-1) - nb * (nb + 1) / 2.0
            s = s + direction * (2.0 * u - na * nb)
    return s


def trend_p(levels: Sequence[float], arms: Sequence[np.ndarray], increasing: bool = True
            ) -> tuple[np.ndarray, np.ndarray]:
    """The ``trend`` rule on raw values: claim p = max(p_tau, p_contrast) (intersection-
    union); refutation p = max of the two mirror p's (the same rule for the opposite trend)."""
    order = np.argsort(levels)
    levels = [levels[k] for k in order]
    arms = [arms[k] for k in order]
    p_tau, p_tau_opp = kendall_p(levels, arms, increasing)
    hi, lo = (arms[-1], arms[0]) if increasing else (arms[0], arms[-1])
    p_c, p_c_opp = welch_p(hi, lo)
    return np.maximum(p_tau, p_c), np.maximum(p_tau_opp, p_c_opp)


# ---------------------------------------------------------------- spread of level means
# Tanh-sinh (double-exponential) rule on (0, 1): u = (1 + tanh(pi/2 sinh t)) / 2 at equally
# spaced t. It integrates functions with endpoint singularities (here a power of u near u = 0,
# where the quantile of an F variable behaves like u^(2/df)) to near machine precision; 41
# nodes at step 0.15 agree with adaptive quadrature to 4e-10 over F dfs 1-40 (checked in
# tests/test_stats.py against scipy.integrate.quad and by Monte Carlo).
_TS_STEP, _TS_NODES = 0.15, 41
_ts_t = (np.arange(_TS_NODES) - (_TS_NODES - 1) / 2) * _TS_STEP
_ts_s = np.pi / 2 * np.sinh(_ts_t)
_TS_U, _TS_1MU = special.expit(2 * _ts_s), special.expit(-2 * _ts_s)  # u and 1 - u, both exact
_TS_W = _TS_STEP * (np.pi / 2) * np.cosh(_ts_t) / (2 * np.cosh(_ts_s) ** 2)


def _g_quantiles(e1, e2) -> np.ndarray:
    """The quadrature's nodes for G ~ F(e1, e2): its quantiles at the tanh-sinh points, an
    extra last axis of length _TS_NODES (upper half from the lower quantile of 1/G ~ F(e2, e1),
    so that 1 - u keeps its precision)."""
    e1, e2 = np.asarray(e1, dtype=float)[..., None], np.asarray(e2, dtype=float)[..., None]
    with np.errstate(divide="ignore", over="ignore"):
        return np.where(_TS_U < 0.5, special.fdtri(e1, e2, _TS_U), 1.0 / special.fdtri(e2, e1, _TS_1MU))


def _sf_over_g(x, d1, d2, g) -> np.ndarray:
    """E_G[P(F(d1, d2) >= x / G)] from G's quantile nodes ``g`` (``_g_quantiles``)."""
    x, d1, d2 = (np.asarray(v, dtype=float)[..., None] for v in (x, d1, d2))
    with np.errstate(divide="ignore", invalid="ignore"):
        sf = special.fdtrc(d1, d2, x / g)
    return np.clip(sf @ _TS_W, 0.0, 1.0)


def product_f_sf(x, d1, d2, e1, e2) -> np.ndarray:
    """P(F * G >= x) for independent F ~ F(d1, d2) and G ~ F(e1, e2) (real dfs >= 1, arrays
    broadcast): E_G[P(F >= x / G)], integrated over G's quantiles u in (0, 1) by the tanh-sinh
    rule. x = inf gives 0, x = 0 gives 1."""
    x, d1, d2, e1, e2 = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (x, d1, d2, e1, e2)))
    return _sf_over_g(x, d1, d2, _g_quantiles(e1, e2))


def level_spread(means, variances, n) -> tuple[np.ndarray, ...]:
    """One family's level means and their noise: means and variances (..., k), n (k,) runs
    per cell (all >= 2). Returns

    * s2   = var_j(level means), ddof=1; E[s2] = tau^2 + mean_j(sigma_j^2 / n_j), tau^2 the
      variance of the true level effects;
    * vhat = mean_j(var_j / n_j), the unbiased estimate of that noise term (whatever the
      cell variances);
    * f1   = Satterthwaite df of s2 at tau = 0 (s2 is then a quadratic form in independent
      normals of variances u_j = var_j / n_j): tr(CU)^2 / tr(CUCU), C the centring matrix;
      k - 1 when the u_j are equal, fewer when one cell's noise dominates;
    * f2   = Welch-Satterthwaite df of vhat: (sum u)^2 / sum(u^2 / (n - 1)).

    A family with zero variance in every cell gets the nominal dfs (k - 1, sum(n - 1))."""
    m, v = np.asarray(means, dtype=float), np.asarray(variances, dtype=float)
    n = np.asarray(n, dtype=float)
    k = n.size
    u = v / n
    su = u.sum(-1)
    sq = (u * u).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = ((1 - 1 / k) * su) ** 2 / ((1 - 2 / k) * sq + su * su / k ** 2)
        f2 = su * su / (u * u / (n - 1)).sum(-1)
    zero = su == 0
    f1 = np.where(zero, k - 1.0, f1)
    f2 = np.where(zero, float((n - 1).sum()), f2)
    return m.var(-1, ddof=1), su / k, f1, f2


def spread_ratio_p(a: tuple, b: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Noise-corrected one-sided spread ratio, H1: tau_A > tau_B; a and b are
    ``level_spread`` tuples (s2, vhat, f1, f2). Returns (p, T) with

        T = (s2_A / s2_B) / max(1, vhat_A / vhat_B),

    p = P(Q >= T), Q ~ F(f1_A, f1_B) * F(f2_B, f2_A) (independent; ``product_f_sf``). Q is
    the distribution of (s2_A / vhat_A) / (s2_B / vhat_B) when neither family has level
    effects (exact with a common variance and n within each family, Satterthwaite otherwise),
    and T <= that ratio, so the test is conservative at tau = 0 whatever the noise of either
    family; with equal nonzero tau the ratio s2_A / s2_B estimates (tau^2 + v_A) / (tau^2 + v_B)
    <= max(1, v_A / v_B). Zero variance: both vhat 0 (the level means are exact) is decisive
    (p = 0 iff s2_A > s2_B, else 1); T = x/0 is inf (p = 0), 0/0 gives p = 1."""
    s2a, va, f1a, f2a = (np.asarray(x, dtype=float) for x in a)
    s2b, vb, f1b, f2b = (np.asarray(x, dtype=float) for x in b)
    num, den = s2a * vb, s2b * np.maximum(va, vb)
    with np.errstate(divide="ignore", invalid="ignore"):
        T = np.where(den > 0, num / den, np.where(num > 0, np.inf, np.nan))
    p = product_f_sf(np.nan_to_num(T, nan=0.0, posinf=np.inf), f1a, f1b, f2b, f2a)
    p = np.where(np.isnan(T), 1.0, np.where(np.isinf(T), 0.0, p))
    exact = (va == 0) & (vb == 0)
    p = np.where(exact, np.where(s2a > s2b, 0.0, 1.0), p)
    return p, T


def interaction_f(mA, mB, vA, vB, nA, nB) -> tuple[np.ndarray, np.ndarray]:
    """Family x level interaction F of the 2 x k layout from cell summaries (pooled
    within-cell MSE, df2 = N - 2k) and its p."""
    nA, nB = np.asarray(nA, float), np.asarray(nB, float)
    k = nA.size
    N = nA.sum() + nB.sum()
    df1, df2 = k - 1, N - 2 * k
    mse = (((nA - 1) * vA).sum(-1) + ((nB - 1) * vB).sum(-1)) / df2
    w = 1.0 / (1.0 / nA + 1.0 / nB)
    d = mA - mB
    dbar = (w * d).sum(-1, keepdims=True) / w.sum()
    F = (w * (d - dbar) ** 2).sum(-1) / df1 / mse
    return F, special.fdtrc(df1, df2, F)


def spread_p_from_summaries(mA, mB, vA, vB, nA, nB) -> tuple[np.ndarray, np.ndarray, dict]:
    """``spread_greater`` from cell means (reps, k), cell variances (reps, k) and cell n
    (k,): claim p = max(p_interaction, p_spread_ratio), refutation p = max(p_interaction,
    p_spread_ratio_opposite), the spread ratio by ``spread_ratio_p`` each way."""
    F, p_int = interaction_f(mA, mB, vA, vB, nA, nB)
    a, b = level_spread(mA, vA, nA), level_spread(mB, vB, nB)
    p_dir, T = spread_ratio_p(a, b)
    p_dir_opp, T_opp = spread_ratio_p(b, a)
    return np.maximum(p_int, p_dir), np.maximum(p_int, p_dir_opp), {
        "F": F, "p_interaction": p_int, "p_spread_ratio": p_dir, "p_spread_ratio_opposite": p_dir_opp,
        "T": T, "T_opposite": T_opp, "a": a, "b": b}


def _cell_summaries(a_arms, b_arms):
    mA = np.stack([a.mean(-1) for a in a_arms], -1)
    mB = np.stack([b.mean(-1) for b in b_arms], -1)
    vA = np.stack([a.var(-1, ddof=1) for a in a_arms], -1)
    vB = np.stack([b.var(-1, ddof=1) for b in b_arms], -1)
    return mA, mB, vA, vB, [a.shape[-1] for a in a_arms], [b.shape[-1] for b in b_arms]


def spread_p(a_arms: Sequence[np.ndarray], b_arms: Sequence[np.ndarray]):
    return spread_p_from_summaries(*_cell_summaries(a_arms, b_arms))[:2]


# ---------------------------------------------------------------- power searches (MDE)
def _solve_80(power_at, lo: float, hi: float, target: float, log: bool, iters: int = 40) -> float:
    """Smallest effect in [lo, hi] with power_at(effect) >= target, by bisection to 0.5%
    (power is monotone in the effect up to Monte-Carlo noise; common random numbers keep it
    smooth; at MDE_REPS replicates the power itself has a standard error of about 0.009)."""
    for _ in range(12):  # widen the bracket if needed
        if power_at(hi) >= target:
            break
        lo, hi = hi, hi * 4
    else:
        return float("nan")
    for _ in range(iters):
        mid = float(np.sqrt(lo * hi)) if log else 0.5 * (lo + hi)
        if power_at(mid) >= target:
            hi = mid
        else:
            lo = mid
        if (hi / lo - 1 if log else (hi - lo) / max(hi, 1e-300)) < 5e-3:
            break
    return hi


@lru_cache(maxsize=1024)
def variance_mde(n_a: Sequence[int], n_b: Sequence[int], alpha: float, power: float,
                 reps: int = MDE_REPS) -> float:
    """SD ratio (A/B, every arm of a side with the same SD) at which ``variance_greater``
    says supported with probability ``power``, normal runs. nan if even 1000 is not enough."""
    rng = np.random.default_rng(MDE_SEED)
    za = [rng.standard_normal((reps, n)) for n in n_a]
    zb = [rng.standard_normal((reps, n)) for n in n_b]
    sb = [bf_scores(z) for z in zb]
    mb, vb, db = _stratified(sb)
    sa0 = [bf_scores(z) for z in za]
    ma0, va0, da0 = _stratified(sa0)

    def power_at(r: float) -> float:
        # scores scale with sd^(1/3): rescale instead of redrawing
        c = r ** BF_POWER
        ma, va, da = ma0 * c, va0 * c * c, da0 * c ** 4
        se2 = va + vb
        t = (ma - mb) / np.sqrt(se2)
        df = se2 * se2 / (da + db)
        return float((special.stdtr(df, -t) < alpha).mean())

    return _solve_80(power_at, 1.0, 16.0, power, log=True)


def trend_mde(levels: Sequence[float], ns: Sequence[int], sds: Sequence[float], alpha: float,
              power: float, reps: int = MDE_REPS) -> float:
    """End-to-end difference (last - first level, in the claimed direction) at which
    ``trend`` says supported with probability ``power``, when the means rise in equal steps
    over the sorted levels and each arm keeps its own SD (normal runs)."""
    order = np.argsort(levels)
    lv = [levels[k] for k in order]
    ns = [ns[k] for k in order]
    sds = [sds[k] for k in order]
    rng = np.random.default_rng(MDE_SEED)
    noise = [s * rng.standard_normal((reps, n)) for s, n in zip(sds, ns)]
    k = len(lv)
    steps = np.arange(k) / (k - 1)

    def power_at(delta: float) -> float:
        arms = [z + delta * st for z, st in zip(noise, steps)]
        return float((trend_p(lv, arms, True)[0] < alpha).mean())

    scale = max(float(np.sqrt(sds[0] ** 2 / ns[0] + sds[-1] ** 2 / ns[-1])), 1e-12)
    return _solve_80(power_at, 0.0, 6.0 * scale, power, log=False)


@lru_cache(maxsize=1024)
def spread_mde(nA: Sequence[int], nB: Sequence[int], alpha: float, power: float,
               reps: int = MDE_REPS) -> float:
    """Cohen's f of the interaction at which ``spread_greater`` says supported with
    probability ``power``, when family A's level means rise in equal steps, family B is
    flat and the within-cell SD is common (normal runs; simulated from cell summaries)."""
    nA, nB = np.asarray(nA, float), np.asarray(nB, float)
    k = nA.size
    rng = np.random.default_rng(MDE_SEED)
    eA = rng.standard_normal((reps, k)) / np.sqrt(nA)
    eB = rng.standard_normal((reps, k)) / np.sqrt(nB)
    vA = rng.chisquare(np.maximum(nA - 1, 1), (reps, k)) / np.maximum(nA - 1, 1)
    vB = rng.chisquare(np.maximum(nB - 1, 1), (reps, k)) / np.maximum(nB - 1, 1)
    prof = np.arange(k) - (k - 1) / 2
    w = 1.0 / (1.0 / nA + 1.0 / nB)
    N = nA.sum() + nB.sum()

    def f_of(step: float) -> float:
        d = step * prof
        dbar = (w * d).sum() / w.sum()
        return float(np.sqrt((w * (d - dbar) ** 2).sum() / N))

    # Only A's level means move with the step: B's summaries, A's noise terms, hence the
    # spread ratio's dfs and the quadrature nodes, are fixed per replicate (computed once).
    s2b, vhb, f1b, f2b = level_spread(eB, vB, nB)
    _, vha, f1a, f2a = level_spread(eA, vA, nA)
    g = _g_quantiles(f2b, f2a)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = vhb / (s2b * np.maximum(vha, vhb))  # T = s2_A * scale

    def power_at(step: float) -> float:
        mA = eA + step * prof
        hit = interaction_f(mA, eB, vA, vB, nA, nB)[1] < alpha
        # the spread ratio (the slow part) only where the interaction is significant
        T = mA[hit].var(-1, ddof=1) * scale[hit]
        p_dir = _sf_over_g(T, f1a[hit], f1b[hit], g[hit])
        return float((p_dir < alpha).sum() / reps)

    step = _solve_80(power_at, 0.0, 8.0, power, log=False)
    return f_of(step) if np.isfinite(step) else float("nan")
