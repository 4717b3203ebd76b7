"""Null rates and power of ``spread_greater`` (issue 21 item 4), for docs/STATISTICS.md.

    python3 benchmarks/spread_power.py                 # compute, write docs/spread_power.json, print
    python3 benchmarks/spread_power.py --update-doc    # also rewrite the section in docs/STATISTICS.md
    python3 benchmarks/spread_power.py --render-only --update-doc

Null rates: every spread_greater scenario of harness/statistics/calibration.py, at alpha and at alpha/17
(Holm's first level over the 17 claims), from the same draws. Power: the paper's own cell
means and SDs (fixtures/published_results.csv: Q5 BatchNorm vs GroupNorm at the cpu profile's
batch sizes 2/16/128 and at all 7; Q6 CNN vs MLP over the three orders, with the CNN of
experiment 1 (the paper's headline table) and of experiment 2 (the runs --source paper judges)) with 5, 10 and 20
seeds a cell (20 = the last stage of --seeds auto). The rule runs through harness.statistics.simulate,
the code spread_greater calls (harness.statistics.calibration checks them against each other).
"""
from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks import doc_table  # noqa: E402

from harness.statistics import calibration as cal  # noqa: E402
from harness.statistics import simulate as sim  # noqa: E402

DOC = REPO / "docs" / "STATISTICS.md"
JSON = REPO / "docs" / "spread_power.json"
FIXTURE = REPO / "fixtures" / "published_results.csv"
BEGIN, END = "<!-- spread-power:begin -->", "<!-- spread-power:end -->"
ALPHA, M = 0.05, 17
NS = (5, 10, 20)


def paper_cells() -> dict:
    """(mean, SD) per cell from the paper's tables; SDs converted from population (ddof=0,
    n=5) to sample SDs."""
    rows = list(csv.DictReader(FIXTURE.open()))
    fix = math.sqrt(5 / 4)

    def cell(r):
        return float(r["mean"]), float(r["std_pop"]) * fix
    q5 = {(r["norm"], int(r["batch_size"])): cell(r) for r in rows
          if r["question"] == "Q5" and r["table"] == "results" and r["kind"] == "summary"}
    q6_cnn = {r["order"]: cell(r) for r in rows if r["question"] == "Q6" and r["table"] == "experiment1"
              and r["arch"] == "cnn" and r["kind"] == "summary"}
    q6_cnn2 = {r["order"]: cell(r) for r in rows if r["question"] == "Q6" and r["table"] == "experiment2"
               and r["arch"] == "cnn" and r["kind"] == "summary"}
    q6_mlp = {r["order"]: cell(r) for r in rows if r["question"] == "Q6" and r["table"] == "experiment2"
              and r["arch"] == "mlp" and r["kind"] == "summary"}
    cnn = [q6_cnn[o] for o in ("conv-norm-relu", "conv-relu-norm", "conv-leakyrelu-norm")]
    cnn2 = [q6_cnn2[o] for o in ("conv-norm-relu", "conv-relu-norm", "conv-leakyrelu-norm")]
    mlp = [q6_mlp[o] for o in ("linear-norm-relu", "linear-relu-norm", "linear-leakyrelu-norm")]
    small = (2, 16, 128)
    full = (2, 4, 8, 16, 32, 64, 128)
    return {
        "Q5 BatchNorm vs GroupNorm, batch 2/16/128": ([q5["batch", b] for b in small], [q5["group", b] for b in small]),
        "Q5 BatchNorm vs GroupNorm, all 7 batch sizes": ([q5["batch", b] for b in full], [q5["group", b] for b in full]),
        "Q6 CNN vs MLP over the 3 orders": (cnn, mlp),
        # the runs the paper source judges: the CNN's order effect is smaller in experiment 2
        "Q6 CNN (experiment 2 runs) vs MLP": (cnn2, mlp),
    }


