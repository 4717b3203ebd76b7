"""The claims table of the pytest terminal summary (plain text, at most 120 characters wide)."""
from __future__ import annotations

from typing import Iterable, Mapping

from harness.report.cells import decision_ci_cell, effect_ci, fmt_level, fmt_n
from harness.report.result import ClaimResult
from harness.statistics.formatting import DASH, fmt_p
from harness.statistics.seeds_needed import describe

__all__ = ["claims_table"]

_MAX_WIDTH = 120


def claims_table(results: Iterable[ClaimResult | Mapping]) -> str:
    """id, verdict, effect [CI], CI at the outcome's level, p, p_adj, n, outcome: one line per
    claim. Every line is at most 120 characters (long ids are shortened in the middle)."""
    results = [ClaimResult.parse(r) for r in results]
    header = ["id", "verdict", "effect [CI]", "CI at outcome", "p", "p_adj", "n", "outcome"]
    body = []
    marked = budget = False
    for r in results:
        ev = r.evidence
        eff = effect_ci(ev, mark_level=False)
        if ev is not None and ev.ci_not_95:
            eff += "*"
            marked = True
        verdict = r.verdict or DASH
        if r.smoke_unshowable:
            verdict += " (smoke)"
        if r.budget_confounded:  # one character: the table keeps to 120 columns
            verdict += "†"
            budget = True
        body.append([r.id, verdict, eff, decision_ci_cell(r), fmt_p(ev.p if ev else None), fmt_p(r.p_adjusted),
                     fmt_n(ev.n if ev else None, terse=True), r.outcome or DASH])
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h)
              for i, h in enumerate(header)]
    # the id column takes what is left of 120 characters
    rest = sum(widths[1:]) + 2 * (len(header) - 1)
    widths[0] = max(12, min(widths[0], _MAX_WIDTH - rest))
    for row in body:
        row[0] = _shorten(row[0], widths[0])

    def line(cells):
        out = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            out.append(c.rjust(w) if header[i] in ("p", "p_adj") else c.ljust(w))
        return "  ".join(out).rstrip()[:_MAX_WIDTH]

    lines = [line(header), line(["-" * w for w in widths])] + [line(r) for r in body]
    if not body:
        lines.append("(no claims)")
    if marked:
        lines.append("* 90% CI (equivalence test, TOST); other intervals are 95%")
    levels = sorted({fmt_level(r.decision_ci_level) for r in results
                     if r.decision_ci is not None and r.decision_ci_level is not None})
    if levels:
        lines.append(f"CI at outcome: at the level each pytest outcome was decided at ({', '.join(levels)})")
    if budget:
        lines.append("† budget-confounded: an arm it compares is still improving at its last epoch "
                     "(report: 'Convergence')")
    needs = [r for r in results if r.seeds_needed]
    for r in needs:
        lines.append(f"{r.id}: {describe(r.seeds_needed, terse=True)}"[:_MAX_WIDTH])
    return "\n".join(lines)


def _shorten(s: str, width: int) -> str:
    if len(s) <= width:
        return s
    keep = width - 3
    head = (keep + 1) // 2
    return s[:head] + "..." + s[len(s) - (keep - head):] if keep - head > 0 else s[:width]
