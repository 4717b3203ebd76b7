"""What an undecided claim would take (issue 24): the seeds per configuration at which the
claim's OWN test would decide it, with 80% power, if the observed effect were the truth.

Two ways, both through the claim's own test:

* :func:`by_mde` (the default, instant): the test's own minimum detectable effect at 80% power
  (``Evidence.mde``, judged at the level the outcome is decided at), carried to other n
  exactly as the sequential futility rule carries it (``harness.sequential.scaled_mde``:
  location effects as 1/sqrt(n), an SD ratio's log as 1/sqrt(n - 1), the spread test
  recomputed at n), and the smallest n at which the observed effect clears it, read the way
  the futility rule reads reachability (TOST: the margin less the observed difference; an
  SD ratio on the log scale; an intersection-union part by part).
* :func:`seeds_needed` (evidence without an MDE): a parametric bootstrap through the claim
  function. Each configuration the claim read keeps its observed mean and SD
of every metric; a synthetic runs table with ``n`` seeds per configuration is drawn from
normals with those moments; the claim is evaluated on it exactly as on real runs. The power at
``n`` is the fraction of draws decided in the observed direction (supported when the observed
effect is as claimed, refuted when it is against). ``n`` doubles from the seeds used until the
power reaches the target (then the bracket is halved twice) or the cap is hit ("more than the
cap" is then the answer).

This is a planning number, not a guarantee: it treats the observed effect, which is noisy at
small n, as the truth (the usual caveat of observed-power calculations), and it assumes normal
seed-to-seed noise. The draws are seeded by the claim, so a re-judge gives the same answer.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

TARGET_POWER = 0.80
#: Synthetic draws per candidate n: the power estimate's SE is about 0.04 at 80%.
REPS = 100
#: Largest seeds per configuration considered.
MAX_SEEDS = 320


@dataclass(frozen=True)
class SeedsNeeded:
    direction: str          # "supported" or "refuted": what the observed effect points to
    seeds: int | None       # seeds per configuration reaching the target power; None = beyond cap
    power: float            # estimated power at ``seeds`` (or at the cap)
    seeds_used: int
    reps: int

    def summary(self) -> str:
        return describe(self.to_dict())

    def to_dict(self) -> dict:
        return {"direction": self.direction, "seeds": self.seeds, "power": self.power,
                "seeds_used": self.seeds_used, "reps": self.reps, "target_power": TARGET_POWER,
                "max_seeds": MAX_SEEDS}


def describe(plan: Mapping, terse: bool = False) -> str:
    """One line from a SeedsNeeded record (as report.json keeps it); ``terse`` for the
    terminal's 120 columns."""
    direction, seeds, used = plan.get("direction"), plan.get("seeds"), plan.get("seeds_used")
    target = plan.get("target_power", TARGET_POWER)
    if seeds is not None and used is not None and seeds <= used:
        return (f"the {used} seeds used already give {target:.0%} power to be {direction} at the "
                f"observed effect (this session missed it by chance): rerun on new seeds")
    if terse:
        return (f"~{seeds} seeds/configuration to be {direction} ({target:.0%} power, observed effect)"
                if seeds is not None else
                f"not {direction} within {plan.get('max_seeds', MAX_SEEDS)} seeds/configuration")
    if seeds is None:
        return (f"more than {plan.get('max_seeds', MAX_SEEDS)} seeds per configuration to be "
                f"{direction} with {target:.0%} power at the observed effect ({used} used)")
    return (f"~{seeds} seeds per configuration to be {direction} with {target:.0%} power at the "
            f"observed effect ({used} used)")


def synthetic_runs(runs: pd.DataFrame, by: Sequence[str], metrics: Sequence[str], n: int,
                   rng: np.random.Generator) -> pd.DataFrame:
    """``n`` seeds of every configuration of ``runs`` (grouped by ``by``), each metric drawn
    from a normal with the configuration's observed mean and SD (SD 0 for a single run)."""
    cols = [c for c in by if c in runs.columns]
    mets = [m for m in metrics if m in runs.columns]
    parts = []
    for _, group in runs.groupby(cols, sort=False, dropna=False):
        template = group.iloc[[0] * n].reset_index(drop=True).copy()
        template["seed"] = np.arange(n)
        template["kind"] = "run"
        template["n"] = 1
        for m in mets:
            vals = pd.to_numeric(group[m], errors="coerce").dropna().to_numpy(float)
            if vals.size == 0:
                template[m] = math.nan
                continue
            sd = float(vals.std(ddof=1)) if vals.size > 1 else 0.0
            template[m] = rng.normal(float(vals.mean()), sd, size=n)
        parts.append(template)
    return pd.concat(parts, ignore_index=True) if parts else runs.iloc[0:0]


