"""Print a markdown verdict table from one or two report.json files (docs/RESULTS.md uses it).

    python3 benchmarks/results_table.py [--body seed] reports/latest/report.json
The paper's own verdict (judged on its published numbers) is in every report beside the run's.
"""
import json
import sys


def _fmt(ev):
    if not ev or ev["verdict"] == "untestable":
        return "untestable", "—", "—"
    e, ci, p = ev["effect"], ev["ci"], ev["p"]
    eff = "—" if e is None else f"{e:+.3g}" + (f" [{ci[0]:+.3g}, {ci[1]:+.3g}]" if ci else "")
    if ev.get("ci_level") == 0.9 and ci:
        eff += " (90%)"
    return ev["verdict"], eff, "—" if p is None else f"{p:.2g}"


def _n(ev):
    n = (ev or {}).get("n") or []
    if not n:
        return "—"
    return f"{len(n)}x{n[0]}" if len(set(n)) == 1 and len(n) > 2 else "/".join(map(str, n))


#: the adjusted-p column's name per multiplicity rule (harness/statistics/multiplicity.py RULES)
RULE_NAMES = {"holm": "Holm", "bonferroni": "Bonferroni", "bh": "BH", "none": "unadjusted"}


def table(report: dict, body: str | None = None) -> str:
    """One row per claim of ``body`` (a body of claims, harness.declare.questions.body_of; None: all)."""
    results = [r for r in report["results"] if body is None or r.get("body", "seed") == body]
    rules = sorted({RULE_NAMES.get(r.get("multiplicity"), "adjusted") for r in results})
    lines = [f"| claim | the paper's numbers | this run: verdict | effect [95% CI] | p | p ({'/'.join(rules) or 'adjusted'}) "
             "| n | pytest |", "|---|---|---|---|---|---|---|---|"]
    for r in sorted(results, key=lambda r: r["id"]):
        seed = _fmt(r.get("paper_evidence"))
        verdict, eff, p = _fmt(r.get("evidence"))
        pa = r.get("p_adjusted")
        out = r.get("outcome", "") + (" (not at smoke scale)" if r.get("smoke_unshowable") else "")
        lines.append(f"| `{r['id']}` | {seed[0]} (p {seed[2]}) | {verdict} | {eff} | {p} | "
                     f"{'—' if pa is None else f'{pa:.2g}'} | {_n(r.get('evidence'))} | {out} |")
    return "\n".join(lines)


def _main_side_by_side(args: list[str]) -> None:
    """--side-by-side NAME=report.json ...: one table, a column per report."""
    named = []
    for a in args:
        name, _, path = a.partition("=")
        named.append((name, json.load(open(path))))
    print(side_by_side(named))


def side_by_side(named_reports: list[tuple[str, dict]]) -> str:
    """One row per claim: the paper's verdict, then each report's verdict (p, effect [CI], n)."""
    ids = sorted({r["id"] for _, rep in named_reports for r in rep["results"]})
    first = named_reports[0][1]
    paper = {r["id"]: r.get("paper_evidence") for r in first["results"]}
    head = ["claim", "the paper's numbers"] + [name for name, _ in named_reports]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cid in ids:
        cells = [f"`{cid}`"]
        v, _, p = _fmt(paper.get(cid))
        cells.append(f"{v} (p {p})")
        for _, rep in named_reports:
            r = next((x for x in rep["results"] if x["id"] == cid), None)
            if r is None:
                cells.append("—")
                continue
            v, eff, p = _fmt(r.get("evidence"))
            tag = " (not at smoke scale)" if r.get("smoke_unshowable") else ""
            adj = r.get("verdict_adjusted")
            adj = f"; {adj} after Holm" if adj and adj != v else ""
            seq = r.get("sequential") or {}
            seeds = f", stopped at {seq['stopped_at']} seeds ({seq.get('reason')})" if seq.get("stopped_at") else ""
            flagged = (r.get("convergence") or {}).get("still_improving") or []
            conv = f"; budget-confounded ({', '.join(flagged)})" if flagged else ""
            cells.append(f"{v}{tag}: {eff}, p {p}, n {_n(r.get('evidence'))}{seeds}{adj}{conv}"
                         if v != "untestable" else "untestable")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__" and sys.argv[1:2] == ["--side-by-side"]:
    _main_side_by_side(sys.argv[2:])
elif __name__ == "__main__":
    args = sys.argv[1:]
    body = None
    if args[:1] == ["--body"]:  # --body seed: one paper's claims only
        body, args = args[1], args[2:]
    for path in args:
        rep = json.load(open(path))
        m = rep["meta"]
        print(f"profile {m.get('profile')}, dataset {m.get('dataset')}, device {m.get('device')}, "
              f"wall {m.get('wall_s')} s, started {m.get('started')}\n")
        print(table(rep, body))
