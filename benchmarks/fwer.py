"""Family-wise error of the pytest outcome and the session-end Holm verdicts over the whole
declared body of claims (harness/statistics/multiplicity.py), under ``--seeds auto`` and fixed seeds, and
what two-sided futility keeps of a refutation (issue 21).

The model (normal runs, SD 1, effects in SD units; the profile's stages 5/10/20): every
declared claim is simulated by its family's test at its null boundary, each claim on its own
arms (independent claims: where a Bonferroni-type bound is tightest). An intersection-union
claim (``all_of``, ``trend``'s tau AND contrast) is modelled by one part alone, as if its other parts were already decided: the least favourable case of an
intersection-union test, so the rates here are upper bounds for those claims. The t-type
families (Welch, one-sample t, difference of differences, the trend's contrast, and
``spread_greater`` as a Welch stand-in: its own null rate is checked at 0.05 and 0.05/17 by
benchmarks/spread_power.py) stop for two-sided futility exactly as
``sequential.reachable`` does for a location effect; Brown-Forsythe ``variance_greater`` and
TOST never stop for futility here (futility only removes verdicts, so leaving it out can only
raise the error). Per replicate and design:

* auto: each stage's p_k against the design at alpha/m (``sequential.Design``), stopping on
  either boundary or futility; the claim's p is the sequential p (``Design.sequential_p``);
* auto, design at alpha: the rule before issue 21 (the design spends the profile's alpha; the
  report's p is the stopping stage's fixed-n p), to show the model sees that error;
* fixed n = 20 and n = 5 seeds: one look.

Supported error = some true-null claim is supported: by its pytest outcome (p < alpha/m) or by
Holm at the session end over all m claims. The refutation rows run the real code path
(``stats.mean_greater``, ``sequential.stop_reason``, ``sequential.combine``) on one Welch claim
judged at alpha/m.

    PYTHONPATH=. python benchmarks/fwer.py [--reps 20000] [--refute-reps 5000] [--seed 0]
        [--machine "2-core Xeon"] [--update-doc]

``--update-doc`` writes the output into docs/STATISTICS.md between the ``fwer-table`` markers;
tests/test_fwer_table.py checks the doc lists every scenario and design this script produces
and that the rates there meet the issue's bounds.
"""
from __future__ import annotations

import argparse
import math
import time
from datetime import date
from pathlib import Path

import numpy as np
from scipy import optimize, special
from scipy import stats as st

from harness.statistics import multiplicity, sequential, simulate, stats
from harness.statistics.sequential import Design

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "STATISTICS.md"
BEGIN, END = "<!-- fwer-table:begin -->", "<!-- fwer-table:end -->"
ALPHA = 0.05
STAGES = (5, 10, 20)

#: the family each declared claim is simulated with (its binding part for an intersection-union)
FAMILY_OF = {
    "headline-80-percent": "one-sample t",
    "q4-relu-rises": "trend contrast", "q4-sigmoid-falls": "trend contrast",
    "q4-gap-widens": "diff of diffs", "q4-gradient-falls": "trend contrast",
    "q4-sigmoid-gradient-falls-more": "diff of diffs",
    "q5-bn-small-batch-worse": "Welch", "q5-gn-beats-bn-small-batch": "Welch",
    "q5-gn-consistent": "TOST", "q5-gn-lower-run-to-run-sd": "Brown-Forsythe",
    "q5-bn-best-beats-gn-best": "Welch", "q5-bn-advantage-at-most-3": "Welch",
    "q6-cnn-act-first-beats-bn-first": "Welch", "q6-cnn-leakyrelu-bn-best": "Welch",
    "q6-cnn-bn-first-varies-more": "Brown-Forsythe", "q6-mlp-orders-equivalent": "TOST",
    "q6-order-matters-more-in-cnn": "Welch",  # spread_greater: a Welch stand-in (its own calibration: spread_power.py)
}
T_FAMILIES = ("one-sample t", "trend contrast", "diff of diffs", "Welch")
SCENARIOS = {
    "global null (all 17 claims false)": lambda ids: {},
    "partial null: 8 t-type claims true at +1 SD": lambda ids: {c: 1.0 for c in
                                                              [c for c in ids if FAMILY_OF[c] in T_FAMILIES][:8]},
    "partial null: every t-type claim true at +3 SD": lambda ids: {c: 3.0 for c in ids
                                                                  if FAMILY_OF[c] in T_FAMILIES},
}
DESIGNS = ("auto", "auto, design at alpha (before issue 21)", "fixed n = 20", "fixed n = 5")
HEADER = ("| scenario | design | true nulls | supported error: pytest outcomes | MC SE "
          "| supported error: Holm at session end | MC SE | mean seeds per arm |")


