"""What deciding more claims would cost: the price, in session minutes, of a new confirmatory
study that gives every chosen undecided claim the seeds its report says it needs.

Issue 24 asks a cpu-tier study that decides at least 10 of the 17 findings in at most 60
minutes on 2 cores. This script prices that from a committed study's own numbers, no typed
ones:

* what each undecided claim would need: ``seeds_needed`` in the report (the claim's own test
  at the level its outcome is decided at, 80% power if the observed effect were the truth;
  harness/statistics/seeds_needed.py);
* which configurations each claim reads: the configurations its seeds were added to
  (``sequential.configs``);
* what a seed of each configuration costs: the mean ``wall_s`` of its runs in ``runs.csv``
  (matched to the profile's grid as a replay matches them; a stack's wall time shared among
  its seeds: seconds of one worker).

A new study runs on fresh seeds, so every configuration of the family is trained again: a
configuration gets the largest seeds any claim reading it asks (a chosen undecided claim its
``seeds_needed``, any other claim the seeds it used), and the session's minutes are the sum
over configurations of seeds x seconds per seed over the workers. That is the fixed-seeds
price; a group-sequential design that keeps the same power stops some configurations early
but plans a slightly larger last stage. For each number of added claims the cheapest choice
is printed, with the chance that the target is reached if each chosen claim is decided with
the 80% power it was sized for (independently; observed effects overstate, so this is an
upper bound).

    python3 benchmarks/study_cost.py                       # the committed cpu2 study
    python3 benchmarks/study_cost.py --report PATH/report.json --workers 2 --budget-min 60
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402

from harness.declare import grids, questions  # noqa: E402
from harness.declare.profiles import resolve_profile  # noqa: E402
from harness.runstore.replay import rows_of_specs  # noqa: E402
from harness.statistics.seeds_needed import TARGET_POWER  # noqa: E402

DECIDED = ("supported", "refuted")


def family_claims(report: dict) -> list[dict]:
    """The claims of the report's largest body (the one issue 24 counts: 17 findings)."""
    bodies: dict[str, list[dict]] = {}
    for c in report["results"]:
        bodies.setdefault(c.get("body", ""), []).append(c)
    return max(bodies.values(), key=len)


def config_seconds(runs: pd.DataFrame, profile_name: str) -> dict:
    """configuration label -> mean seconds of one seed (one worker), over the profile's grid
    (rows matched to its RunSpecs by configuration and seed, as a replay matches them)."""
    profile = resolve_profile(profile_name, [])
    most = int(runs["seed"].max()) - profile.first_seed + 1
    seconds: dict[str, list[float]] = {}
    specs = [spec for q in questions.QUESTIONS for spec in grids.grid(q, profile, seeds=most)]
    for spec, row in rows_of_specs(runs, specs):
        if row is not None:
            seconds.setdefault(spec.label().rsplit(" seed ", 1)[0], []).append(float(row["wall_s"]))
    return {label: sum(v) / len(v) for label, v in seconds.items()}


def seeds_used(claim: dict) -> int:
    seq = claim.get("sequential") or {}
    if seq.get("stopped_at"):
        return int(seq["stopped_at"])
    n = (claim.get("evidence") or {}).get("n") or [0]
    return int(max(n))


def at_least(k: int, p: float, need: int) -> float:
    """P(at least ``need`` of ``k`` independent events of probability ``p``)."""
    return sum(math.comb(k, j) * p ** j * (1 - p) ** (k - j) for j in range(max(need, 0), k + 1))


def configs_of(claim: dict) -> list[str]:
    """The configurations a claim reads (those its seeds were added to)."""
    return (claim.get("sequential") or {}).get("configs") or []


def price(claims: list[dict], chosen: set[str], seconds: dict, workers: int) -> tuple[float, dict]:
    """Session minutes of a fresh study giving each chosen claim its seeds_needed."""
    seeds: dict[str, int] = {}
    for c in claims:
        n = c["seeds_needed"]["seeds"] if c["id"] in chosen else seeds_used(c)
        for cfg in configs_of(c):
            seeds[cfg] = max(seeds.get(cfg, 0), n)
    return sum(n * seconds[cfg] for cfg, n in seeds.items()) / workers / 60, seeds


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--report", default="docs/results/fashion-mnist-cpu2/report.json")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--budget-min", type=float, default=60.0)
    ap.add_argument("--target", type=int, default=10, help="decided findings asked for")
    a = ap.parse_args(argv)
    path = Path(a.report) if Path(a.report).is_absolute() else REPO / a.report
    try:
        report = json.loads(path.read_text())
        runs = pd.read_csv(path.parent / "runs.csv")
        profile = report["meta"]["profile"]
    except (OSError, ValueError, KeyError) as exc:
        sys.exit(f"ERROR: --report {a.report}: {type(exc).__name__}: {exc}; give a report.json "
                 "written by `pytest claims` with its runs.csv beside it")
    seconds = config_seconds(runs, profile)
    claims = family_claims(report)
    decided = [c for c in claims if c.get("verdict_adjusted") in DECIDED]
    open_ = [c for c in claims if c.get("verdict_adjusted") not in DECIDED]
    sizable = [c for c in open_ if (c.get("seeds_needed") or {}).get("seeds")]
    now, _ = price(claims, set(), seconds, a.workers)
    print(f"# study_cost: {path.relative_to(REPO) if path.is_relative_to(REPO) else path.name}; "
          f"{len(claims)} findings, {len(decided)} decided after "
          f"{str(report['meta'].get('multiplicity', '')).split(':')[0] or 'the correction'}; {a.workers} workers; "
          f"budget {a.budget_min:.0f} min; target {a.target} decided\n")
    print(f"The same study again on fresh seeds (every claim at the seeds it used): "
          f"{now:.0f} min of training on {a.workers} workers "
          f"(its runs' wall_s summed over the workers).\n")
    print("| undecided finding | verdict (adjusted) | seeds used | seeds needed (80% power at the observed effect) |")
    print("|---|---|---:|---:|")
    for c in open_:
        need = (c.get("seeds_needed") or {}).get("seeds")
        cap = (c.get("seeds_needed") or {}).get("max_seeds")
        print(f"| `{c['id']}` | {c.get('verdict_adjusted')} | {seeds_used(c)} | "
              f"{need if need else ('more than %s' % cap if cap else 'no plan')} |")
    print("\nCheapest study per number of undecided findings added (fixed seeds, fresh seeds "
          "for every configuration):\n")
    print("| added | findings added | training minutes | within budget | decided if all are | "
          f"P(>= {a.target} decided) |")
    print("|---:|---|---:|---|---:|---:|")
    need_more = a.target - len(decided)
    for k in range(1, len(sizable) + 1):
        best = min((price(claims, {c["id"] for c in combo}, seconds, a.workers)[0],
                    [c["id"] for c in combo]) for combo in itertools.combinations(sizable, k))
        minutes, ids = best
        print(f"| {k} | {', '.join(f'`{i}`' for i in ids)} | {minutes:.0f} | "
              f"{'yes' if minutes <= a.budget_min else 'no'} | {len(decided) + k} | "
              f"{at_least(k, TARGET_POWER, need_more):.2f} |")


if __name__ == "__main__":
    main()
