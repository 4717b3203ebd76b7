"""What an undecided claim would take (issue 24): the seeds per configuration at which the
claim's OWN test would decide it, with 80% power, if the observed effect were the truth.

One method for every family, so no claim needs a formula of its own: a parametric bootstrap
through the claim function. Each configuration the claim read keeps its observed mean and SD
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
from typing import Callable, Sequence

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
        if self.seeds is None:
            return (f"more than {MAX_SEEDS} seeds per configuration to be {self.direction} with "
                    f"{TARGET_POWER:.0%} power at the observed effect (power {self.power:.2f} at "
                    f"{MAX_SEEDS})")
        return (f"~{self.seeds} seeds per configuration to be {self.direction} with "
                f"{TARGET_POWER:.0%} power at the observed effect (simulated power "
                f"{self.power:.2f}; {self.seeds_used} used)")

    def to_dict(self) -> dict:
        return {"direction": self.direction, "seeds": self.seeds, "power": self.power,
                "seeds_used": self.seeds_used, "reps": self.reps, "target_power": TARGET_POWER}


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