def declared() -> list[str]:
    """The seed paper's body of claims (its multiplicity family; harness.declare.questions.body_of)."""
    from harness.declare.questions import body_of

    found = multiplicity.declared_claims((ROOT / "claims").glob("test_*.py"))
    return sorted(c for c, q in found.items() if body_of(q) == "seed")


# -- one claim's stage p-values, vectorised over replicates ------------------------------------------
def _t_stats(est, se, df):
    t = est / se
    return special.stdtr(df, -t), special.stdtr(df, t)


def _welch(x, y, margin=0.0):
    nx, ny = x.shape[-1], y.shape[-1]
    ux, uy = x.var(-1, ddof=1) / nx, y.var(-1, ddof=1) / ny
    se2 = ux + uy
    return x.mean(-1) - y.mean(-1) - margin, np.sqrt(se2), np.full(se2.shape, simulate.contrast_df((nx, ny)))


def stage_values(family: str, rng, reps: int, effect: float):
    """-> f(n) = (p, p_refuted, estimate, se, df) on the first n seeds (se/df None: no
    futility for this family). At effect 0 the claim is at its null boundary."""
    draw = lambda loc=0.0: rng.normal(loc, 1.0, (reps, STAGES[-1]))  # noqa: E731
    if family == "one-sample t":
        x = draw(effect)

        def f(n):
            est, se, df = x[:, :n].mean(-1), x[:, :n].std(-1, ddof=1) / math.sqrt(n), n - 1.0
            return (*_t_stats(est, se, df), est, se, np.full(reps, df))
    elif family in ("Welch", "trend contrast"):
        a, b = draw(effect), draw()

        def f(n):
            est, se, df = _welch(a[:, :n], b[:, :n])
            return (*_t_stats(est, se, df), est, se, df)
    elif family == "diff of diffs":
        arms = [draw(effect), draw(), draw(), draw()]

        def f(n):
            xs = [x[:, :n] for x in arms]
            u = [x.var(-1, ddof=1) / n for x in xs]
            se2 = sum(u)
            df = se2 * se2 / sum(ui * ui / (n - 1) for ui in u)
            est = xs[0].mean(-1) - xs[1].mean(-1) - xs[2].mean(-1) + xs[3].mean(-1)
            se = np.sqrt(se2)
            return (*_t_stats(est, se, df), est, se, df)
    elif family == "Brown-Forsythe":
        a, b = rng.normal(0, 2.0 ** effect, (reps, STAGES[-1])), draw()

        def f(n):
            p, p_opp, _ = simulate.variance_p([a[:, :n]], [b[:, :n]])
            return p, p_opp, None, None, None
    elif family == "TOST":  # true difference at the margin (1 SD), minus the effect
        a, b = draw(1.0 - effect), draw()

        def f(n):
            est_lo, se, df = _welch(a[:, :n], b[:, :n], -1.0)
            est_hi, _, _ = _welch(a[:, :n], b[:, :n], 1.0)
            p = np.maximum(special.stdtr(df, -est_lo / se), special.stdtr(df, est_hi / se))
            p_ref = np.minimum(special.stdtr(df, -est_hi / se), special.stdtr(df, est_lo / se))
            return p, p_ref, None, None, None
    else:
        raise ValueError(family)
    return f


def _futile(est, se, df, n, design: Design):
    """sequential.reachable for a location effect (null 0), vectorised: neither verdict
    within reach of the last stage."""
    last, df_last = design.levels[-1], df + (design.stages[-1] - n)  # Hsu's df grows with n
    mde = (special.stdtrit(df_last, 1 - last) + special.stdtrit(df_last, stats.MDE_POWER)) * se * math.sqrt(n / design.stages[-1])
    h = special.stdtrit(df, 0.975) * se
    return (est + h < mde) & (est - h > -mde)


def run_claim(f, reps: int, design_m: Design, design_alpha: Design) -> dict:
    """p of one claim under every design, and the seeds auto used."""
    stage = [f(n) for n in STAGES]
    out = {"fixed n = 20": stage[-1][0], "fixed n = 5": f(5)[0] if STAGES[0] != 5 else stage[0][0]}
    for name, design, sequential_p in (("auto", design_m, True),
                                       ("auto, design at alpha (before issue 21)", design_alpha, False)):
        live = np.ones(reps, bool)
        p_out = np.ones(reps)
        seeds = np.full(reps, float(STAGES[-1]))
        w = np.array(design.weights)
        for k, (n, level) in enumerate(zip(STAGES, design.levels)):
            p, p_ref, est, se, df = stage[k]
            if sequential_p:
                p_out = np.where(live, np.minimum(p_out, p / w[k]), p_out)
            else:
                p_out = np.where(live, p, p_out)
            stop = (p < level) | (p_ref < level)
            if k < len(STAGES) - 1 and est is not None:
                stop |= _futile(est, se, df, n, design)
            newly = live & stop if k < len(STAGES) - 1 else live
            seeds[newly] = n
            live &= ~stop
        out[name] = np.minimum(p_out, 1.0)
        out[name + " seeds"] = seeds
    return out