def seeds_needed(evaluate: Callable[[pd.DataFrame], object], runs: pd.DataFrame, claim_id: str,
                 effect: float | None, seeds_used: int, by: Sequence[str], metrics: Sequence[str],
                 reps: int = REPS, max_seeds: int = MAX_SEEDS) -> SeedsNeeded | None:
    """The seeds per configuration for ``TARGET_POWER`` at the observed effect, or None when
    there is no effect to plan for (untestable, or no runs with a per-seed metric)."""
    if effect is None or not math.isfinite(effect) or runs.empty or seeds_used < 1:
        return None
    direction = "supported" if effect > 0 else "refuted"
    base = int.from_bytes(hashlib.sha256(claim_id.encode()).digest()[:8], "little")

    def power_at(n: int) -> float:
        rng = np.random.default_rng(base + n)  # one stream per n: a re-judge draws the same
        hits = sum(getattr(evaluate(synthetic_runs(runs, by, metrics, n, rng)), "verdict", None)
                   == direction for _ in range(reps))
        return hits / reps

    # double until the target is reached (or the cap), then halve the bracket twice
    lo, n = None, max(2, seeds_used)
    while (power := power_at(n)) < TARGET_POWER:
        if n >= max_seeds:
            return SeedsNeeded(direction, None, power, seeds_used, reps)
        lo, n = n, min(2 * n, max_seeds)
    hi, hi_power = n, power
    for _ in range(2):
        if lo is None or hi - lo < 2:
            break
        mid = (lo + hi) // 2
        if (p_mid := power_at(mid)) >= TARGET_POWER:
            hi, hi_power = mid, p_mid
        else:
            lo = mid
    return SeedsNeeded(direction, hi, hi_power, seeds_used, reps)


def _seeds_where(clears: Callable[[int], bool], n_now: int, max_seeds: int) -> int | None:
    """The smallest n in [n_now, max_seeds] with ``clears(n)`` (monotone in n), or None."""
    n, lo = max(2, n_now), None
    while not clears(n):
        if n >= max_seeds:
            return None
        lo, n = n, min(2 * n, max_seeds)
    hi = n
    while lo is not None and hi - lo > 1:  # bisect: the MDE is monotone in n
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if clears(mid) else (mid, hi)
    return hi


def by_mde(ev: Mapping, n_now: int, max_seeds: int = MAX_SEEDS) -> SeedsNeeded | None:
    """Seeds per configuration at which ``ev`` (an Evidence.to_dict() judged at the deciding
    level) would be decided with 80% power at its observed effect; None where the evidence has
    no effect or no MDE to plan with."""
    from harness import sequential

    details = ev.get("details") or {}
    parts = details.get("parts")
    if parts:  # intersection-union: supported needs every part, refuted any one
        each = [by_mde(p, n_now, max_seeds) for p in parts]
        if any(e is None for e in each):
            return None
        against = [e for e in each if e.direction == "refuted"]
        if against:  # the cheapest part to refute decides
            found = [e for e in against if e.seeds is not None]
            return min(found, key=lambda e: e.seeds) if found else against[0]
        if any(e.seeds is None for e in each):
            return next(e for e in each if e.seeds is None)
        return max(each, key=lambda e: e.seeds)
    effect, mde = ev.get("effect"), ev.get("mde")
    if effect is None or mde is None or not math.isfinite(effect) or not math.isfinite(mde):
        return None
    if "p_lower" in details and "p_upper" in details:  # TOST: equivalence within the margin
        margin = details.get("margin")
        if margin is None:
            return None
        gap = margin - abs(effect)
    elif "sd_a" in details and "sd_b" in details:  # an SD ratio: on the log scale, null 1
        if effect <= 0:
            return None
        gap = math.log(effect)
    else:  # location effects, the spread test: null 0 or the margin
        gap = effect - (details.get("margin") or 0.0)
    direction = "supported" if gap > 0 else "refuted"

    def clears(n: int) -> bool:
        m = sequential.scaled_mde(dict(ev), n_now, n)
        if m is None:
            return False
        if "sd_a" in details and "sd_b" in details:
            return m > 1 and abs(gap) >= math.log(m)
        return abs(gap) >= m

    seeds = _seeds_where(clears, n_now, max_seeds)
    return SeedsNeeded(direction, seeds, TARGET_POWER if seeds is not None else float("nan"),
                       n_now, 0)
