"""A/A self-calibration on stored runs (issue 21 item 8): ``pytest claims --calibrate
--source runs.csv`` judges fake claims whose truth is known to be null, with the noise of
real training instead of a normal model.

Each configuration's stored seeds are split into two fake arms (every split of its n seeds
into floor(n/2) and the rest), so the two arms have the same true mean and spread; every
two-sample family of harness.statistics.stats then runs on them:

* ``mean_greater`` (A vs B), ``trend`` (the two arms as levels 1 and 2), ``equivalent``
  (only its `refuted` is an error; `supported` is what an A/A split should give);
* ``variance_greater`` (untestable with fewer than 3 runs an arm: reported, not judged);
* ``diff_of_diffs`` over disjoint pairs of configurations, ``spread_greater`` over disjoint
  triples (each configuration a level, family A = the first arms, B = the second).

``mean_above`` (a fixed threshold) and ``all_of`` (a combination) have no A/A form.
Rates: a unit (configuration, pair, triple) contributes the share of its splits judged
supported / refuted, and a family's rate is the mean over units and metrics. The splits of
a unit share runs and the metrics share configurations, so the band counts only the
independent units: rate <= alpha + 3 sqrt(alpha (1 - alpha) / units). Wide with 20
configurations, but it fails a family that, on real runs, says supported or refuted far
more often than alpha.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.runstore.validate import CONFIG_COLUMNS  # the one list of what names a configuration
from harness.statistics import stats
METRICS = ("best_test_acc", "final_test_acc")


@dataclass(frozen=True)
class Row:
    family: str
    units: int
    judged: int        # fake claims judged (units x splits x metrics), untestable excluded
    untestable: int
    supported: float   # empirical rates
    refuted: float
    band: float        # alpha + 3 SE over the independent units
    error_sides: tuple[str, ...]  # which rates are errors under A/A

    @property
    def inside(self) -> bool:
        return self.judged == 0 or all(getattr(self, s) <= self.band for s in self.error_sides)


def _configs(df: pd.DataFrame, metric: str) -> list[np.ndarray]:
    """Each configuration's values of ``metric``, in seed order (configurations with >= 4 runs,
    so that both fake arms have >= 2)."""
    cols = [c for c in CONFIG_COLUMNS if c in df.columns]
    runs = df[(df["kind"] == "run") & df[metric].notna()].sort_values("seed")
    out = []
    for _, g in runs.groupby(cols, dropna=False, sort=True):
        if len(g) >= 4:
            out.append(g[metric].to_numpy(dtype=float))
    return out


def _splits(n: int, limit: int) -> list[tuple[list[int], list[int]]]:
    """The first ``limit`` ways to split n seeds into halves (only those are drawn: 20 seeds
    have 184,756, and building them all took minutes per report)."""
    k = n // 2
    return [(list(a), [i for i in range(n) if i not in a])
            for a in itertools.islice(itertools.combinations(range(n), k), limit)]


def _arms(x: np.ndarray, split, tag: str) -> tuple[stats.Arm, stats.Arm]:
    a, b = split
    return stats.Arm.from_values(f"{tag}A", x[a]), stats.Arm.from_values(f"{tag}B", x[b])


def _judge_units(units: list[list[np.ndarray]], judge, max_splits: int = 10):
    """units: lists of configurations judged together; judge(list of (A, B) arm pairs) ->
    Evidence. Yields per unit the verdicts over its splits (the same split index in each
    configuration of the unit)."""
    for unit in units:
        n = min(len(x) for x in unit)
        verdicts = []
        for split in _splits(n, max_splits):
            pairs = [_arms(x[:n], split, f"c{i}") for i, x in enumerate(unit)]
            verdicts.append(judge(pairs).verdict)
        yield verdicts


def aa_table(df: pd.DataFrame, alpha: float, margin: float) -> list[Row]:
    """Empirical supported / refuted rates of every family on A/A splits of ``df``'s runs."""
    A = alpha
    families = {
        "mean_greater": (1, lambda p: stats.mean_greater(*p[0], alpha=A), ("supported", "refuted")),
        # only the verdict is read: the simulated MDE (most of a report's A/A time) is skipped
        "trend": (1, lambda p: stats.trend([1, 2], list(p[0]), direction="increasing", alpha=A,
                                           mde=False),
                  ("supported", "refuted")),
        "equivalent": (1, lambda p: stats.equivalent(*p[0], margin=margin, alpha=A), ("refuted",)),
        "variance_greater": (1, lambda p: stats.variance_greater(*p[0], alpha=A), ("supported", "refuted")),
        "diff_of_diffs": (2, lambda p: stats.diff_of_diffs(*p[0], *p[1], alpha=A), ("supported", "refuted")),
        "spread_greater": (3, lambda p: stats.spread_greater([x[0] for x in p], [x[1] for x in p], alpha=A),
                           ("supported", "refuted")),
    }
    rows = []
    for family, (size, judge, sides) in families.items():
        sup, ref, judged, untestable, units = [], [], 0, 0, 0
        for metric in METRICS:
            if metric not in df.columns:
                continue
            configs = _configs(df, metric)
            groups = [configs[i:i + size] for i in range(0, len(configs) - size + 1, size)]
            units = max(units, len(groups))
            for verdicts in _judge_units(groups, judge):
                ok = [v for v in verdicts if v != stats.UNTESTABLE]
                untestable += len(verdicts) - len(ok)
                judged += len(ok)
                if ok:
                    sup.append(sum(v == stats.SUPPORTED for v in ok) / len(ok))
                    ref.append(sum(v == stats.REFUTED for v in ok) / len(ok))
        band = alpha + 3 * math.sqrt(alpha * (1 - alpha) / units) if units else math.nan
        rows.append(Row(family, units, judged, untestable,
                        float(np.mean(sup)) if sup else math.nan,
                        float(np.mean(ref)) if ref else math.nan, band, sides))
    return rows


def render(rows: list[Row], alpha: float, source: str) -> str:
    L = [f"A/A self-calibration of `{source}` at alpha = {alpha:g}: each configuration's seeds "
         "split into two fake arms of the same truth; a rate in **bold** is an error rate "
         "(must stay within the band).", "",
         "| family | independent units | fake claims judged | untestable | supported | refuted | band | inside |",
         "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        def cell(side):
            x = getattr(r, side)
            s = "-" if math.isnan(x) else f"{x:.3f}"
            return f"**{s}**" if side in r.error_sides else s
        L.append(f"| `{r.family}` | {r.units} | {r.judged} | {r.untestable} | {cell('supported')} | "
                 f"{cell('refuted')} | {r.band:.3f} | {'yes' if r.inside else 'NO'} |")
    return "\n".join(L)


if __name__ == "__main__":  # python3 -m harness.statistics.aa_calibration runs.csv [alpha] > calibration.md
    import sys

    from harness.declare.profiles import PROFILES
    from harness.runstore import runs as runs_mod

    path = sys.argv[1]
    a = float(sys.argv[2]) if len(sys.argv) > 2 else 0.05
    table = aa_table(runs_mod.read_runs_csv(path), a, PROFILES["cpu"].q6_mlp_order_margin)
    print("# A/A self-calibration\n")
    print(f"_Generated by `python3 -m harness.statistics.aa_calibration {path}`._\n")
    print(render(table, a, path))