def holm_rejects(p: np.ndarray, alpha: float) -> np.ndarray:
    """(reps, m) p-values -> Holm's rejections at alpha, vectorised."""
    m = p.shape[1]
    order = np.argsort(p, axis=1)
    sorted_p = np.take_along_axis(p, order, axis=1)
    ok = sorted_p < alpha / (m - np.arange(m))  # as multiplicity.adjust: adjusted p < alpha
    passed = np.cumprod(ok, axis=1).astype(bool)
    rej = np.zeros_like(passed)
    np.put_along_axis(rej, order, passed, axis=1)
    return rej


def fwer_rows(reps: int, seed: int) -> list[dict]:
    ids = declared()
    missing = set(ids) ^ set(FAMILY_OF)
    if missing:
        raise SystemExit(f"benchmarks/fwer.py FAMILY_OF does not match the declared claims: {sorted(missing)}")
    m = len(ids)
    design_m, design_alpha = Design(STAGES, ALPHA / m), Design(STAGES, ALPHA)
    rows = []
    for s_i, (scenario, effects_of) in enumerate(SCENARIOS.items()):
        effects = effects_of(ids)
        rng = np.random.default_rng([seed, s_i])
        per = [run_claim(stage_values(FAMILY_OF[c], rng, reps, effects.get(c, 0.0)), reps, design_m, design_alpha)
               for c in ids]
        null = np.array([c not in effects for c in ids])
        for d in DESIGNS:
            p = np.stack([x[d] for x in per], axis=1)
            outcome = ((p < ALPHA / m) & null).any(axis=1).mean()
            holm = (holm_rejects(p, ALPHA) & null).any(axis=1).mean()
            seeds = np.mean([x[d + " seeds"].mean() for x in per]) if d.startswith("auto") else \
                float(d.rsplit("= ", 1)[1])
            rows.append({"scenario": scenario, "design": d, "nulls": int(null.sum()), "m": m,
                         "outcome": float(outcome), "holm": float(holm), "seeds": float(seeds), "reps": reps})
    return rows


def refutation_rows(reps: int, seed: int, m: int) -> list[dict]:
    """One Welch claim judged at alpha/m through the real code path: refuted rate at a true
    -1 SD effect and supported rate at +1 SD, --seeds auto against fixed 20 seeds."""
    design = Design(STAGES, ALPHA / m)
    rng = np.random.default_rng([seed, 99])
    rows = []
    for effect, want in ((-1.0, stats.REFUTED), (1.0, stats.SUPPORTED)):
        hits = {"auto": 0, "fixed n = 20": 0}
        seeds = 0
        for _ in range(reps):
            a, b = rng.normal(effect, 1, STAGES[-1]), rng.normal(0, 1, STAGES[-1])

            def claim(n, alpha):
                return stats.mean_greater(stats.Arm.from_values("a", a[:n]), stats.Arm.from_values("b", b[:n]),
                                          alpha=alpha)
            evs = []
            for k, (n, level) in enumerate(zip(STAGES, design.levels)):
                evs.append(claim(n, ALPHA))
                verdict = sequential.stage_verdict(evs[-1], level)
                if sequential.stop_reason(verdict, k, design, lambda: claim(n, design.levels[-1])):
                    break
            seeds += STAGES[len(evs) - 1]
            ev = sequential.combine(evs, design)
            at = multiplicity.verdict_at(ev.verdict, ev.p, ev.details["p_refuted"], design.alpha)
            hits["auto"] += at == want
            fixed = claim(STAGES[-1], ALPHA)
            hits["fixed n = 20"] += multiplicity.verdict_at(fixed.verdict, fixed.p, fixed.details["p_refuted"],
                                                            design.alpha) == want
        rows.append({"effect": effect, "verdict": want, "auto": hits["auto"] / reps,
                     "fixed": hits["fixed n = 20"] / reps, "seeds": seeds / reps, "reps": reps})
    return rows


