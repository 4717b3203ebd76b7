"""Group-sequential claims (harness/statistics/sequential.py): the design, the option parsing, and the
calibration of every test family by simulation under its null at the boundary.

The simulations are vectorised re-implementations of the families' p-values (numpy over
replicates); ``test_vectorised_p_values_match_stats`` ties each one to the function in
harness.statistics.stats that the claims really call, so the calibration is about the real tests.
Futility is left out of the simulations: it only ever stops a claim without a verdict, so
leaving it out gives the largest possible type-I error.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy import special

from harness.statistics import multiplicity, sequential, simulate, stats
from harness.statistics.sequential import Design

ALPHA = 0.05
STAGES = (5, 10, 20)
DESIGN = Design(STAGES, ALPHA)
NAIVE = (ALPHA,) * len(STAGES)  # alpha at every look: the design the spending corrects
REPS = 20_000


# -- the design -------------------------------------------------------------------------------
def test_obf_levels_spend_exactly_alpha_and_little_early():
    assert sum(DESIGN.levels) == pytest.approx(ALPHA, abs=1e-12)
    assert DESIGN.levels[0] < 1e-3 < DESIGN.levels[1] < DESIGN.levels[2] < ALPHA
    # Lan-DeMets OBF at t = 1/4: 2 * (1 - Phi(1.96 / 0.5))
    assert DESIGN.levels[0] == pytest.approx(2 * special.ndtr(-special.ndtri(0.975) / 0.5), rel=1e-9)


def test_pocock_spends_evenly():
    lv = Design(STAGES, ALPHA, "pocock").levels
    assert sum(lv) == pytest.approx(ALPHA)
    assert max(lv) / min(lv) < 1.5


@pytest.mark.parametrize("stages", [(), (5, 5), (10, 5), (1, 5)])
def test_bad_stages_are_refused(stages):
    with pytest.raises(ValueError, match="increasing whole numbers"):
        Design(stages, ALPHA)


def test_cap_stages():
    assert sequential.cap_stages((5, 10, 20), None) == (5, 10, 20)
    assert sequential.cap_stages((5, 10, 20), 10) == (5, 10)
    assert sequential.cap_stages((5, 10, 20), 15) == (5, 10, 15)
    assert sequential.cap_stages((5, 10, 20), 40) == (5, 10, 20)
    with pytest.raises(ValueError, match="below the first stage"):
        sequential.cap_stages((5, 10, 20), 3)


@pytest.mark.parametrize("value, message", [("abc", "whole number of seeds"), ("0", "at least 2"),
                                            ("1", "at least 2"), ("2.5", "whole number")])
def test_bad_seeds_values(value, message):
    with pytest.raises(ValueError, match=message):
        sequential.parse_seeds(value)


def test_seeds_values():
    assert sequential.parse_seeds("auto") == "auto"
    assert sequential.parse_seeds("7") == 7
    assert sequential.parse_seeds(None) is None
    with pytest.raises(ValueError, match="whole number"):
        sequential.parse_max_seeds("x")


# -- futility ---------------------------------------------------------------------------------
def _arm(label, values):
    return stats.Arm.from_values(label, values)


#: the design a claim actually runs: alpha / m of Holm's first step over the 17 declared claims
DESIGN_M = Design(STAGES, ALPHA / 17)


def _welch_at(shift, n=10, seed=1):
    """Welch evidence at DESIGN_M's last level: arm a = arm b's values + shift."""
    b = np.random.default_rng(seed).normal(0, 1, n)
    return stats.mean_greater(_arm("a", b + shift), _arm("b", b), alpha=DESIGN_M.levels[-1])


def test_futility_is_two_sided_a_claim_heading_for_refuted_keeps_its_seeds():
    """issue 21: one-sided futility stopped claims whose effect was the opposite of the
    paper's (refuted 0.42 of the time under auto against 0.93 at fixed n)."""
    null, against, promising = _welch_at(0.0), _welch_at(-0.6), _welch_at(0.6)
    assert {e.verdict for e in (null, against, promising)} == {stats.INCONCLUSIVE}
    assert sequential.reachable(null.to_dict(), 10, 20) == (False, False)
    assert sequential.futile(null.to_dict(), 10, 20)
    # the old rule stopped this one: its interval's top lies below the last stage's MDE
    assert against.ci[1] < sequential.scaled_mde(against.to_dict(), 10, 20)
    assert sequential.reachable(against.to_dict(), 10, 20) == (False, True)
    assert not sequential.futile(against.to_dict(), 10, 20)
    assert sequential.reachable(promising.to_dict(), 10, 20) == (True, False)
    assert not sequential.futile(promising.to_dict(), 10, 20)


