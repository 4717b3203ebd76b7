"""Every null rate and power figure of docs/STATISTICS.md, from one script.

    python3 benchmarks/power_table.py                     # compute, write docs/power_table.json, print
    python3 benchmarks/power_table.py --update-doc        # also rewrite the section in docs/STATISTICS.md
    python3 benchmarks/power_table.py --render-only --update-doc   # re-render from the JSON (fast)

Two steps: ``compute`` runs the simulations (fixed numpy seeds: a rerun reproduces the
numbers given the same numpy/scipy) and writes docs/power_table.json; ``render`` turns that
JSON into the markdown between ``<!-- power-table:begin -->`` and ``<!-- power-table:end -->``.
tests/test_power_table.py checks that the doc section equals ``render(json)`` and re-runs a
few cells at a small replicate count against the JSON, without the slow simulation.
The scenarios are those of harness/calibration.py (the calibration tests use the same).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import scipy
from scipy import special, stats

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness import calibration as cal  # noqa: E402
from harness import simulate as sim  # noqa: E402
from harness.stats import Arm, mean_greater  # noqa: E402

DOC = REPO / "docs" / "STATISTICS.md"
JSON = REPO / "docs" / "power_table.json"
BEGIN, END = "<!-- power-table:begin -->", "<!-- power-table:end -->"
ALPHA = 0.05
NS = (3, 5, 10, 20)
DS = (0.5, 1.0, 1.5, 2.0, 3.0)
SPREAD_STEPS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)


def welch_power(n: int, d: float, reps: int, rng: np.random.Generator) -> float:
    """Monte-Carlo power of the one-sided Welch test, both arms N(., 1), n each, true
    standardized difference d (checked against harness.stats on the first replicate)."""
    x = rng.normal(d, 1.0, (reps, n))
    y = rng.normal(0.0, 1.0, (reps, n))
    p, _ = sim.welch_p(x, y)
    ref = mean_greater(Arm.from_values("x", x[0]), Arm.from_values("y", y[0]), alpha=ALPHA).p
    assert math.isclose(ref, p[0], rel_tol=1e-9), (ref, p[0])
    return float((p < ALPHA).mean())


def d_at_80(n: int) -> float:
    df = 2 * n - 2
    return (stats.t.ppf(1 - ALPHA, df) + stats.t.ppf(0.8, df)) * math.sqrt(2 / n)


def f_test_mde(n: int, k: int = 1) -> float:
    """SD ratio with 80% power for the old pooled-variance F test (k arms of n per side)."""
    df = k * (n - 1)
    return math.sqrt(special.fdtri(df, df, 1 - ALPHA) / special.fdtri(df, df, 0.2))


#: the spread rules compared: the one applied (harness.simulate.spread_p) and the two it
#: replaced or was preferred to (harness.calibration's naive variants)
SPREAD_RULES = {
    "applied": ("noise-corrected spread ratio (the rule applied)", lambda a, b: sim.spread_p(a, b)),
    "previous": ("uncorrected spread ratio (the previous rule)", cal._uncorrected_ratio),
    "pooled": ("correction from one pooled variance per family", cal._pooled_correction),
}


def spread_power(rule: str, step: float, noise_a: float, reps: int, seed: int) -> float:
    """Power of a spread rule, 3 levels, n 5: family A rises in equal steps (0, s, 2s), B is
    flat; within-cell SD 1 in B and noise_a in A (s = 0: the null tau_A = tau_B = 0)."""
    rng = np.random.default_rng(seed)
    a = [j * step + noise_a * rng.standard_normal((reps, 5)) for j in range(3)]
    b = [rng.standard_normal((reps, 5)) for _ in range(3)]
    return float((SPREAD_RULES[rule][1](a, b)[0] < ALPHA).mean())


def spread_rule_mde(rule: str, k: int, reps: int) -> float:
    """Cohen's f at which a spread rule has 80% power, k levels, n 5, A rising in equal steps,
    B flat, SD 1 (the design of harness.simulate.spread_mde, on raw runs, by bisection)."""
    rng = np.random.default_rng(sim.MDE_SEED)
    za = [rng.standard_normal((reps, 5)) for _ in range(k)]
    zb = [rng.standard_normal((reps, 5)) for _ in range(k)]
    prof = np.arange(k) - (k - 1) / 2

    def power_at(step: float) -> float:
        return float((SPREAD_RULES[rule][1]([z + step * c for z, c in zip(za, prof)], zb)[0] < ALPHA).mean())

    step = sim._solve_80(power_at, 0.0, 8.0, 0.8, log=False)
    # Cohen's f of the interaction: w = 2.5 per level, N = 10 k
    return float(step * np.sqrt(2.5 * (prof ** 2).sum() / (10 * k)))


def compute(power_reps: int, null_reps: int, machine: str) -> dict:
    t0 = time.time()
    out: dict = {"machine": machine, "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                 "versions": {"python": platform.python_version(), "numpy": np.__version__,
                              "scipy": scipy.__version__},
                 "alpha": ALPHA, "power_reps": power_reps, "null_reps": null_reps}
    rng = np.random.default_rng(12345)
    out["welch_power"] = {str(n): {"power": [welch_power(n, d, power_reps, rng) for d in DS],
                                   "d80": d_at_80(n)} for n in NS}
    out["variance_mde"] = {str(n): {"one_arm": sim.variance_mde((n,), (n,), ALPHA, 0.8, power_reps // 4),
                                    "three_arms": sim.variance_mde((n,) * 3, (n,) * 3, ALPHA, 0.8, power_reps // 4),
                                    "old_f_one_arm": f_test_mde(n), "old_f_three_arms": f_test_mde(n, 3)}
                           for n in NS}
    out["calibration"] = []
    for sc in cal.scenarios():
        cal.check_against_stats(sc)
        r = cal.rates(sc, null_reps)
        out["calibration"].append({"family": sc.family, "scenario": sc.name, "description": sc.description,
                                   "supported": r["supported"], "refuted": r["refuted"],
                                   "naive": r[f"naive_{sc.naive_side}"], "naive_side": sc.naive_side,
                                   "naive_what": sc.naive_what, "weakness": sc.weakness})
    out["spread_direction_alone"] = []
    for sc in (x for x in cal.scenarios() if x.family == "spread_greater"):
        arms = sc.draw(np.random.default_rng(20261128), null_reps)  # the draws of cal.rates
        k = len(arms) // 2
        row = {"scenario": sc.name, "description": sc.description}
        for how in SPREAD_RULES:
            p, p_opp = cal.spread_direction_alone(arms[:k], arms[k:], how)
            row[how] = [float((p < ALPHA).mean()), float((p_opp < ALPHA).mean())]
        out["spread_direction_alone"].append(row)
    out["spread_rules"] = {r: what for r, (what, _) in SPREAD_RULES.items()}
    out["spread_power"] = {r: {f"{noise:g}": [spread_power(r, s, noise, power_reps, 31 + i)
                                              for i, s in enumerate(SPREAD_STEPS)]
                               for noise in (1.0, 2.0)}
                           for r in SPREAD_RULES}
    out["spread_mde"] = {"f_whole_rule": sim.spread_mde((5,) * 3, (5,) * 3, ALPHA, 0.8, power_reps // 4),
                         "by_rule": {r: {str(k): spread_rule_mde(r, k, power_reps // 4) for k in (3, 7)}
                                     for r in SPREAD_RULES}}
    out["run_time_s"] = round(time.time() - t0)
    return out


def _p(x: float) -> str:
    return f"{x:.4f}"


def render(d: dict) -> str:
    L: list[str] = []
    w = L.append
    v = d["versions"]
    w(BEGIN)
    w("")
    w(f"_Generated by `python3 benchmarks/power_table.py` on {d['generated']}, {d['machine']}; "
      f"Python {v['python']}, numpy {v['numpy']}, scipy {v['scipy']}; run time {d['run_time_s']} s. "
      "Numbers: `docs/power_table.json`._")
    w("")
    a = d["alpha"]
    w(f"### Power of the one-sided Welch test (`mean_greater`), alpha = {a}")
    w("")
    w(f"Monte-Carlo, {d['power_reps']:,} replicates per cell; both arms normal with equal SD; "
      "d = true difference / SD; n = runs per arm. Last column: the d detectable with 80% power "
      "(the `mde` formula, in SD units).")
    w("")
    w("| n per arm | " + " | ".join(f"d = {x:g}" for x in DS) + " | d at 80% power |")
    w("|---|" + "---|" * len(DS) + "---|")
    for n, row in d["welch_power"].items():
        w(f"| {n} | " + " | ".join(f"{x:.2f}" for x in row["power"]) + f" | {row['d80']:.2f} |")
    w("")
    w("### Run-to-run SD ratio detectable by `variance_greater` (80% power, normal runs)")
    w("")
    w(f"The `mde` of the Brown-Forsythe rule, simulated ({d['power_reps'] // 4:,} replicates, "
      "bisection); beside it the exact figure of the old pooled-variance F test, which is more "
      "powerful only because it assumes what fails in practice (normal runs, one variance per side).")
    w("")
    w("| runs per arm | 1 arm per side | 3 arms per side | old F, 1 arm | old F, 3 arms |")
    w("|---|---|---|---|---|")
    def ratio(x: float) -> str:  # nan: 80% power is out of reach at any SD ratio
        return f"{x:.2f}" if math.isfinite(x) else "unreachable"

    for n, row in d["variance_mde"].items():
        w(f"| {n} | {ratio(row['one_arm'])} | {ratio(row['three_arms'])} | {row['old_f_one_arm']:.2f} | "
          f"{row['old_f_three_arms']:.2f} |")
    w("")
    w("_unreachable_: with 3 runs an arm keeps 2 scores, and the Welch t on 2 vs 2 scores never "
      "reaches 80% power, whatever the SD ratio.")
    w("")
    lim = a + 3 * math.sqrt(a * (1 - a) / d["null_reps"])
    w(f"### Null rates of every rule, alpha = {a}")
    w("")
    w(f"Share of `supported` and of `refuted` verdicts at the boundary of the null, "
      f"{d['null_reps']:,} replicates per scenario (limit alpha + 3 Monte-Carlo SE = {lim:.4f}). "
      "Last column: the same simulation judged by a deliberately naive variant of the rule "
      "(its inflated rate: `supported` or `refuted`, as named). `tests/test_calibration.py` "
      "asserts the rule's rates against the limit at its own replicate count and that each "
      "naive variant exceeds it. Rows marked **weakness** are not held to alpha (see below).")
    w("")
    w("| rule | null scenario | supported | refuted | naive variant | naive rate |")
    w("|---|---|---|---|---|---|")
    for r in d["calibration"]:
        flag = " **weakness**" if r["weakness"] else ""
        w(f"| `{r['family']}` | {r['description']}{flag} | {_p(r['supported'])} | {_p(r['refuted'])} | "
          f"{r['naive_what']} | {_p(r['naive'])} ({r['naive_side']}) |")
    w("")
    weak = [r for r in d["calibration"] if r["weakness"]]
    if weak:
        w("**Known weaknesses** (measured above, not fixed):")
        w("")
        for r in weak:
            w(f"- `{r['family']}`, {r['description']}: {_p(r['supported'])}. {r['weakness']}.")
        w("")
    w("### `spread_greater`: the directional part alone under the same nulls")
    w("")
    w("The spread-ratio part without the interaction F, same draws as the null-rate table "
      "(`supported` / `refuted`). The rule's design needs the applied part alone at or below the "
      "limit in every scenario, so that the intersection-union holds whatever the interaction does; "
      "`tests/test_calibration.py` asserts it. Beside it the part it replaced (uncorrected ratio "
      "of between-level mean squares) and the pooled-variance correction it was preferred to.")
    w("")
    w("| null scenario | applied | previous | pooled |")
    w("|---|---|---|---|")
    for r in d["spread_direction_alone"]:
        w(f"| {r['description']} | " + " | ".join(f"{_p(r[h][0])} / {_p(r[h][1])}"
                                              for h in ("applied", "previous", "pooled")) + " |")
    w("")
    w("### Power of `spread_greater` (3 levels, n = 5 per cell: the Q5/Q6 shapes)")
    w("")
    sm = d["spread_mde"]
    by = sm["by_rule"]
    w(f"Family A's level means 0, s, 2s (in units of B's within-cell SD); family B flat; within-cell "
      f"SD 1 in B and 1 or 2 in A; {d['power_reps']:,} replicates per cell. s = 0 is the null "
      "(no level effects in either family): there a rate above alpha is a false positive, not power. "
      "Three rules: the one applied (interaction F and the noise-corrected spread ratio with "
      "Satterthwaite dfs), the previous one (interaction F and the uncorrected ratio of "
      "between-level mean squares) and the noise correction with one pooled variance per family "
      "(exact when a family's cells share one variance; not adopted: above alpha with one level "
      "noisier than the others, see the null rates above).")
    w("")
    w("| rule | noise SD in A | " + " | ".join(f"s = {s:g}" for s in SPREAD_STEPS) + " |")
    w("|---|---|" + "---|" * len(SPREAD_STEPS))
    for rule, rows in d["spread_power"].items():
        for noise, row in rows.items():
            w(f"| {rule} | {noise} | " + " | ".join(f"{x:.2f}" for x in row) + " |")
    w("")
    w(f"Cohen's f at which each rule says `supported` with 80% power (equal noise, n = 5, A rising "
      f"in equal steps, B flat; {d['power_reps'] // 4:,} replicates, bisection). The applied rule's "
      f"`mde` (harness.simulate.spread_mde, from cell summaries) at 3 levels: {sm['f_whole_rule']:.2f}.")
    w("")
    w("| levels | " + " | ".join(by) + " | cost of the applied rule vs the previous |")
    w("|---|" + "---|" * len(by) + "---|")
    for k in by["applied"]:
        w(f"| {k} | " + " | ".join(f"{by[r][k]:.2f}" for r in by) +
          f" | x{by['applied'][k] / by['previous'][k]:.2f} |")
    w("")
    w("### Smallest attainable one-sided p of exact rank tests")
    w("")
    w("With n runs per arm, the exact one-sided Mann-Whitney test cannot go below 1 / C(2n, n); "
      "with k single runs Kendall's tau cannot go below 1 / k!. **With 3 seeds per arm a "
      "one-sided rank test can never reach p < 0.05**; the t-based tests used here can.")
    w("")
    w("| runs | Mann-Whitney, n vs n: min p | Kendall tau, k single runs: min p |")
    w("|---|---|---|")
    for m in (2, 3, 4, 5, 6):
        w(f"| {m} | 1/{math.comb(2 * m, m)} = {1 / math.comb(2 * m, m):.4f} | "
          f"1/{math.factorial(m)} = {1 / math.factorial(m):.4f} |")
    w("")
    w(END)
    return "\n".join(L)


def doc_section(text: str) -> str:
    i, j = text.index(BEGIN), text.index(END) + len(END)
    return text[i:j]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machine", default=f"{os.cpu_count()}-core {platform.machine()} CPU, no GPU")
    ap.add_argument("--power-reps", type=int, default=20000)
    ap.add_argument("--null-reps", type=int, default=20000)
    ap.add_argument("--render-only", action="store_true", help=f"render {JSON.name} without simulating")
    ap.add_argument("--update-doc", action="store_true",
                    help=f"replace the section between the markers in {DOC.relative_to(REPO)}")
    args = ap.parse_args()
    if args.render_only:
        data = json.loads(JSON.read_text())
    else:
        data = compute(args.power_reps, args.null_reps, args.machine)
        JSON.write_text(json.dumps(data, indent=1) + "\n")
    text = render(data)
    print(text)
    if args.update_doc:
        doc = DOC.read_text()
        DOC.write_text(doc.replace(doc_section(doc), text))
        print(f"\nupdated {DOC}", file=sys.stderr)


if __name__ == "__main__":
    main()