def exact_last_level(alpha: float) -> tuple[float, float]:
    """(union-bound last level, exact canonical last level) of the OBF-type design at
    ``alpha`` for a statistic that is Brownian in the information time (a z test): the exact
    boundary spends the same alpha(t) increments through the joint normal law."""
    t = np.array(STAGES) / STAGES[-1]
    cum = [sequential.spent(x, alpha) for x in t]
    cov = np.minimum.outer(t, t) / np.sqrt(np.outer(t, t))
    c = [float(special.ndtri(1 - cum[0]))]
    for k in (1, 2):
        target = 1 - cum[k]  # P(no crossing by stage k)

        def excess(ck):  # P(no crossing by stage k) - its target
            return st.multivariate_normal.cdf(np.array(c + [ck]), mean=np.zeros(k + 1),
                                              cov=cov[:k + 1, :k + 1], abseps=1e-8, releps=1e-6) - target
        c.append(float(optimize.brentq(excess, 0.5, 8.0, xtol=1e-5)))
    return cum[-1] - cum[-2], float(special.ndtr(-c[-1]))


def render(fw: list[dict], refute: list[dict], exact: list[tuple], machine: str, command: str,
           wall: float) -> list[str]:
    m = fw[0]["m"]
    reps = fw[0]["reps"]
    L = [f"{reps} replicates per scenario ({refute[0]['reps']} for the refutation rows); m = {m} declared "
         f"claims, alpha = {ALPHA}, stages {'/'.join(map(str, STAGES))}, pytest outcomes at alpha/m = "
         f"{ALPHA / m:.4g}. Measured {date.today().isoformat()} on {machine} "
         f"(`{command}`, {wall:.0f} s). Bound: alpha + 3 MC SE.", "", HEADER,
         "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in fw:
        se_o = math.sqrt(r["outcome"] * (1 - r["outcome"]) / r["reps"])
        se_h = math.sqrt(r["holm"] * (1 - r["holm"]) / r["reps"])
        L.append(f"| {r['scenario']} | {r['design']} | {r['nulls']} | {r['outcome']:.4f} | {se_o:.4f} | "
                 f"{r['holm']:.4f} | {se_h:.4f} | {r['seeds']:.1f} |")
    L += ["", "| true effect | verdict | rate under auto | rate at fixed n = 20 | auto - fixed | MC SE of the difference "
          "| mean seeds per arm (auto) |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in refute:
        se = math.sqrt((r["auto"] * (1 - r["auto"]) + r["fixed"] * (1 - r["fixed"])) / r["reps"])
        L.append(f"| {r['effect']:+g} SD | {r['verdict']} | {r['auto']:.4f} | {r['fixed']:.4f} | "
                 f"{r['auto'] - r['fixed']:+.4f} | {se:.4f} | {r['seeds']:.1f} |")
    L += ["", "| design alpha | " + " | ".join(f"level at {n} seeds (cumulative)" for n in STAGES)
          + " | last level, exact canonical boundary (z statistic) |", "|" + " ---: |" * (len(STAGES) + 2)]
    for a, (ub, ex) in exact:
        d = Design(STAGES, a)
        cum = np.cumsum(d.levels)
        L.append(f"| {a:.4g} | " + " | ".join(f"{lv:.3g} ({c:.3g})" for lv, c in zip(d.levels, cum))
                 + f" | {ex:.4g} |")
    return L


def doc_block(doc: str) -> list[str]:
    start, end = doc.index(BEGIN), doc.index(END)
    return doc[start + len(BEGIN):end].strip("\n").splitlines()


def expected_rows() -> list[tuple[str, str]]:
    """(scenario, design) of every row of the first table, in order."""
    return [(s, d) for s in SCENARIOS for d in DESIGNS]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20_000)
    ap.add_argument("--refute-reps", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--machine", default="this machine")
    ap.add_argument("--update-doc", action="store_true", help="write the output into docs/STATISTICS.md")
    args = ap.parse_args()
    if args.update_doc and (args.reps < 5000 or args.refute_reps < 5000):
        ap.error("--update-doc needs --reps and --refute-reps >= 5000 (issue 21)")
    t0 = time.time()
    fw = fwer_rows(args.reps, args.seed)
    refute = refutation_rows(args.refute_reps, args.seed, fw[0]["m"])
    exact = [(a, exact_last_level(a)) for a in (ALPHA, ALPHA / fw[0]["m"])]
    command = (f"python benchmarks/fwer.py --reps {args.reps} --refute-reps {args.refute_reps} "
               f"--seed {args.seed}")
    lines = render(fw, refute, exact, args.machine, command, time.time() - t0)
    print("\n".join(lines))
    if args.update_doc:
        doc = DOC.read_text()
        start, end = doc.index(BEGIN) + len(BEGIN), doc.index(END)
        DOC.write_text(doc[:start] + "\n" + "\n".join(lines) + "\n" + doc[end:])
        print(f"\nwrote the tables into {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