def test_futility_of_all_of_needs_every_part_for_supported_and_any_part_for_refuted():
    null, against, sure = _welch_at(0.0), _welch_at(-0.6), _welch_at(5.0)
    assert sure.verdict == stats.SUPPORTED
    assert sequential.futile(stats.all_of([sure, null]).to_dict(), 10, 20)
    assert not sequential.futile(stats.all_of([sure, against]).to_dict(), 10, 20)  # may be refuted
    assert not sequential.futile(stats.all_of([sure, _welch_at(0.6)]).to_dict(), 10, 20)


def test_tost_futility_compares_the_margin_on_both_sides():
    x = np.random.default_rng(2).normal(0, 1, 10)
    level = DESIGN_M.levels[-1]
    se = stats.equivalent(_arm("a", x), _arm("b", x[::-1]), margin=1.0, alpha=level).details["se"]
    # difference 0 and a margin between the two reaches at 10 of 20 seeds: neither verdict
    # within reach (at 5 seeds Hsu's df of 4 leaves the interval too wide to rule out refuted)
    stuck = stats.equivalent(_arm("a", x), _arm("b", x[::-1]), margin=1.5 * se, alpha=level)
    assert sequential.reachable(stuck.to_dict(), 10, 20) == (False, False)
    x = x[:5]
    quiet = stats.equivalent(_arm("a", x * 0.3), _arm("b", x[::-1] * 0.3 + 0.1), margin=2.0, alpha=level)
    assert sequential.reachable(quiet.to_dict(), 5, 20)[0]
    noisy = stats.equivalent(_arm("a", x * 10), _arm("b", x[::-1] * 10), margin=0.5, alpha=level)
    assert sequential.reachable(noisy.to_dict(), 5, 20) == (False, True)  # could still be refuted


def test_the_rule_reads_the_evidences_data_never_its_test_name():
    """issue 21: sequential.py recognised TOST, the spread test and SD ratios by name text."""
    rng = np.random.default_rng(4)
    level = DESIGN_M.levels[-1]
    x = rng.normal(0, 1, 5)
    evs = [stats.equivalent(_arm("a", x), _arm("b", x[::-1]), margin=1.0, alpha=level),
           stats.variance_greater(_arm("a", rng.normal(0, 1.2, 5)), _arm("b", rng.normal(0, 1, 5)), alpha=level),
           stats.spread_greater([_arm(f"a{j}", rng.normal(0.3 * j, 1, 5)) for j in range(3)],
                                [_arm(f"b{j}", rng.normal(0, 1, 5)) for j in range(3)], alpha=level),
           _welch_at(0.0)]
    for ev in evs:
        d = ev.to_dict()
        renamed = dict(d, test="renamed", effect_label="renamed")
        assert sequential.reachable(renamed, 5, 20) == sequential.reachable(d, 5, 20)
        assert sequential.scaled_mde(renamed, 5, 20) == sequential.scaled_mde(d, 5, 20)


