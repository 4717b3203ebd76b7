"""Group-sequential claims (``--seeds auto``): seeds are added in stages declared in the
profile (``Profile.seed_stages``, e.g. 5, 10, 20 per configuration), and each claim stops as
soon as its verdict is decided.

The design, in one place (docs/STATISTICS.md "Sequential seeds" explains the choices):

* **The level**: each claim's design spends the level its pytest outcome is judged at, the
  first step of the declared multiplicity rule (alpha / m under Holm, m = the declared body
  of claims; harness/statistics/multiplicity.py), not the profile's alpha.
* **Alpha spending**: Lan-DeMets O'Brien-Fleming-type, a(t) = 2 (1 - Phi(z_{1-a/2} / sqrt(t)))
  for a one-sided level a, with information time t_k = n_k / n_K (seeds per arm at stage k
  over the last stage). It spends almost nothing at 5 seeds, where a t test on df ~ 8 rests
  most on normality, and keeps the last stage's level near a.
* **Stage levels and the sequential p**: stage k's level is the alpha spent in it, a(t_k) -
  a(t_{k-1}) = w_k a, with weights w_k summing to 1 (``Design.weights``). A claim's
  sequential p is min over the stages it reached of p_k / w_k (p_k: its family's fixed-n p on
  stage k's seeds): a weighted Bonferroni over the looks, so P(p_seq <= x) <= x for EVERY x
  under the null, whatever the correlation between stages and wherever the claim stopped.
  p_seq < a exactly when some stage's p_k < w_k a, which is what stops a claim as supported.
  The refutation p is built the same way. Holm over the claims' sequential p's (session end)
  therefore controls the family-wise error at alpha under any partial null, and the pytest
  outcome (p_seq < alpha / m) is its first step; no family-specific boundary maths.
* **Stopping**: supported or refuted at a stage's level stops the claim (efficacy boundary
  crossed); untestable stops it; **futility** is two-sided: an inconclusive claim stops only
  when the last stage could reach neither verdict: the effects its data still allow (its
  confidence interval) lie inside the minimum detectable effect the LAST stage would have on
  both sides (80% power at the last stage's level, the current spread, n scaled to n_K). A
  claim heading for refuted keeps its seeds. Futility never makes a claim supported or
  refuted, so it cannot raise either error (non-binding; the calibration ignores it).
* **Seeds are indices**: stage k asks the engine for seeds range(n_k) of the configurations
  the claim uses, so the first n runs are the same stored runs at every stage and nothing is
  retrained; the store's per-configuration leases let xdist workers share new training.

This module calls the statistics only through the claim function (``evaluate(runs,
profile)``) and reads :class:`harness.statistics.stats.Evidence` fields and details; it knows no test
by its name.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

from scipy import special

from harness.statistics import multiplicity, simulate, stats

SPENDING_FUNCTIONS = ("obf", "pocock")
SPENDING_NAMES = {"obf": "Lan-DeMets O'Brien-Fleming-type", "pocock": "Lan-DeMets Pocock-type"}
DEFAULT_SPENDING = "obf"
AUTO = "auto"


# -- the design ---------------------------------------------------------------------------------
def spent(t: float, alpha: float, spending: str = DEFAULT_SPENDING) -> float:
    """Cumulative one-sided alpha spent by information time t in (0, 1]."""
    if not 0 < t <= 1:
        raise ValueError(f"information time must lie in (0, 1], got {t}")
    if spending == "obf":
        z = float(special.ndtri(1 - alpha / 2))
        return float(2 * special.ndtr(-z / math.sqrt(t)))
    if spending == "pocock":
        return alpha * math.log(1 + (math.e - 1) * t)
    raise ValueError(f"unknown spending function {spending!r}; valid: {', '.join(SPENDING_FUNCTIONS)}")


@dataclass(frozen=True)
class Design:
    """Stage sizes (seeds per configuration) and each stage's nominal level."""

    stages: tuple[int, ...]
    alpha: float
    spending: str = DEFAULT_SPENDING
    levels: tuple[float, ...] = field(init=False)

    def __post_init__(self) -> None:
        st = tuple(int(n) for n in self.stages)
        if not st or any(n < 2 for n in st) or any(b <= a for a, b in zip(st, st[1:])):
            raise ValueError(f"seed stages must be increasing whole numbers >= 2, got {self.stages}")
        object.__setattr__(self, "stages", st)
        cum = [spent(n / st[-1], self.alpha, self.spending) for n in st]
        object.__setattr__(self, "levels", tuple(b - a for a, b in zip([0.0] + cum, cum)))

    @property
    def weights(self) -> tuple[float, ...]:
        """The fraction of the claim's alpha each stage spends (sums to 1)."""
        return tuple(lv / self.alpha for lv in self.levels)

    def sequential_p(self, stage_ps: Sequence[float | None]) -> float | None:
        """min_k p_k / w_k over the stages reached (None entries skipped; None if all are):
        a valid p-value of the whole sequential test (module docstring)."""
        ratios = [p / w for p, w in zip(stage_ps, self.weights) if p is not None]
        return min(1.0, min(ratios)) if ratios else None

    def to_dict(self) -> dict:
        return {"stages": list(self.stages), "levels": list(self.levels), "alpha": self.alpha,
                "spending": SPENDING_NAMES[self.spending]}


