"""Power and expected seeds of ``--seeds auto`` (harness/statistics/sequential.py) per test family and
effect size, against fixed designs with 5 and 20 seeds per arm.

Simulated runs are normal with SD 1, so effects are in SD units. Every replicate goes through
the real path: the family's function in harness.statistics.stats at each stage's level, and
``sequential.stop_reason`` (efficacy, untestable, futility) between stages. Prints a markdown
table; ``--update-doc`` also writes its rows into docs/STATISTICS.md ("Power and expected
seeds"), which tests/test_power_table.py checks covers every family and effect listed here.

    PYTHONPATH=. python benchmarks/sequential_power.py [--reps 300] [--seed 0] [--update-doc]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from harness.statistics import sequential, stats
from harness.statistics.sequential import Design

ALPHA = 0.05
#: the level a claim's design spends: the outcome's alpha / m over the 17 declared claims
#: (issue 21; harness/statistics/multiplicity.py), unless --alpha says otherwise
DESIGN_ALPHA = ALPHA / 17
STAGES = (5, 10, 20)
DOC = Path(__file__).resolve().parent.parent / "docs" / "STATISTICS.md"
HEADER = ("| family | effect | P(supported) fixed n=5 | fixed n=20 | auto | auto: mean seeds per arm "
          "| auto: P(stop at 5 / 10 / 20) |")


def arm(label, x):
    return stats.Arm.from_values(label, x)


# family -> (effect label, effect sizes, simulate(rng, effect) -> data, claim(data, n, alpha))
def _welch_data(rng, d):
    return rng.normal(d, 1, 20), rng.normal(0, 1, 20)


def _welch(data, n, alpha):
    a, b = data
    return stats.mean_greater(arm("a", a[:n]), arm("b", b[:n]), alpha=alpha)


def _trend_data(rng, d):  # four levels, means rising linearly by d from first to last
    return [rng.normal(d * j / 3, 1, 20) for j in range(4)]


def _trend(data, n, alpha):
    return stats.trend([1, 2, 4, 8], [arm(f"l{j}", x[:n]) for j, x in enumerate(data)],
                       direction="increasing", alpha=alpha)


def _variance_data(rng, r):
    return rng.normal(0, r, 20), rng.normal(0, 1, 20)


def _variance(data, n, alpha):
    a, b = data
    return stats.variance_greater(arm("a", a[:n]), arm("b", b[:n]), alpha=alpha)


def _tost_data(rng, m):  # true difference 0; the margin is m SDs
    return rng.normal(0, 1, 20), rng.normal(0, 1, 20), m


def _tost(data, n, alpha):
    a, b, m = data
    return stats.equivalent(arm("a", a[:n]), arm("b", b[:n]), margin=m, alpha=alpha)


def _dod_data(rng, d):
    return rng.normal(d, 1, 20), rng.normal(0, 1, 20), rng.normal(0, 1, 20), rng.normal(0, 1, 20)


def _dod(data, n, alpha):
    return stats.diff_of_diffs(*(arm(f"x{i}", x[:n]) for i, x in enumerate(data)), alpha=alpha)


def _spread_data(rng, d):  # family A's means rise by d over 3 levels, B is flat
    return [rng.normal(d * j / 2, 1, 20) for j in range(3)], [rng.normal(0, 1, 20) for _ in range(3)]


def _spread(data, n, alpha):
    a, b = data
    return stats.spread_greater([arm(f"a{j}", x[:n]) for j, x in enumerate(a)],
                                [arm(f"b{j}", x[:n]) for j, x in enumerate(b)], alpha=alpha)


def _all_of_data(rng, d):  # two Welch parts, each with effect d
    return rng.normal(d, 1, 20), rng.normal(d, 1, 20), rng.normal(0, 1, 20)


def _all_of(data, n, alpha):
    a, c, b = data
    return stats.all_of([stats.mean_greater(arm("a", a[:n]), arm("b", b[:n]), alpha=alpha),
                         stats.mean_greater(arm("c", c[:n]), arm("b", b[:n]), alpha=alpha)])


FAMILIES = {
    "Welch `mean_greater`": ("difference (SD)", (0, 0.5, 1, 1.5, 2), _welch_data, _welch),
    "`trend` (tau + contrast)": ("last - first (SD)", (0, 1, 1.5, 2, 3), _trend_data, _trend),
    "Brown-Forsythe `variance_greater`": ("SD ratio", (1, 1.5, 2, 3, 4), _variance_data, _variance),
    "TOST `equivalent`": ("margin (SD), true diff 0", (1, 1.5, 2, 3), _tost_data, _tost),
    "`diff_of_diffs`": ("contrast (SD)", (0, 1, 2, 3), _dod_data, _dod),
    "`spread_greater`": ("A's range over 3 levels (SD)", (0, 1, 2, 3), _spread_data, _spread),
    "`all_of` (2 Welch parts)": ("each part's difference (SD)", (0, 1, 1.5, 2), _all_of_data, _all_of),
}


def sequential_run(data, claim, design: Design) -> tuple[str, int]:
    """(verdict, seeds per arm at the stop) of one replicate under the real stopping rule."""
    for k, (n, level) in enumerate(zip(design.stages, design.levels)):
        ev = claim(data, n, level)
        if sequential.stop_reason(ev.verdict, k, design, lambda: claim(data, n, design.levels[-1])):
            return ev.verdict, n
    raise AssertionError("the last stage always stops")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--spending", default=sequential.DEFAULT_SPENDING, choices=sequential.SPENDING_FUNCTIONS)
    ap.add_argument("--alpha", type=float, default=DESIGN_ALPHA,
                    help="the level every design (fixed and auto) is judged at (default 0.05/17, the outcome's)")
    ap.add_argument("--only", default="", help="only the families whose name contains this text")
    ap.add_argument("--update-doc", action="store_true",
                    help="write this run's rows into docs/STATISTICS.md (the whole table; not with --only)")
    args = ap.parse_args()
    if args.update_doc and args.only:
        ap.error("--update-doc writes the whole table: run it without --only")
    alpha = args.alpha
    design = Design(STAGES, alpha, args.spending)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    print(f"{args.reps} replicates per row; stages {STAGES}, {sequential.SPENDING_NAMES[args.spending]} "
          f"spending, alpha {alpha:.4g}; levels " + ", ".join(f"{lv:.2g}" for lv in design.levels))
    print()
    rows = [HEADER, "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
    print(*rows, sep="\n")
    for name, (label, effects, simulate, claim) in FAMILIES.items():
        if args.only not in name:
            continue
        for eff in effects:
            f5 = f20 = seq = 0
            seeds, stops = [], {n: 0 for n in STAGES}
            for _ in range(args.reps):
                data = simulate(rng, eff)
                f5 += claim(data, 5, alpha).verdict == stats.SUPPORTED
                f20 += claim(data, 20, alpha).verdict == stats.SUPPORTED
                verdict, n = sequential_run(data, claim, design)
                seq += verdict == stats.SUPPORTED
                seeds.append(n)
                stops[n] += 1
            r = args.reps
            rows.append(f"| {name} | {label} = {eff:g} | {f5 / r:.2f} | {f20 / r:.2f} | {seq / r:.2f} | "
                        f"{np.mean(seeds):.1f} | " + " / ".join(f"{stops[n] / r:.2f}" for n in STAGES) + " |")
            print(rows[-1], flush=True)
    print(f"\n({time.time() - t0:.0f} s; Monte Carlo SE of a proportion <= {0.5 / np.sqrt(args.reps):.3f})")
    if args.update_doc:
        DOC.write_text(replace_table(DOC.read_text(), rows))
        print(f"wrote the table into {DOC}; update the measurement line and the reading under it by hand")


def _table_span(doc: str) -> tuple[int, int]:
    """Where the table stands in docs/STATISTICS.md: from its header to the blank line."""
    start = doc.index(HEADER)
    return start, doc.index("\n\n", start)


def doc_table(doc: str) -> list[str]:
    """The table's lines in docs/STATISTICS.md (header first)."""
    start, end = _table_span(doc)
    return doc[start:end].splitlines()


def replace_table(doc: str, rows: list[str]) -> str:
    start, end = _table_span(doc)
    return doc[:start] + "\n".join(rows) + doc[end:]


def expected_rows() -> list[tuple[str, str]]:
    """(family, effect) of every row this script measures, in order."""
    return [(name, f"{label} = {eff:g}") for name, (label, effects, _, _) in FAMILIES.items()
            for eff in effects]


if __name__ == "__main__":
    main()