def test_spread_futility_uses_the_rules_simulated_mde_at_the_last_stage():
    """spread_greater's MDE is simulated again at n_last, not scaled by sqrt(n): the spread
    ratio's dfs grow with n, so scaling overstates the last stage's MDE and would stop claims
    the last stage could show. A claim whose upper bound lies between the two MDEs is futile
    under scaling but goes on under the rule's own MDE."""
    rng = np.random.default_rng(3)
    level = DESIGN.levels[-1]
    fam_a = [_arm(f"a{j}", rng.normal(0.6 * j, 1, 5)) for j in range(3)]
    fam_b = [_arm(f"b{j}", rng.normal(0, 1, 5)) for j in range(3)]
    ev = stats.spread_greater(fam_a, fam_b, alpha=level).to_dict()
    own = simulate.spread_mde((20,) * 3, (20,) * 3, level, stats.MDE_POWER)
    scaled = ev["mde"] * math.sqrt(5 / 20)
    assert sequential.scaled_mde(ev, 5, 20) == pytest.approx(own)
    assert own < scaled  # why scaling is wrong for this rule
    between = dict(ev, verdict=stats.INCONCLUSIVE, ci=[0.0, (own + scaled) / 2])
    assert not sequential.futile(between, 5, 20)
    below = dict(between, ci=[0.0, own * 0.9])
    assert sequential.futile(below, 5, 20)


# -- vectorised p-values of each family (rows = replicates) --------------------------------------
def _mv(x):
    return x.mean(axis=-1), x.var(axis=-1, ddof=1), x.shape[-1]


def _welch(a, b, shift=0.0):
    """Welch t of mean(a) - mean(b) - shift on Hsu's df: (t, df)."""
    (ma, va, n), (mb, vb, m) = _mv(a), _mv(b)
    se2 = va / n + vb / m
    return (ma - mb - shift) / np.sqrt(se2), min(n, m) - 1.0


def p_welch(a, b):
    t, df = _welch(a, b)
    return special.stdtr(df, -t)


def p_variance(a, b):
    # The rule stats.variance_greater applies (Brown-Forsythe scores, stratified Welch),
    # vectorised once in harness.statistics.simulate: one arm per side.
    from harness.statistics.simulate import variance_p
    return variance_p([a], [b])[0]


def p_tost(a, b, margin):
    t_lo, df = _welch(a, b, -margin)
    t_hi, _ = _welch(a, b, margin)
    return np.maximum(special.stdtr(df, -t_lo), special.stdtr(df, t_hi))


def p_diff_of_diffs(a1, b1, a2, b2):
    arms = [_mv(x) for x in (a1, b1, a2, b2)]
    u = [v / n for _, v, n in arms]
    se2 = sum(u)
    df = min(n for _, _, n in arms) - 1.0  # Hsu's df
    c = (arms[0][0] - arms[1][0]) - (arms[2][0] - arms[3][0])
    return special.stdtr(df, -c / np.sqrt(se2))


def p_kendall_increasing(groups):
    """scipy.stats.kendalltau's asymptotic one-sided p (tie-corrected for the level ties; the
    values are continuous) of value vs level; groups: (reps, k, n) ordered by level."""
    reps, k, n = groups.shape
    s = np.zeros(reps)
    for lo in range(k):
        for hi in range(lo + 1, k):
            s += np.sign(groups[:, hi, None, :] - groups[:, lo, :, None]).sum(axis=(1, 2))
    size = k * n
    m = size * (size - 1.0)
    var = (m * (2 * size + 5) - k * n * (n - 1.0) * (2 * n + 5)) / 18
    return special.ndtr(-s / math.sqrt(var))


def p_trend(groups):
    """Intersection-union of Kendall's tau and the last-vs-first Welch contrast."""
    return np.maximum(p_kendall_increasing(groups), p_welch(groups[:, -1], groups[:, 0]))


def p_spread(fam_a, fam_b):
    """The noise-corrected spread difference with its seeded bootstrap (harness.statistics.simulate's,
    the code spread_greater runs); fam_*: (reps, k, n) balanced cells."""
    reps, k, n = fam_a.shape
    ns = (n,) * k
    return simulate.spread_test(fam_a.mean(-1), fam_a.var(-1, ddof=1), ns,
                                fam_b.mean(-1), fam_b.var(-1, ddof=1), ns)["p"]


def p_all_of(*ps):
    return np.maximum.reduce(ps)


# -- the families under their nulls at the boundary ---------------------------------------------
# Each: rng, reps -> a function n -> p-values of the first n seeds of every arm.
def _normal(rng, reps, *shape, loc=0.0):
    return rng.normal(loc, 1.0, size=(reps, *shape, STAGES[-1]))