def power(a_cells, b_cells, n: int, reps: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    a = [m + s * rng.standard_normal((reps, n)) for m, s in a_cells]
    b = [m + s * rng.standard_normal((reps, n)) for m, s in b_cells]
    p, _ = sim.spread_p(a, b)
    return {"alpha": float((p < ALPHA).mean()), "alpha_m": float((p < ALPHA / M).mean())}


def compute(null_reps: int, power_reps: int, machine: str) -> dict:
    t0 = time.time()
    out = {"machine": machine, "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "versions": {"python": platform.python_version(), "numpy": np.__version__},
           "alpha": ALPHA, "m": M, "null_reps": null_reps, "power_reps": power_reps,
           "boot": sim.SPREAD_BOOT, "null": [], "power": {}}
    for sc in (s for s in cal.scenarios() if s.family == "spread_greater"):
        cal.check_against_stats(sc, k=3)
        arms = sc.draw(np.random.default_rng(20261128), null_reps)
        p, p_ref = sc.rule(arms)
        q, q_ref = sc.naive(arms)
        naive = q if sc.naive_side == "supported" else q_ref
        out["null"].append({"scenario": sc.name, "description": sc.description,
                            "supported": float((p < ALPHA).mean()), "refuted": float((p_ref < ALPHA).mean()),
                            "supported_m": float((p < ALPHA / M).mean()),
                            "refuted_m": float((p_ref < ALPHA / M).mean()),
                            "naive_what": sc.naive_what, "naive_side": sc.naive_side,
                            "naive": float((naive < ALPHA).mean())})
    for i, (name, (a, b)) in enumerate(paper_cells().items()):
        out["power"][name] = {str(n): power(a, b, n, power_reps, 77 + i) for n in NS}
    out["run_time_s"] = round(time.time() - t0)
    return out


def render(d: dict) -> str:
    L: list[str] = []
    w = L.append
    a, m = d["alpha"], d["m"]

    def lim(level, reps):
        return level + 3 * math.sqrt(level * (1 - level) / reps)
    w(BEGIN)
    w("")
    w(f"_Generated by `python3 benchmarks/spread_power.py` on {d['generated']}, {d['machine']}; "
      f"Python {d['versions']['python']}, numpy {d['versions']['numpy']}; run time {d['run_time_s']} s; "
      f"{d['boot']:,} bootstrap resamples per boundary point. Numbers: `docs/spread_power.json`._")
    w("")
    w(f"**Null rates** ({d['null_reps']:,} replicates per scenario; limits alpha + 3 SE = "
      f"{lim(a, d['null_reps']):.4f} at alpha = {a}, {lim(a / m, d['null_reps']):.4f} at alpha/{m} = "
      f"{a / m:.4f}). Last column: the naive variant's inflated rate at alpha.")
    w("")
    w("| null scenario | supported | refuted | supported at alpha/m | refuted at alpha/m | naive variant | naive rate |")
    w("|---|---|---|---|---|---|---|")
    for r in d["null"]:
        w(f"| {r['description']} | {r['supported']:.4f} | {r['refuted']:.4f} | {r['supported_m']:.4f} | "
          f"{r['refuted_m']:.4f} | {r['naive_what']} | {r['naive']:.4f} ({r['naive_side']}) |")
    w("")
    w(f"**Power at the paper's own effects** ({d['power_reps']:,} replicates per cell; cells drawn "
      "normal with the paper's means and sample SDs; share `supported` at alpha / at alpha/m):")
    w("")
    w("| effect | " + " | ".join(f"n = {n}" for n in d["power"][next(iter(d["power"]))]) + " |")
    w("|---|" + "---|" * len(d["power"][next(iter(d["power"]))]))
    for name, row in d["power"].items():
        w(f"| {name} | " + " | ".join(f"{x['alpha']:.2f} / {x['alpha_m']:.2f}" for x in row.values()) + " |")
    w("")
    w(END)
    return "\n".join(L)


def doc_section(text: str) -> str:
    return doc_table.section(text, BEGIN, END)


def main() -> None:
    ap = doc_table.parser(__doc__.splitlines()[0])
    ap.add_argument("--null-reps", type=int, default=1000)
    ap.add_argument("--power-reps", type=int, default=400)
    args = ap.parse_args()
    doc_table.publish(args, lambda: compute(args.null_reps, args.power_reps, args.machine), render,
                      JSON, DOC, doc_section)

if __name__ == "__main__":
    main()
