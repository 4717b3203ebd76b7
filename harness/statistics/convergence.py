"""Is a configuration still learning at its last epoch? (issue 24: budget-confounded arms).

A claim that compares two arms at a fixed budget compares where training stopped, not what
the networks can reach: if one arm is still climbing, the difference partly measures the
budget. The paper trained every Q5 arm for 10 epochs of 50,000 images; a smaller profile may
stop its large-batch arms while they still climb.

The diagnostic, declared before any data (numbers in, verdicts out; no torch):

* per run: the least-squares slope of its test-accuracy curve over its last ``LAST_EPOCHS``
  epochs (accuracy points per epoch);
* per configuration: the mean of its runs' slopes, with a t interval over seeds (each seed's
  slope is one independent draw), and the seed-to-seed SD of the last epoch's accuracy;
* **still improving** when the interval's lower end is above zero (the climb is not noise)
  AND the mean gain per epoch is at least ``MIN_GAIN_FRACTION`` of the seed-to-seed SD (one
  more epoch would move the arm by a visible fraction of the noise every claim is judged
  against). A configuration with one run, or fewer than two epochs, is "unknown".
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats as sps

#: Epochs at the end of a curve whose slope is read (fewer if the run has fewer, at least 2).
LAST_EPOCHS = 3
#: Gain per epoch, as a fraction of the seed-to-seed SD, from which a climb counts.
MIN_GAIN_FRACTION = 0.25
#: Two-sided level of the slope's interval.
LEVEL = 0.95

STILL_IMPROVING = "still improving"
PLATEAUED = "plateaued"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Convergence:
    """One configuration's diagnostic."""

    status: str                 # STILL_IMPROVING, PLATEAUED or UNKNOWN
    slope: float                # mean gain per epoch over the last epochs (points)
    ci: tuple[float, float] | None
    seed_sd: float              # SD over seeds of the last epoch's accuracy
    n: int                      # runs with a usable curve
    epochs_read: int            # how many final epochs the slope covers

    @property
    def still_improving(self) -> bool:
        return self.status == STILL_IMPROVING

    def summary(self) -> str:
        if self.status == UNKNOWN:
            return f"unknown (n={self.n}, {self.epochs_read} epochs read)"
        lo, hi = self.ci
        return (f"{self.status}: {self.slope:+.2f} pts/epoch over the last {self.epochs_read} "
                f"epochs (95% CI {lo:+.2f} to {hi:+.2f}; seed SD {self.seed_sd:.2f}; n={self.n})")

    def to_dict(self) -> dict:
        return {"status": self.status, "slope": self.slope,
                "ci": list(self.ci) if self.ci else None, "seed_sd": self.seed_sd,
                "n": self.n, "epochs_read": self.epochs_read}


def run_slope(curve: Sequence[float], last: int = LAST_EPOCHS) -> float:
    """Least-squares slope (points per epoch) of a curve's last ``last`` epochs; NaN when the
    curve has fewer than two finite points."""
    y = np.asarray([v for v in curve if v is not None], dtype=float)[-last:]
    if y.size < 2 or not np.all(np.isfinite(y)):
        return math.nan
    x = np.arange(y.size, dtype=float)
    x -= x.mean()
    return float((x * (y - y.mean())).sum() / (x * x).sum())


def configuration(curves: Sequence[Sequence[float]], last: int = LAST_EPOCHS,
                  min_gain_fraction: float = MIN_GAIN_FRACTION) -> Convergence:
    """The diagnostic of one configuration from its runs' per-epoch accuracy curves."""
    usable = [list(c) for c in curves if c is not None and len(c) >= 2]
    slopes = np.asarray([run_slope(c, last) for c in usable], dtype=float)
    keep = np.isfinite(slopes)
    slopes = slopes[keep]
    finals = np.asarray([c[-1] for c, k in zip(usable, keep) if k], dtype=float)
    read = min(last, min((len(c) for c in usable), default=0))
    n = int(slopes.size)
    if n < 2:
        return Convergence(UNKNOWN, float(slopes.mean()) if n else math.nan, None, math.nan, n, read)
    mean, sd = float(slopes.mean()), float(slopes.std(ddof=1))
    half = float(sps.t.ppf(0.5 + LEVEL / 2, n - 1)) * sd / math.sqrt(n)
    ci = (mean - half, mean + half)
    seed_sd = float(finals.std(ddof=1))
    climbing = ci[0] > 0 and mean >= min_gain_fraction * seed_sd
    return Convergence(STILL_IMPROVING if climbing else PLATEAUED, mean, ci, seed_sd, n, read)


def of_runs(runs, by: Sequence[str], curve: str = "test_acc") -> list[tuple[dict, Convergence]]:
    """The diagnostic of every configuration of a runs table (one row per run, ``curve`` a list
    per row), grouped by the columns ``by``; configurations without curves (e.g. the paper's
    published summaries) are left out."""
    if curve not in runs.columns:
        return []
    rows = runs[runs[curve].map(lambda c: isinstance(c, (list, tuple)) and len(c) > 0)]
    if rows.empty:
        return []
    cols = [c for c in by if c in rows.columns]
    out = []
    for values, group in rows.groupby(cols, sort=False, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        out.append((dict(zip(cols, values)), configuration(list(group[curve]))))
    return out