def null_welch(rng, reps):
    a, b = _normal(rng, reps), _normal(rng, reps)
    return lambda n: p_welch(a[:, :n], b[:, :n])


def null_variance(rng, reps):
    a, b = _normal(rng, reps), _normal(rng, reps)
    return lambda n: p_variance(a[:, :n], b[:, :n])


def null_tost(rng, reps):
    # True difference exactly at the margin (1 SD): the boundary of "equivalent".
    a, b = _normal(rng, reps, loc=1.0), _normal(rng, reps)
    return lambda n: p_tost(a[:, :n], b[:, :n], 1.0)


def null_diff_of_diffs(rng, reps):
    x = _normal(rng, reps, 4)
    return lambda n: p_diff_of_diffs(*(x[:, i, :n] for i in range(4)))


def null_trend(rng, reps):
    g = _normal(rng, reps, 4)  # four levels, no trend
    return lambda n: p_trend(g[:, :, :n])


def null_spread(rng, reps):
    # Equal spreads in crossed profiles (A rises, B falls by the same 1 SD over 3 levels):
    # the interaction is real, the claim "A spreads more" is at its boundary.
    steps = np.array([0.0, 0.5, 1.0])[None, :, None]
    a = _normal(rng, reps, 3) + steps
    b = _normal(rng, reps, 3) + steps[:, ::-1]
    return lambda n: p_spread(a[:, :, :n], b[:, :, :n])


def null_all_of(rng, reps):
    # One part at its boundary, the other far into its alternative: the least favourable
    # case of an intersection-union test (its type-I error is then that part's).
    a, b, c = _normal(rng, reps), _normal(rng, reps), _normal(rng, reps, loc=3.0)
    return lambda n: p_all_of(p_welch(a[:, :n], b[:, :n]), p_welch(c[:, :n], b[:, :n]))


FAMILIES = {"welch": null_welch, "variance": null_variance, "tost": null_tost,
            "diff_of_diffs": null_diff_of_diffs, "trend": null_trend, "spread": null_spread,
            "all_of": null_all_of}
#: Families whose naive design (alpha at every look) has a type-I error above LIMIT at the
#: boundary. spread is not listed: its bootstrap rule is too slow for the 20,000-replicate
#: naive check (its own null rates: benchmarks/spread_power.py).
INFLATED_WHEN_NAIVE = ("welch", "variance", "tost", "diff_of_diffs", "trend", "all_of")


def type_one_error(family: str, levels, seed: int = 0) -> tuple[float, int]:
    rng = np.random.default_rng(seed)
    # Kendall's pairs cost 6 n^2 per replicate; spread's p is a 2 x 2,000-resample bootstrap
    reps = REPS // 4 if family == "trend" else REPS // 20 if family == "spread" else REPS
    rejected = np.zeros(reps, dtype=bool)
    chunk = reps // 4
    for start in range(0, reps, chunk):
        p_at = FAMILIES[family](rng, min(chunk, reps - start))
        hit = np.zeros(min(chunk, reps - start), dtype=bool)
        for n, level in zip(STAGES, levels):
            hit |= p_at(n) < level
        rejected[start:start + len(hit)] = hit
    return float(rejected.mean()), reps


def _limit(reps: int) -> float:
    return ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / reps)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_sequential_type_one_error_at_most_alpha(family):
    rate, reps = type_one_error(family, DESIGN.levels)
    assert rate <= _limit(reps), f"{family}: type-I error {rate:.4f} over {reps} replicates"


@pytest.mark.parametrize("family", INFLATED_WHEN_NAIVE)
def test_simulation_catches_the_naive_design(family):
    rate, reps = type_one_error(family, NAIVE)
    assert rate > _limit(reps), f"{family}: naive design only {rate:.4f}: the simulation cannot see inflation"


