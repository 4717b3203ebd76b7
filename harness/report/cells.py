"""The text of one value of a claim result, as every output shows it (markdown, HTML, terminal).

Inputs are typed (``harness.report.result``); numbers go through ``harness.statistics.formatting``. Cells
may hold markdown emphasis (``**...**``); the HTML page converts it (``html.inline``).
"""
from __future__ import annotations

import json
import math
from typing import Any, Mapping

from harness.report.result import ClaimResult, EvidenceRecord
from harness.statistics.formatting import DASH, as_float, as_str, fmt, fmt_p

__all__ = ["bold", "fmt_n", "effect_ci", "verdict_text", "paper_verdict", "adjusted_cell",
           "heldout_cell", "decision_ci_cell", "fmt_level", "arms_compact", "fmt_wall", "describe_source", "compact"]


def bold(s: str) -> str:
    return s if s == DASH else f"**{s}**"


def fmt_n(n, terse: bool = False) -> str:
    """Per-arm n: ``5/5``; four or more equal arms compactly (``14 arms x 5``, terse ``14x5``)."""
    if n is None:
        return DASH
    if isinstance(n, (list, tuple)):
        parts = [str(int(k)) if as_float(k) is not None else "?" for k in n]
        if len(parts) >= 4 and len(set(parts)) == 1:
            return f"{len(parts)}x{parts[0]}" if terse else f"{len(parts)} arms x {parts[0]}"
        return "/".join(parts) if parts else DASH
    f = as_float(n)
    return str(int(f)) if f is not None else DASH


def effect_ci(ev: EvidenceRecord | None, with_label: bool = False, mark_level: bool = True) -> str:
    """``+3.21 [+1.02, +5.40]``; a non-95% interval is marked, e.g. ``(90% CI)``."""
    if ev is None:
        return DASH
    if ev.effect is None and ev.ci is None:
        return DASH
    digits = _digits(ev.effect, *(ev.ci or ()))
    out = fmt(ev.effect, sign=ev.signed, digits=digits)
    if ev.ci is not None:
        out += " " + _interval(ev.ci, ev.signed, digits)
        if mark_level and ev.ci_not_95:
            out += f" ({ev.ci_level * 100:g}% CI)"
    if with_label and ev.effect_label:
        out = f"{ev.effect_label}: {out}"
    return out


def _digits(*values) -> int | None:
    """One number of decimals for an effect and its intervals."""
    mags = [abs(v) for v in values if v is not None]
    big = max(mags) if mags else 0.0
    if big >= 1e4:
        return None
    return 2 if (big >= 0.1 or big == 0) else (None if big < 1e-4 else 2 - math.floor(math.log10(big)))


def _interval(ci, signed: bool, digits: int | None) -> str:
    lo, hi = (fmt(v, sign=signed, digits=digits) for v in ci)
    return f"[{lo}, {hi}]"


def decision_ci_cell(result: ClaimResult | Mapping, with_level: bool = False) -> str:
    """issue 21: the interval at the level the pytest outcome was decided at (alpha/m, or the
    stopping stage's share of it under --seeds auto), beside the 95% one: ``[+0.14, +4.46]``
    (``(99.41%)`` added with ``with_level``). DASH where the interval is not a t interval."""
    r = ClaimResult.parse(result)
    ev = r.evidence
    if ev is None or r.decision_ci is None or None in r.decision_ci:
        return DASH
    out = _interval(r.decision_ci, ev.signed, _digits(ev.effect, *(ev.ci or ()), *r.decision_ci))
    if with_level and r.decision_ci_level is not None:
        out += f" ({fmt_level(r.decision_ci_level)})"
    return out


def fmt_level(confidence: float) -> str:
    """A two-sided confidence level: ``99.41%``; within 1e-4 of 1 as ``1 - 5.3e-06``."""
    if confidence >= 0.9999:
        return f"1 - {1 - confidence:.2g}"
    return f"{confidence * 100:.4g}%"


def verdict_text(r: ClaimResult) -> str:
    """This run's verdict, marked when the smoke profile cannot show the claim and when an arm
    it compares was still improving at its last epoch (issue 24)."""
    v = r.verdict or DASH
    v = v + " (smoke-unshowable)" if r.smoke_unshowable else v
    return v + " (budget-confounded)" if r.budget_confounded else v


def paper_verdict(result: ClaimResult | Mapping) -> str:
    """The same test on the paper's published numbers: ``supported (p=0.002)``; ``‡`` when the
    claim's levels were chosen from that table (issue 9: biased toward support there)."""
    r = ClaimResult.parse(result)
    sev = r.paper_evidence
    if sev is None:
        return DASH
    v = sev.verdict or DASH
    out = f"{v} (p={fmt_p(sev.p)})" if sev.p is not None else v
    return out + " ‡" if r.levels_from_paper_table else out


def adjusted_cell(result: ClaimResult | Mapping) -> str:
    """issue 9: the session-end verdict under the profile's multiplicity rule."""
    r = ClaimResult.parse(result)
    return f"{r.verdict_adjusted} ({r.multiplicity})" if r.verdict_adjusted and r.multiplicity else DASH


def heldout_cell(result: ClaimResult | Mapping) -> str:
    """issue 9: the verdict with the epoch chosen on test half A and scored on half B."""
    h = ClaimResult.parse(result).heldout
    if h is None:
        return DASH
    if h.status != "judged":
        return h.status or DASH
    cell = f"{h.verdict} ({fmt_p(h.p)})"
    return bold("changes: " + cell) if h.changed else "same: " + cell


def arms_compact(ev: EvidenceRecord | None) -> str:
    """``ReLU d4=88.00±0.40; ReLU d1=82.03±0.35``."""
    if ev is None:
        return DASH
    parts = []
    for a in ev.arms:
        if a.mean is None:
            parts.append(f"{a.label}={DASH}")
            continue
        s = f"{a.label}={fmt(a.mean)}"
        if a.sd is not None:
            s += f"±{fmt(a.sd)}"
        parts.append(s)
    return "; ".join(parts) if parts else DASH


def fmt_wall(s) -> str:
    s = as_float(s)
    if s is None:
        return DASH
    if s < 60:
        return f"{s:.1f} s"
    m, sec = divmod(int(round(s)), 60)
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min {sec:02d} s" if h else f"{m} min {sec:02d} s"


def describe_source(src) -> str:
    src = as_str(src)
    if src is None:
        return DASH
    if src == "fresh":
        return "fresh (trained or read from the run store in this session)"
    if src in ("paper", "seed"):
        return "paper (its published numbers re-judged; nothing trained)"
    return f"`{src}` (runs re-read from an exported runs.csv; nothing trained)"


def compact(v: Any) -> str:
    """A meta value on one line: lists as ``(1, 2)``, mappings as JSON."""
    if isinstance(v, list):
        return "(" + ", ".join(compact(x) for x in v) + ")"
    if isinstance(v, Mapping):
        return json.dumps(v)
    return DASH if v is None else str(v)