def cap_stages(stages: tuple[int, ...], max_seeds: int | None) -> tuple[int, ...]:
    """The declared stages below ``max_seeds``, then ``max_seeds`` itself as the last stage
    (a cap never adds stages beyond the declared last one)."""
    if max_seeds is None or max_seeds >= stages[-1]:
        return tuple(stages)
    if max_seeds < stages[0]:
        raise ValueError(f"--max-seeds {max_seeds} is below the first stage ({stages[0]} seeds) "
                         f"of the profile's seed_stages {tuple(stages)}; give at least {stages[0]}")
    return tuple(n for n in stages if n < max_seeds) + (max_seeds,)


def parse_seeds(value: str | None) -> int | str | None:
    """``--seeds`` value: None, 'auto' or a whole number >= 2; ValueError says what to give."""
    if value is None or value == AUTO:
        return value
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"--seeds: expected a whole number of seeds (e.g. 5) or 'auto', "
                         f"got {value!r}") from None
    if n < 2:
        raise ValueError(f"--seeds must be at least 2 (got {n}); 5 or more is needed for "
                         f"p < 0.05, or give --seeds auto")
    return n


def parse_max_seeds(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"--max-seeds: expected a whole number of seeds (e.g. 20), got {value!r}") from None
    if n < 2:
        raise ValueError(f"--max-seeds must be at least 2 (got {n})")
    return n


# -- futility -----------------------------------------------------------------------------------
def scaled_mde(ev: dict, n_now: int, n_last: int) -> float | None:
    """The MDE ``ev`` (computed at the last stage's level on n_now seeds) would have with
    n_last seeds and the same spread. Which way it scales is read from the evidence's data:
    a spread comparison (tau2_a in details) is recomputed at n_last by
    ``simulate.spread_mde`` (its noise correction shrinks with n, so its MDE falls faster than
    1/sqrt(n): 0.675 at 20 seeds against 2.69 at 5, a ratio of 0.25, not 0.5); a ratio of
    run-to-run SDs (sd_a, sd_b) scales its log like 1/sqrt(n - 1); location effects like
    1/sqrt(n) times the fall of their t quantiles as the df grows. Also what
    ``harness.statistics.seeds_needed.by_mde`` plans with."""
    mde = ev.get("mde")
    if mde is None or not math.isfinite(mde):
        return None
    details = ev.get("details") or {}
    if "tau2_a" in details:
        k = len(ev.get("arms") or ()) // 2  # levels: the arms are family A's then B's
        if k < 2:
            return None
        return simulate.spread_mde((n_last,) * k, (n_last,) * k, ev["alpha"], stats.MDE_POWER)
    if "sd_a" in details and "sd_b" in details:
        return math.exp(math.log(mde) * math.sqrt((n_now - 1) / (n_last - 1))) if mde > 0 else None
    return mde * math.sqrt(n_now / n_last) * _t_quantile_ratio(details.get("df"), n_last - n_now,
                                                               ev.get("alpha"))


def _t_quantile_ratio(df, more: int, alpha) -> float:
    """How much a t-based MDE shrinks from its t quantiles alone when every arm gains ``more``
    seeds: (t_{1-a} + t_power) at df + more over the same at df. Hsu's df (min(n) - 1) and a
    one-sample t's (n - 1) grow by exactly ``more``; at 5 seeds (df 4) and alpha/17 this is
    most of the MDE's fall, which 1/sqrt(n) alone misses. 1 when df or alpha is unknown."""
    if not df or not alpha or not df > 0 or more <= 0 or not 0 < alpha < 1:
        return 1.0
    q = lambda d: float(special.stdtrit(d, 1 - alpha) + special.stdtrit(d, stats.MDE_POWER))  # noqa: E731
    return q(df + more) / q(df)