# -- the vectorised p-values are the real tests' ----------------------------------------------------
def test_vectorised_p_values_match_stats():
    rng = np.random.default_rng(7)
    for _ in range(5):
        a, b, c, d = (rng.normal(rng.normal(), rng.uniform(0.5, 2), size=(1, 7)) for _ in range(4))
        A, B, C, D = (_arm(x, v[0]) for x, v in zip("abcd", (a, b, c, d)))
        assert p_welch(a, b)[0] == pytest.approx(stats.mean_greater(A, B, alpha=ALPHA).p, rel=1e-6)
        assert p_variance(a, b)[0] == pytest.approx(stats.variance_greater(A, B, alpha=ALPHA).p, rel=1e-6)
        assert p_tost(a, b, 1.5)[0] == pytest.approx(
            stats.equivalent(A, B, margin=1.5, alpha=ALPHA).p, rel=1e-6)
        assert p_diff_of_diffs(a, b, c, d)[0] == pytest.approx(
            stats.diff_of_diffs(A, B, C, D, alpha=ALPHA).p, rel=1e-6)
        groups = rng.normal(size=(1, 4, 6)) + np.arange(4)[None, :, None] * rng.uniform(0, 0.5)
        ev = stats.trend([1, 2, 4, 8], [_arm(f"l{i}", groups[0, i]) for i in range(4)],
                         direction="increasing", alpha=ALPHA)
        assert p_kendall_increasing(groups)[0] == pytest.approx(ev.details["p_tau"], rel=1e-6)
        assert p_trend(groups)[0] == pytest.approx(ev.p, rel=1e-6)
        fa, fb = rng.normal(size=(1, 3, 5)), rng.normal(size=(1, 3, 5)) * 0.5
        fa = fa + np.array([0, 1, 2])[None, :, None] * rng.uniform(0, 1)
        ev = stats.spread_greater([_arm(f"a{i}", fa[0, i]) for i in range(3)],
                                  [_arm(f"b{i}", fb[0, i]) for i in range(3)], alpha=ALPHA)
        assert p_spread(fa, fb)[0] == pytest.approx(ev.p, rel=1e-6)


# -- one claim through the stages, on a fake engine ------------------------------------------------
@dataclasses.dataclass(frozen=True)
class FakeSpec:
    """Stands in for RunSpec: what judge_sequentially uses of it."""

    config: str
    seed: int

    def key(self):
        return f"{self.config}:{self.seed}"

    def config_key(self):
        return self.config

    def label(self):
        return f"{self.config} seed {self.seed}"


def _fake_world(means: dict):
    """runs_of(specs) -> a runs table whose value of (config, seed) never changes (seeds are
    indices), and the log of what was asked for."""
    asked: list[list[FakeSpec]] = []

    def value(spec):
        return means[spec.config] + np.random.default_rng([ord(c) for c in spec.config] + [spec.seed]).normal()

    def runs_of(specs):
        asked.append(list(specs))
        return pd.DataFrame({"key": [s.key() for s in specs], "config": [s.config for s in specs],
                             "value": [value(s) for s in specs]})

    return runs_of, asked


def _claim_a_beats_b(runs, profile):
    def side(c):
        vals = runs.loc[runs.config == c, "value"]
        if vals.empty:
            raise LookupError(c)
        return stats.Arm.from_values(c, vals)
    try:
        return stats.mean_greater(side("A"), side("B"), alpha=profile.alpha)
    except LookupError as exc:
        return stats.Evidence(verdict=stats.UNTESTABLE, test="none", effect=None, effect_label="",
                              ci=None, ci_level=0.95, p=None, n=(), alpha=profile.alpha,
                              note=f"missing {exc}")


@dataclasses.dataclass(frozen=True)
class FakeProfile:
    alpha: float = ALPHA

    def replace(self, **kw):
        return dataclasses.replace(self, **kw)


def _judge(means):
    runs_of, asked = _fake_world(means)
    specs = [FakeSpec(c, i) for c in sorted(means) for i in range(STAGES[0])]
    stage1 = runs_of(specs)
    asked.clear()
    done = sequential.judge_sequentially(_claim_a_beats_b, FakeProfile(), DESIGN, stage1, specs, runs_of)
    return done.evidence, done.runs, done.record, asked


def test_a_huge_effect_stops_at_the_first_stage_without_training():
    ev, _, record, asked = _judge({"A": 10.0, "B": 0.0, "C": 0.0})
    assert (ev.verdict, record["stopped_at"], record["reason"]) == (stats.SUPPORTED, 5, "supported boundary")
    assert record["boundary"] == DESIGN.levels[0] and asked == []


