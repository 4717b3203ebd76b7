"""Group-sequential claims (``--seeds auto``): seeds are added in stages declared in the
profile (``Profile.seed_stages``, e.g. 5, 10, 20 per configuration), and each claim stops as
soon as its verdict is decided.

The design, in one place (docs/STATISTICS.md explains the choices):

* **Alpha spending**: Lan-DeMets O'Brien-Fleming-type, alpha(t) = 2 (1 - Phi(z_{1-alpha/2} /
  sqrt(t))) for a one-sided level alpha, with information time t_k = n_k / n_K (seeds per arm
  at stage k over the last stage). It spends almost nothing at 5 seeds, where a t test on
  df ~ 8 rests most on normality, and keeps the last stage's level near alpha, so the power
  at the last stage stays close to that of a fixed design with n_K seeds.
* **Stage levels**: the claim is judged at stage k with ``alpha`` replaced by the alpha spent
  in that stage, alpha(t_k) - alpha(t_{k-1}). By the union bound the probability of ever
  declaring the claim supported when it is false is at most the sum, alpha(1) = alpha, for
  ANY family whose fixed-n p-value is valid, whatever the correlation between stages. That is
  what makes every family (Welch, Kendall + contrast, F, TOST, interaction F, intersection-
  union) sequential without family-specific boundary maths; the same holds for "refuted".
  With O'Brien-Fleming-type spending the union bound costs almost nothing (the exact
  canonical boundary would raise the last level from 0.0444 to about 0.045 at 5/10/20).
* **Stopping**: supported or refuted at a stage's level stops the claim (efficacy boundary
  crossed); untestable stops it; **futility**: an inconclusive claim stops when the largest
  effect its data still allow (the upper end of the effect's confidence interval, in the
  claimed direction) is below the minimum detectable effect the LAST stage would have (80%
  power at the last stage's level, the current spread, n scaled to n_K; spread_greater's MDE
  is simulated at n_K): even the last stage could not detect any effect the data still
  allow. Futility never makes a claim supported, so it cannot raise the type-I error (it is
  non-binding; the calibration ignores it).
* **Seeds are indices**: stage k asks the engine for seeds range(n_k) of the configurations
  the claim uses, so the first n runs are the same stored runs at every stage and nothing is
  retrained; the store's per-configuration leases let xdist workers share new training.

This module calls the statistics only through the claim function (``stats``' public tests
with ``alpha`` set to the stage's level) and reads :class:`harness.stats.Evidence` fields.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Callable

import pytest
from scipy import special

from harness import simulate, stats

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
def _scaled_mde(ev: dict, n_now: int, n_last: int) -> float | None:
    """The MDE ``ev`` (computed at the last stage's level on n_now seeds) would have with
    n_last seeds and the same spread: location effects shrink like 1/sqrt(n); an SD ratio's
    log shrinks like 1/sqrt(n - 1) (the F test's degrees of freedom). spread_greater's MDE is
    simulated again at n_last: its spread ratio's dfs grow with n, so its Cohen's f shrinks
    faster than 1/sqrt(n) (0.62 simulated vs 0.81 scaled at 20 seeds, 3 levels), and scaling
    would stop claims for futility that the last stage could still show."""
    mde = ev.get("mde")
    if mde is None or not math.isfinite(mde):
        return None
    if (ev.get("test") or "").startswith(stats.SPREAD_TEST):
        k = len(ev.get("arms") or ()) // 2  # levels: the arms are family A's then B's
        if k < 2:
            return None
        return simulate.spread_mde((n_last,) * k, (n_last,) * k, ev["alpha"], stats.MDE_POWER)
    if (ev.get("effect_label") or "").startswith("SD ratio"):
        return math.exp(math.log(mde) * math.sqrt((n_now - 1) / (n_last - 1))) if mde > 0 else None
    return mde * math.sqrt(n_now / n_last)


def futile(ev: dict, n_now: int, n_last: int) -> bool:
    """The futility rule (see the module docstring) on an Evidence.to_dict() judged at the
    last stage's level. all_of: futile when any part is (every part must hold). TOST: futile
    when even a true difference of 0 and the run-to-run SD at its lower 95% confidence bound
    could not show equivalence within the margin at the last stage (the margin is below that
    optimistic last-stage MDE); with the SD as estimated, 5 noisy seeds stopped 61% of the
    claims whose last stage had 87% power (benchmarks/sequential_power.py). Kendall-only
    evidence (no MDE) is never futile."""
    parts = (ev.get("details") or {}).get("parts")
    if parts:
        return any(futile(p, n_now, n_last) for p in parts)
    if ev.get("verdict") != stats.INCONCLUSIVE:
        return False
    mde = _scaled_mde(ev, n_now, n_last)
    if mde is None:
        return False
    if "TOST" in (ev.get("test") or ""):
        details = ev.get("details") or {}
        margin, df = details.get("margin"), details.get("df")
        if margin is None or df is None or not df > 0:
            return False
        sd_low = math.sqrt(df / float(special.chdtri(df, 0.025)))  # SD lower bound / SD
        return margin < mde * sd_low
    ci = ev.get("ci")
    return bool(ci) and ci[1] is not None and ci[1] < mde


def stop_reason(ev: stats.Evidence, stage: int, design: Design,
                at_last_level: Callable[[], stats.Evidence], can_grow: bool = True) -> str | None:
    """Why a claim stops at ``stage`` (0-based) with evidence ``ev`` judged at that stage's
    level, or None to go on. ``at_last_level()``: the same data judged at the last stage's
    level (for the futility rule's MDE); ``can_grow``: the claim has configurations to add
    seeds to."""
    if ev.verdict in (stats.SUPPORTED, stats.REFUTED):
        return f"{ev.verdict} boundary"
    if ev.verdict == stats.UNTESTABLE:
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
def judge_sequentially(evaluate: Callable, profile, design: Design, stage1_runs, stage1_specs,
                       runs_of: Callable) -> tuple[stats.Evidence, object, dict]:
    """Run one claim through the stages.

    evaluate(runs, profile) -> Evidence; stage1_runs: the runs table at the first stage
    (seeds range(stages[0])); stage1_specs: the RunSpecs behind it; runs_of(specs) -> the runs
    table of those specs (trains what the store lacks). Returns (the evidence at the stopping
    stage, its runs table, the record for the report)."""
    config_of = {s.key(): s.config_key() for s in stage1_specs}
    spec_of_config = {}
    for s in stage1_specs:
        spec_of_config.setdefault(s.config_key(), s)
    at_level = [profile.replace(alpha=lv) for lv in design.levels]
    needed = needed_configs(lambda r: evaluate(r, at_level[0]), stage1_runs, config_of)
    bases = [spec_of_config[c] for c in spec_of_config if c in needed]
    history, runs = [], stage1_runs
    for k, (n, level) in enumerate(zip(design.stages, design.levels)):
        if k > 0:
            runs = runs_of([dataclasses.replace(b, seed=i) for b in bases for i in range(n)])
        ev = evaluate(runs, at_level[k])
        history.append({"seeds": n, "level": level, "p": ev.p, "verdict": ev.verdict})
        reason = stop_reason(ev, k, design, lambda: evaluate(runs, at_level[-1]), bool(bases))
        if reason:
            break
    k = len(history) - 1
    record = {
        "stopped_at": design.stages[k], "stage": k + 1, "stages": list(design.stages),
        "reason": reason, "boundary": design.levels[k], "seeds_per_arm": list(ev.n),
        "spending": SPENDING_NAMES[design.spending], "history": history,
        "configs": sorted(b.label().rsplit(" seed ", 1)[0] for b in bases),
        "runs_used": len(bases) * design.stages[k],
        "grid_configs": sorted({s.label().rsplit(" seed ", 1)[0] for s in stage1_specs}),
    }
    return ev, runs, record


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


class JunitSummary:
    """Adds the session's sequential summary to the JUnit XML as testsuite properties (runs
    before junitxml writes its file, hence tryfirst)."""

    def __init__(self, results: list[dict], design: Design):
        self.results, self.design = results, design

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session):
        from _pytest.junitxml import xml_key

        xml = session.config.stash.get(xml_key, None)
        summary = session_summary(self.results, self.design)
        if xml is None or summary is None:
            return
        xml.add_global_property("seq_runs_used", str(summary["runs_used"]))
        xml.add_global_property("seq_fixed_last_stage_runs", str(summary["fixed_last_stage_runs"]))
        xml.add_global_property("seq_stages", ",".join(map(str, self.design.stages)))
        xml.add_global_property("seq_spending", SPENDING_NAMES[self.design.spending])