def reachable(ev: dict, n_now: int, n_last: int) -> tuple[bool, bool]:
    """(can the last stage still reach supported, can it reach refuted), on an
    Evidence.to_dict() judged at the last stage's level. Unknown is reachable: evidence with
    no MDE (Kendall alone) or no interval can reach both.

    * all_of: supported needs every part, refuted any one part.
    * TOST (two one-sided tests in details): supported is out of reach when even a true
      difference of 0 and the run-to-run SD at its lower 95% confidence bound could not show
      equivalence (the margin is below that optimistic last-stage MDE; with the SD as
      estimated, 5 noisy seeds stopped 61% of claims whose last stage had 87% power);
      refuted when the interval lies within the margin by more than the MDE on both sides.
    * an SD ratio (null 1): supported out of reach when its interval's top is below the last
      stage's detectable ratio, refuted when its bottom is above the reciprocal.
    * spread_greater (tau2_a in details): a signed effect with null 0, read like a location
      effect, with the MDE recomputed at the last stage's n.
    * location effects (null: details["margin"], else 0): supported out of reach when the
      interval's top is below null + MDE, refuted when its bottom is above null - MDE."""
    parts = (ev.get("details") or {}).get("parts")
    if parts:
        each = [reachable(p, n_now, n_last) for p in parts]
        return all(s for s, _ in each), any(r for _, r in each)
    verdict = ev.get("verdict")
    if verdict in (stats.SUPPORTED, stats.REFUTED):  # reached already at the last level
        return verdict == stats.SUPPORTED, verdict == stats.REFUTED
    if verdict != stats.INCONCLUSIVE:
        return True, True
    mde = scaled_mde(ev, n_now, n_last)
    ci, details = ev.get("ci"), ev.get("details") or {}
    if mde is None or not ci or ci[0] is None or ci[1] is None:
        return True, True
    if "p_lower" in details and "p_upper" in details:  # two one-sided tests: equivalence
        margin, df = details.get("margin"), details.get("df")
        if margin is None or df is None or not df > 0:
            return True, True
        sd_low = math.sqrt(df / float(special.chdtri(df, 0.025)))  # SD lower bound / SD
        return margin >= mde * sd_low, ci[1] >= margin + mde or ci[0] <= -margin - mde
    if "sd_a" in details and "sd_b" in details:
        return ci[1] >= mde, mde > 0 and ci[0] <= 1 / mde
    null = details.get("margin") or 0.0
    return ci[1] >= null + mde, ci[0] <= null - mde


def futile(ev: dict, n_now: int, n_last: int) -> bool:
    """Two-sided futility: the last stage could reach neither supported nor refuted."""
    return not any(reachable(ev, n_now, n_last))


def stop_reason(verdict: str, stage: int, design: Design,
                at_last_level: Callable[[], stats.Evidence], can_grow: bool = True) -> str | None:
    """Why a claim stops at ``stage`` (0-based) with ``verdict`` (its verdict at that stage's
    level), or None to go on. ``at_last_level()``: the same data judged at the last stage's
    level (for the futility rule's MDE); ``can_grow``: the claim has configurations to add
    seeds to."""
    if verdict in (stats.SUPPORTED, stats.REFUTED):
        return f"{verdict} boundary"
    if verdict == stats.UNTESTABLE:
        return "untestable"
    if stage == len(design.stages) - 1:
        return "last stage"
    if not can_grow:
        return "no configuration to add seeds to"
    if futile(at_last_level().to_dict(), design.stages[stage], design.stages[-1]):
        return "futility"
    return None


# -- which configurations a claim uses -----------------------------------------------------------
def _fingerprint(ev: stats.Evidence) -> str:
    return json.dumps(ev.to_dict(), sort_keys=True)


def needed_configs(evaluate: Callable, runs, config_of: dict) -> set:
    """Configurations (``RunSpec.config_key()``) the claim reads: leave one configuration's
    rows out of the table and see whether the evidence changes (a missing arm makes it
    untestable; any other use changes its numbers). ``config_of``: run key -> config."""
    base = _fingerprint(evaluate(runs))
    keys = runs["key"]
    groups: dict = {}
    for i, k in zip(runs.index, keys):
        if k in config_of:
            groups.setdefault(config_of[k], []).append(i)
    return {cfg for cfg, idx in groups.items() if _fingerprint(evaluate(runs.drop(index=idx))) != base}


# -- one claim ----------------------------------------------------------------------------------
def stage_verdict(ev: stats.Evidence, level: float) -> str:
    """The claim's verdict on one stage's seeds at that stage's level."""
    return multiplicity.verdict_at(ev.verdict, ev.p, ev.details.get("p_refuted"), level)