def test_a_moderate_effect_adds_seeds_only_to_its_own_configurations():
    ev, runs, record, asked = _judge({"A": 1.3, "B": 0.0, "C": 5.0})
    assert record["stopped_at"] > 5 and asked, record
    for specs, n in zip(asked, record["stages"][1:]):
        assert {s.config for s in specs} == {"A", "B"}  # C is in the grid but not in the claim
        assert sorted(s.seed for s in specs if s.config == "A") == list(range(n))
    # the first 5 runs are the same at every stage (seeds are indices, nothing retrained)
    assert runs[runs.config == "A"].value.iloc[:5].tolist() == \
        _fake_world({"A": 1.3})[0]([FakeSpec("A", i) for i in range(5)]).value.tolist()
    assert record["seeds_per_arm"] == [record["stopped_at"]] * 2
    assert [h["seeds"] for h in record["history"]] == list(record["stages"][:record["stage"]])


@pytest.mark.parametrize("effect", [-3.0, -1.3])
def test_a_claim_on_the_wrong_side_keeps_its_seeds_until_refuted(effect):
    ev, _, record, _ = _judge({"A": effect, "B": 0.0})
    assert record["reason"] == "refuted boundary" and ev.verdict == stats.REFUTED, record


def test_the_evidence_carries_the_sequential_p_and_the_stages_their_own():
    ev, _, record, _ = _judge({"A": 1.3, "B": 0.0, "C": 5.0})
    ratios = [h["p"] / w for h, w in zip(record["history"], DESIGN.weights)]
    assert ev.p == pytest.approx(min(1.0, min(ratios))) == record["p_sequential"]
    assert ev.details["p_last_stage"] == record["history"][-1]["p"]
    assert ev.verdict == multiplicity.verdict_at(ev.verdict, ev.p, ev.details["p_refuted"], ALPHA)


def test_the_sequential_p_is_valid_at_every_level_holm_uses():
    """Holm reads each claim's sequential p at alpha/m, alpha/(m-1), ..., alpha: under the
    null P(p_seq < x) <= x must hold at each x, not only at the design's own level (the
    design is built at alpha/17; futility off: the worst case)."""
    rng = np.random.default_rng(11)
    reps = 40_000
    a, b = rng.normal(size=(reps, 20)), rng.normal(size=(reps, 20))
    p_stages = np.stack([p_welch(a[:, :n], b[:, :n]) for n in STAGES], axis=1)
    p_seq = np.minimum(1, (p_stages / np.array(DESIGN_M.weights)).min(axis=1))
    for x in (ALPHA / 17, ALPHA / 8, ALPHA / 2, ALPHA):
        rate = float((p_seq < x).mean())
        assert rate <= x + 3 * math.sqrt(x * (1 - x) / reps), (x, rate)
    # and the rule sees an error: the smallest stage p compared with x is anti-conservative
    naive = float((p_stages.min(axis=1) < ALPHA).mean())
    assert naive > ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / reps)


# -- the options: a bad value is one clear usage error ---------------------------------------------
@pytest.mark.parametrize("args, expected", [
    (["--seeds", "abc"], "--seeds: expected a whole number of seeds (e.g. 5) or 'auto', got 'abc'"),
    (["--seeds", "0"], "--seeds must be at least 2"),
    (["--seeds", "auto", "--max-seeds", "3"], "--max-seeds 3 is below the first stage (5 seeds)"),
    (["--seeds", "auto", "--max-seeds", "x"], "--max-seeds: expected a whole number"),
    (["--max-seeds", "10"], "--max-seeds only applies with --seeds auto"),
    (["--seeds", "auto", "--source", "seed"], "--seeds auto needs runs by seed"),
])
def test_bad_seed_options_are_one_clear_usage_error(args, expected):
    import subprocess
    import sys
    from pathlib import Path

    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "claims",
                           "--collect-only", "-q", *args], cwd=Path(__file__).resolve().parent.parent,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and expected in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
