"""Vectorised versions of the decision rules of :mod:`harness.statistics.stats`, for Monte-Carlo work.

Each function takes simulated data with a leading replicate axis (arrays of shape
(reps, n) per arm) and returns, per replicate, the p-value of the claim and the p-value of
its refutation, computed with the same formulas as the scalar functions in
``harness.statistics.stats`` (``tests/test_calibration.py`` checks them against each other on the
first replicates of every simulation). Three uses:

* the minimum detectable effect of rules that have no power formula (``variance_greater``,
  ``trend``) is found by simulating the rule itself;
* ``spread_greater``'s rule itself lives here (``tau2_hat``, ``spread_test``: the scalar
  function calls it with one replicate);
* ``harness.statistics.calibration`` measures null rates and power for docs/STATISTICS.md and for the
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
    # "the same" up to a few ulps of the values: deviations from a median that are equal in
    # exact arithmetic (|2 - 1.475| and |0.95 - 1.475|) can differ in the last bit
    same = np.ptp(x, axis=-1) <= 16 * np.finfo(float).eps * np.max(np.abs(x), axis=-1)
    return np.where(same, 0.0, x.var(axis=-1, ddof=1))


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


def stratified_df(se2, den, side_a: Sequence[int], side_b: Sequence[int]):
    """df of the stratified score contrast: the Satterthwaite df, but never more than the
    smaller side's pooled sum(m_i - 1) (m_i: scores of arm i). With one arm per side that is
    Hsu's min(m) - 1 (:func:`contrast_df`), which the Satterthwaite df exceeded at n 4 vs 8
    (1.24x nominal at alpha/17); with several arms per side the Satterthwaite df held at
    alpha/17 (docs/STATISTICS.md), and Hsu's min over six arms would cost most of the power."""
    cap = min(sum(m - 1 for m in side_a), sum(m - 1 for m in side_b))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.minimum(se2 * se2 / den, cap)


def variance_p(a_arms: Sequence[np.ndarray], b_arms: Sequence[np.ndarray]
               ) -> tuple[np.ndarray, np.ndarray, dict]:
    """One-sided p (H1: side A spreads more) and the opposite p of the stratified t on
    Brown-Forsythe scores (df: :func:`stratified_df`); arms are (reps, n_i) arrays with n_i >= 3."""
    sa = [bf_scores(a) for a in a_arms]
    sb = [bf_scores(b) for b in b_arms]
    ma, va, da = _stratified(sa)
    mb, vb, db = _stratified(sb)
    se2 = va + vb
    df = stratified_df(se2, da + db, [s.shape[-1] for s in sa], [s.shape[-1] for s in sb])
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (ma - mb) / np.sqrt(se2)
    p, p_opp = special.stdtr(df, -t), special.stdtr(df, t)
    return p, p_opp, {"mean_a": ma, "mean_b": mb, "var_a": va, "var_b": vb, "t": t, "df": df,
                      "se": np.sqrt(se2)}


# ---------------------------------------------------------------- t-type rules
def contrast_df(ns: Sequence[int]) -> float:
    """Degrees of freedom of every Welch-type contrast of independent arm means in the suite
    (two means, TOST, difference of differences, the trend's end contrast, the Brown-Forsythe
    score contrast): Hsu's min(n_i) - 1, where n_i counts what each arm contributes.

    Why not the Welch-Satterthwaite df: Holm judges the first claim at alpha/17 ~ 0.003, and
    there Welch's df is anti-conservative when the arms' spreads differ: 2.2x nominal with
    n 4 (SD 3) vs 10 (SD 1), 1.3x at n 5 vs 5 with one arm 3x noisier (issue 21 item 6;
    docs/STATISTICS.md "Calibrated at the level used", benchmarks/level_calibration.py).
    A t on min(n_i) - 1 df bounds the contrast's null tail for every variance ratio
    (Hsu 1938; Mickey & Brown 1966); the power it costs is in the same table. A permutation
    test was the other candidate: exact, but its p floor at 5 vs 5 (1/252) is above alpha/17."""
    return float(min(ns) - 1)