def combine(stage_evs: Sequence[stats.Evidence], design: Design) -> stats.Evidence:
    """The claim's evidence over the stages it ran: the last stage's effect, interval, n and
    details, with p and details["p_refuted"] the sequential ones (``Design.sequential_p``)
    and the verdict theirs at the evidence's own alpha (the profile's). The last stage's
    fixed-n p's stay in details ("p_last_stage", "p_refuted_last_stage")."""
    last = stage_evs[-1]
    p = design.sequential_p([e.p for e in stage_evs])
    p_ref = design.sequential_p([e.details.get("p_refuted") for e in stage_evs])
    details = dict(last.details, p_refuted=p_ref, p_last_stage=last.p,
                   p_refuted_last_stage=last.details.get("p_refuted"))
    return dataclasses.replace(last, p=p, details=details,
                               verdict=multiplicity.verdict_at(last.verdict, p, p_ref, last.alpha))


@dataclass
class SequentialJudgment:
    """One claim run through the stages: ``evidence`` (``combine`` of the stages), the runs
    table of each stage reached (``stage_runs``, the last is the stopping stage's) and the
    record for the report."""

    evidence: stats.Evidence
    stage_runs: list
    record: dict

    @property
    def runs(self):
        return self.stage_runs[-1]


def judge_sequentially(evaluate: Callable, profile, design: Design, stage1_runs, stage1_specs,
                       runs_of: Callable) -> SequentialJudgment:
    """Run one claim through the stages of ``design`` (built at the outcome's level).

    evaluate(runs, profile) -> Evidence; stage1_runs: the runs table at the first stage
    (seeds range(stages[0])); stage1_specs: the RunSpecs behind it; runs_of(specs) -> the runs
    table of those specs (trains what the store lacks). Each stage is evaluated once, at the
    profile's alpha; its verdict at the stage's level comes from its p's (``stage_verdict``)."""
    config_of = {s.key(): s.config_key() for s in stage1_specs}
    spec_of_config = {}
    for s in stage1_specs:
        spec_of_config.setdefault(s.config_key(), s)
    at_last = profile.replace(alpha=design.levels[-1])
    needed = needed_configs(lambda r: evaluate(r, profile), stage1_runs, config_of)
    bases = [spec_of_config[c] for c in spec_of_config if c in needed]
    history, stage_runs, evs, runs = [], [], [], stage1_runs
    for k, (n, level) in enumerate(zip(design.stages, design.levels)):
        if k > 0:
            runs = runs_of([dataclasses.replace(b, seed=i) for b in bases for i in range(n)])
        ev = evaluate(runs, profile)
        verdict = stage_verdict(ev, level)
        stage_runs.append(runs)
        evs.append(ev)
        history.append({"seeds": n, "level": level, "p": ev.p,
                        "p_refuted": ev.details.get("p_refuted"), "verdict": verdict})
        reason = stop_reason(verdict, k, design, lambda: evaluate(runs, at_last), bool(bases))
        if reason:
            break
    k = len(history) - 1
    combined = combine(evs, design)
    record = {
        "stopped_at": design.stages[k], "stage": k + 1, "stages": list(design.stages),
        "reason": reason, "boundary": design.levels[k], "design_alpha": design.alpha,
        "p_sequential": combined.p, "p_refuted_sequential": combined.details.get("p_refuted"),
        "seeds_per_arm": list(ev.n),
        "spending": SPENDING_NAMES[design.spending], "history": history,
        "configs": sorted(b.label().rsplit(" seed ", 1)[0] for b in bases),
        "runs_used": len(bases) * design.stages[k],
        "grid_configs": sorted({s.label().rsplit(" seed ", 1)[0] for s in stage1_specs}),
    }
    return SequentialJudgment(combined, stage_runs, record)


# -- the session's cost -------------------------------------------------------------------------
def session_summary(results: list[dict], design: Design) -> dict | None:
    """Runs the claims used (every run of the first stage's grids plus the later stages'
    seeds of the configurations undecided claims needed) against the fixed design that trains
    the same grids at the last stage's seeds."""
    seq = [r for r in results if r.get("sequential")]
    if not seq:
        return None
    used = {k for r in seq for k in r.get("run_keys", [])}
    grid_configs = {c for r in seq for c in r["sequential"].get("grid_configs", [])}
    fixed = len(grid_configs) * design.stages[-1]
    stops: dict[int, int] = {}
    for r in seq:
        stops[r["sequential"]["stopped_at"]] = stops.get(r["sequential"]["stopped_at"], 0) + 1
    return {"runs_used": len(used), "fixed_last_stage_runs": fixed,
            "fraction_of_fixed": round(len(used) / fixed, 3) if fixed else None,
            "claims_stopped_at": {str(k): v for k, v in sorted(stops.items())},
            "design": design.to_dict()}
