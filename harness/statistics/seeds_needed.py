"""What an undecided claim would take (issue 24): the seeds per configuration at which the
claim's OWN test would decide it, with 80% power, if the observed effect were the truth.

The way: the test's own minimum detectable effect at 80% power (``Evidence.mde``, judged at
the level the outcome is decided at), carried to other n exactly as the sequential futility
rule carries it (``harness.statistics.sequential.scaled_mde``: location effects as 1/sqrt(n), an SD
ratio's log as 1/sqrt(n - 1), the spread test recomputed at n), and the smallest n at which
the observed effect clears it, read the way the futility rule reads reachability (TOST: the
margin less the observed difference; an SD ratio on the log scale; an intersection-union part
by part). Evidence without an MDE (Kendall's tau alone) gets no plan.

This is a planning number, not a guarantee: it treats the observed effect, which is noisy at
small n, as the truth (the usual caveat of observed-power calculations).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

TARGET_POWER = 0.80
#: Largest seeds per configuration considered.
MAX_SEEDS = 320


@dataclass(frozen=True)
class SeedsNeeded:
    direction: str          # "supported" or "refuted": what the observed effect points to
    seeds: int | None       # seeds per configuration reaching the target power; None = beyond cap
    seeds_used: int

    def summary(self) -> str:
        return describe(self.to_dict())

    def to_dict(self) -> dict:
        return {"direction": self.direction, "seeds": self.seeds, "seeds_used": self.seeds_used,
                "target_power": TARGET_POWER, "max_seeds": MAX_SEEDS}


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
    from harness.statistics import sequential

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

    return SeedsNeeded(direction, _seeds_where(clears, n_now, max_seeds), n_now)