def welch_p(x: np.ndarray, y: np.ndarray, margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """One-sided Welch p for H1: mean_x - mean_y > margin, and the mirror p."""
    nx, ny = x.shape[-1], y.shape[-1]
    ux, uy = x.var(axis=-1, ddof=1) / nx, y.var(axis=-1, ddof=1) / ny
    se2 = ux + uy
    t = (x.mean(axis=-1) - y.mean(axis=-1) - margin) / np.sqrt(se2)
    df = contrast_df((nx, ny))
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
    df = contrast_df([x.shape[-1] for x in arms])
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
#: bootstrap replicates and seed of spread_greater's reference distribution. Fixed, so that a
#: re-judge of the same runs gives the same p (common random numbers: the standard draws are
#: made once per cell layout and rescaled to each data set). p has a floor of 1/(B + 1) =
#: 0.0005, below Holm's first level 0.05/17 = 0.0029.
SPREAD_BOOT = 2000
SPREAD_SEED = 5150


def tau2_hat(means, variances, n) -> tuple[np.ndarray, np.ndarray]:
    """One family's level effects, treated as FIXED (the levels are the knob's settings the
    claim names, not a sample of settings): cell means and variances (..., k), runs per cell
    n (k,), all >= 2. Returns

    * tau2 = s2 - vhat, with s2 = var_j(level means) (ddof=1) and vhat = mean_j(var_j / n_j):
      unbiased for tau^2 = sum_j (mu_j - mu_bar)^2 / (k - 1), the variance of the true level
      effects, whatever the cell variances (E[s2] = tau^2 + mean_j(sigma_j^2 / n_j));
    * its variance: s2 is a quadratic form in independent normal means m ~ N(mu, U), U =
      diag(sigma_j^2 / n_j), so Var(s2) = (2 tr(CUCU) + 4 delta' U delta) / (k - 1)^2 (C the
      centring matrix, delta = C mu); Var(vhat) = sum_j 2 u_j^2 / (n_j - 1) / k^2; means and
      variances are independent. Plug-in: U from the cell variances, delta from the
      observed centred means."""
    m, v = np.asarray(means, dtype=float), np.asarray(variances, dtype=float)
    n = np.asarray(n, dtype=float)
    k = n.size
    u = v / n
    c = m - m.mean(-1, keepdims=True)
    s2 = (c * c).sum(-1) / (k - 1)
    su, sq = u.sum(-1), (u * u).sum(-1)
    tr = (1 - 2 / k) * sq + su * su / k ** 2
    var = (2 * tr + 4 * (c * c * u).sum(-1)) / (k - 1) ** 2 + 2 * (u * u / (n - 1)).sum(-1) / k ** 2
    return s2 - su / k, var


def _z(tA, vA, tB, vB) -> np.ndarray:
    """Studentised tau2_A - tau2_B; x/0 is +-inf, 0/0 is 0."""
    d, se2 = tA - tB, vA + vB
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(se2 > 0, d / np.sqrt(se2), np.where(d > 0, np.inf, np.where(d < 0, -np.inf, 0.0)))


@lru_cache(maxsize=64)
def _spread_draws(nA: tuple, nB: tuple, boots: int) -> tuple[np.ndarray, ...]:
    """The bootstrap's standard draws for one cell layout (fixed seed): normal noise of the
    cell means and chi-square / df factors of the cell variances, (boots, k) each family."""
    rng = np.random.default_rng(SPREAD_SEED)
    out = []
    for ns in (nA, nB):
        df = np.asarray(ns, dtype=float) - 1
        out += [rng.standard_normal((boots, len(ns))), rng.chisquare(df, (boots, len(ns))) / df]
    return tuple(out)


def spread_test(mA, vA, nA, mB, vB, nB, boots: int = SPREAD_BOOT, chunk: int = 256,
                boundary: str = "sup") -> dict:
    """``spread_greater``'s rule on cell summaries: means and variances (reps, k) per family,
    runs per cell nA, nB (k,), every n >= 2. H1: tau_A > tau_B (tau^2 as in ``tau2_hat``).

    Statistic z = (tau2_A - tau2_B) / SE, the studentised difference of the noise-corrected
    spreads. Reference: a parametric bootstrap at the boundary of the null, tau_A = tau_B =
    tau_0: each family's observed centred profile rescaled to variance tau_0^2 (flat when
    tau_0 = 0), cell means redrawn as N(profile, var_j / n_j) and cell variances as
    var_j chi2(n_j - 1) / (n_j - 1), z recomputed; p = (1 + #{z* >= z}) / (B + 1), the
    refutation's p = (1 + #{z* <= z}) / (B + 1) (the mirror hypothesis has the same
    boundary). The null is composite and z is not pivotal when one family is much noisier
    (its lower bound depends on the other family's tau), so tau_0^2 is tried at both
    families' estimates (clipped at 0) and each p is the larger: at the mean of the two
    alone, crossed profiles with a 3x noisier family were refuted 0.10-0.16 of the time.
    Returns arrays (reps,): p, p_refuted, z, tau2_a, tau2_b, se, and the bootstrap's
    2.5/97.5% quantiles of z* (q_lo, q_hi) for the interval of tau2_a - tau2_b."""
    mA, vA, mB, vB = (np.atleast_2d(np.asarray(x, dtype=float)) for x in (mA, vA, mB, vB))
    nA, nB = tuple(int(x) for x in nA), tuple(int(x) for x in nB)
    tA, wA = tau2_hat(mA, vA, nA)
    tB, wB = tau2_hat(mB, vB, nB)
    z = _z(tA, wA, tB, wB)
    zA, xA, zB, xB = _spread_draws(nA, nB, boots)
    # the null is composite (any common tau): the boundary points tried are the two
    # families' own estimates, and p is the larger (supremum over the nuisance tau)
    # (boundary="mean": one point, the mean of the two; kept only to show in
    # harness.statistics.calibration why it is not enough)
    tau0s = ((np.maximum(0.0, tA), np.maximum(0.0, tB)) if boundary == "sup"
             else (np.maximum(0.0, (tA + tB) / 2),))
    p, p_ref = np.zeros_like(z), np.zeros_like(z)
    q_lo, q_hi = np.full_like(z, np.inf), np.full_like(z, -np.inf)
    for s in range(0, z.size, chunk):
        sl = slice(s, s + chunk)
        for tau0 in tau0s:
            sims = []
            for m, v, ns, zz, xx in ((mA, vA, nA, zA, xA), (mB, vB, nB, zB, xB)):
                m, v = m[sl], v[sl]
                c = m - m.mean(-1, keepdims=True)
                s2 = (c * c).sum(-1, keepdims=True) / (len(ns) - 1)
                with np.errstate(divide="ignore", invalid="ignore"):
                    scale = np.where(s2 > 0, np.sqrt(tau0[sl, None] / s2), 0.0)
                prof = (c * scale)[:, None, :]
                sd = np.sqrt(v / np.asarray(ns, dtype=float))[:, None, :]
                sims.append(tau2_hat(prof + sd * zz[None], v[:, None, :] * xx[None], ns))
            zs = _z(*sims[0], *sims[1])
            p[sl] = np.maximum(p[sl], (1 + (zs >= z[sl, None]).sum(-1)) / (boots + 1))
            p_ref[sl] = np.maximum(p_ref[sl], (1 + (zs <= z[sl, None]).sum(-1)) / (boots + 1))
            lo, hi = np.quantile(zs, [0.025, 0.975], axis=-1)
            q_lo[sl], q_hi[sl] = np.minimum(q_lo[sl], lo), np.maximum(q_hi[sl], hi)
    return {"p": p, "p_refuted": p_ref, "z": z, "tau2_a": tA, "tau2_b": tB,
            "se": np.sqrt(wA + wB), "q_lo": q_lo, "q_hi": q_hi}


def _cell_summaries(a_arms, b_arms):
    mA = np.stack([a.mean(-1) for a in a_arms], -1)
    mB = np.stack([b.mean(-1) for b in b_arms], -1)
    vA = np.stack([a.var(-1, ddof=1) for a in a_arms], -1)
    vB = np.stack([b.var(-1, ddof=1) for b in b_arms], -1)
    return mA, mB, vA, vB, [a.shape[-1] for a in a_arms], [b.shape[-1] for b in b_arms]


def spread_p(a_arms: Sequence[np.ndarray], b_arms: Sequence[np.ndarray]):
    """``spread_greater`` on raw runs, arms (reps, n_j) per cell: (p, p_refuted)."""
    mA, mB, vA, vB, nA, nB = _cell_summaries(a_arms, b_arms)
    r = spread_test(mA, vA, nA, mB, vB, nB)
    return r["p"], r["p_refuted"]


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
        df = stratified_df(se2, da + db, [s.shape[-1] for s in sa0], [s.shape[-1] for s in sb])
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
    """tau_A^2 / sigma^2 (family A's level-effect variance in units of the common within-cell
    variance; B flat) at which ``spread_greater`` says supported with probability ``power``,
    A's level means rising in equal steps. Normal approximation of the studentised statistic
    (its reference is close to normal once tau_A is well above the noise; the simulated power
    at this value is checked in tests/test_calibration.py): the t with
    t = (z_{1-alpha} + z_power) * SE(t), SE from ``tau2_hat``'s variance at the expected cell
    summaries, solved by fixed-point iteration. ``reps`` is kept for the callers' signature
    (harness.statistics.sequential); the formula needs no replicates."""
    nA, nB = np.asarray(nA, float), np.asarray(nB, float)
    k = nA.size
    prof = np.arange(k) - (k - 1) / 2
    prof = prof / np.sqrt((prof ** 2).sum() / (k - 1))  # unit tau
    q = float(special.ndtri(1 - alpha) + special.ndtri(power))
    _, wB = tau2_hat(np.zeros(k), np.ones(k), nB)
    t = 0.0
    for _ in range(200):
        _, wA = tau2_hat(np.sqrt(t) * prof, np.ones(k), nA)
        t_new = q * float(np.sqrt(wA + wB))
        if abs(t_new - t) < 1e-10 * max(1.0, t):
            break
        t = t_new
    return t_new
