"""``report.html``: the report as one self-contained page, for a reader who opens a CI artifact.

* figures embedded as ``data:image/png;base64`` URIs: nothing is fetched, no CDN, no font;
* the claims table with verdict colours, the paper's verdict (the same test on the paper's
  published numbers) beside this run's, and under each claim its evidence and arms
  unfolding (``<details>``);
* the run's details, how to read a verdict, the notes and the question sections: the same
  text as report.md (built once by ``harness.report.markdown``), converted here;
* a little inline CSS, and an inline script of a few lines (unfold / fold every claim).

Every piece of text is escaped (``html.escape``) before the few markdown marks the report
uses (code, bold, italic, relative links) become tags; class names come from fixed lists.
"""
from __future__ import annotations

import base64
import html
import re
from datetime import datetime
from typing import Any, Mapping

from harness.report import markdown as md
from harness.report.cells import (adjusted_cell, decision_ci_cell, effect_ci, fmt_n, heldout_cell,
                                  verdict_text)
from harness.report.data import PAPER_DATASET, Context
from harness.report.result import ClaimResult, EvidenceRecord
from harness.statistics.formatting import DASH, fmt, fmt_p

__all__ = ["render", "inline", "blocks", "VERDICT_CLASSES"]

VERDICT_CLASSES = {"supported": "v-supported", "refuted": "v-refuted",
                   "inconclusive": "v-inconclusive", "untestable": "v-untestable"}
OUTCOME_CLASSES = {"passed": "o-pass", "failed": "o-fail", "xpassed-strict": "o-fail",
                   "skipped": "o-skip", "xfailed": "o-skip", "xpassed": "o-pass"}

_CSS = """
:root { --fg: #1d1f21; --muted: #5b6169; --line: #d6d9dd; --head: #f3f4f6; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       margin: 0 auto; padding: 1.2em 1.6em 3em; max-width: 1500px; }
h1 { font-size: 1.45em; margin: 0.2em 0 0.6em; }
h2 { font-size: 1.2em; margin: 1.8em 0 0.6em; padding-bottom: 0.2em; border-bottom: 1px solid var(--line); }
code { font: 0.92em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f1f2f4;
       padding: 0 0.25em; border-radius: 3px; }
table { border-collapse: collapse; margin: 0.6em 0 1em; }
th, td { border: 1px solid var(--line); padding: 0.3em 0.5em; text-align: left; vertical-align: top; }
th { background: var(--head); font-weight: 600; }
td.r, th.r { text-align: right; } td.r { white-space: nowrap; } td.c, th.c { text-align: center; }
.scroll { overflow-x: auto; }
table.claims { width: 100%; font-size: 0.93em; }
table.claims td.sentence { min-width: 14em; max-width: 26em; }
.verdict { display: inline-block; padding: 0.05em 0.45em; border-radius: 4px; font-weight: 600; }
.v-supported { background: #d5f0dc; color: #0f5a28; }
.v-refuted { background: #f9d5d8; color: #7c1420; }
.v-inconclusive { background: #fff0bf; color: #6a4f00; }
.v-untestable, .v-none { background: #e7e8ea; color: #3f454c; }
.o-pass { color: #0f5a28; } .o-fail { color: #9b1b2a; font-weight: 600; } .o-skip { color: var(--muted); }
tr.evidence > td { background: #fafbfc; padding: 0.15em 0.5em; }
details > summary { cursor: pointer; color: var(--muted); }
details[open] > summary { margin-bottom: 0.4em; }
.sides { display: flex; flex-wrap: wrap; gap: 1.2em; }
.side { flex: 1 1 28em; min-width: 22em; }
.side h4 { margin: 0.2em 0 0.4em; font-size: 1em; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 0.15em 0.8em; margin: 0; }
dl.kv dt { color: var(--muted); } dl.kv dd { margin: 0; }
ul.details { padding-left: 1.2em; } ul.details li { margin: 0.1em 0; }
figure { margin: 0.8em 0 1.4em; } figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 0.9em; }
.controls button { font: inherit; margin-right: 0.4em; }
footer { margin-top: 3em; color: var(--muted); font-size: 0.9em; }
"""

_SCRIPT = """
document.querySelectorAll("button[data-unfold]").forEach(function (b) {
  b.addEventListener("click", function () {
    var open = b.getAttribute("data-unfold") === "all";
    document.querySelectorAll("details.claim-evidence").forEach(function (d) { d.open = open; });
  });
});
"""


# ---------------------------------------------------------------------------------------------
# markdown text (as report.md writes it) -> HTML
# ---------------------------------------------------------------------------------------------

_CODE = re.compile(r"`([^`]+)`")
_LINK = re.compile(r"\[([^\]]+)\]\(([A-Za-z0-9_.\-/]+)\)")  # relative links only
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*(?!\s)([^*]+?)(?<!\s)\*(?![*\w])")


def inline(text: Any) -> str:
    """One line of report markdown as HTML: escaped, then code, links, bold and italic."""
    s = "" if text is None else str(text)
    out = []
    for i, part in enumerate(_CODE.split(s)):
        if i % 2:  # inside a code span: literal text
            out.append(f"<code>{html.escape(part)}</code>")
            continue
        part = html.escape(part)
        part = _LINK.sub(lambda m: f'<a href="{m.group(2)}">{m.group(1)}</a>', part)
        part = _BOLD.sub(r"<strong>\1</strong>", part)
        part = _ITALIC.sub(r"<em>\1</em>", part)
        out.append(part)
    return "".join(out)


def _split_row(line: str) -> list[str]:
    """The cells of a markdown table row (``\\|`` is a literal bar)."""
    body = line.strip()[1:-1] if line.strip().endswith("|") else line.strip()[1:]
    cells = re.split(r"(?<!\\) \| ", f" {body} ")
    return [c.strip().replace("\\|", "|") for c in cells]


def _table(lines: list[str]) -> str:
    header, seps, rows = _split_row(lines[0]), _split_row(lines[1]), [_split_row(x) for x in lines[2:]]
    align = ["r" if s.endswith(":") and not s.startswith(":") else "c" if s.startswith(":") else ""
             for s in seps]

    def tr(cells, tag):
        return "<tr>" + "".join(
            f'<{tag}{" class=" + chr(34) + a + chr(34) if a else ""}>{inline(c)}</{tag}>'
            for c, a in zip(cells, align + [""] * len(cells))) + "</tr>"

    return ("<table><thead>" + tr(header, "th") + "</thead><tbody>"
            + "".join(tr(r, "td") for r in rows) + "</tbody></table>")


_IMAGE = re.compile(r"^!\[([^\]]*)\]\(([^)]+)\)$")


def blocks(lines: list[str], images: Mapping[str, str] | None = None) -> str:
    """Report markdown lines (headings, bullets with indented continuation lines, tables,
    figure lines, paragraphs) as HTML. ``images``: figure file -> data URI."""
    images = images or {}
    out: list[str] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if not line.strip():
            i += 1
        elif line.startswith("#"):
            level = max(2, min(len(line) - len(line.lstrip("#")), 4))  # the page's h1 is its title
            out.append(f"<h{level}>{inline(line.lstrip('#').strip())}</h{level}>")
            i += 1
        elif line.startswith("|"):
            j = i
            while j < n and lines[j].startswith("|"):
                j += 1
            out.append(_table(lines[i:j]))
            i = j
        elif line.startswith("- "):
            items = []
            while i < n and (lines[i].startswith("- ") or (items and lines[i].startswith("  "))):
                if lines[i].startswith("- "):
                    items.append(lines[i][2:])
                else:
                    items[-1] += " " + lines[i].strip()
                i += 1
            out.append("<ul>" + "".join(f"<li>{inline(x)}</li>" for x in items) + "</ul>")
        elif _IMAGE.match(line.strip()):
            alt, src = _IMAGE.match(line.strip()).groups()
            uri = images.get(src, src)
            out.append(f'<figure><img src="{html.escape(uri)}" alt="{html.escape(alt)}">'
                       f"<figcaption>{html.escape(alt)}</figcaption></figure>")
            i += 1
        else:
            para = []
            while i < n and lines[i].strip() and not lines[i].startswith(("#", "|", "- ")):
                para.append(lines[i].strip())
                i += 1
            out.append(f"<p>{inline(' '.join(para))}</p>")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# the claims table
# ---------------------------------------------------------------------------------------------

def _verdict_badge(verdict: str | None, text: str | None = None) -> str:
    cls = VERDICT_CLASSES.get(verdict or "", "v-none")
    return f'<span class="verdict {cls}">{inline(text if text is not None else (verdict or DASH))}</span>'


def _paper_cell(r: ClaimResult) -> str:
    sev = r.paper_evidence
    if sev is None:
        return DASH
    out = _verdict_badge(sev.verdict)
    if sev.p is not None:
        out += f" p={html.escape(fmt_p(sev.p))}"
    if r.levels_from_paper_table:
        out += ' <span title="levels chosen from the paper\'s own table">‡</span>'
    return out


def _value(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return html.escape(str(v) if v is not None else DASH)
    if isinstance(v, (int, float)):
        return html.escape(fmt(v))
    if isinstance(v, list):
        return "(" + ", ".join(_value(x) for x in v) + ")"
    if isinstance(v, Mapping):
        return "; ".join(f"{html.escape(str(k))}: {_value(x)}" for k, x in v.items())
    return inline(v)


def _kv(pairs: list[tuple[str, str]]) -> str:
    return '<dl class="kv">' + "".join(f"<dt>{html.escape(k)}</dt><dd>{v}</dd>" for k, v in pairs) + "</dl>"


def _evidence_block(title: str, ev: EvidenceRecord | None) -> str:
    if ev is None:
        return f'<div class="side"><h4>{html.escape(title)}</h4><p>{DASH} (no evidence)</p></div>'
    pairs = [("verdict", _verdict_badge(ev.verdict)), ("test", inline(ev.test)),
             ("effect", inline(effect_ci(ev, with_label=True))),
             ("p", html.escape(fmt_p(ev.p))), ("alpha", html.escape(f"{ev.alpha:g}" if ev.alpha is not None else DASH)),
             ("MDE (80% power)", html.escape(fmt(ev.mde))), ("n per arm", html.escape(fmt_n(ev.n)))]
    if ev.note:
        pairs.append(("note", inline(ev.note)))
    arms = ""
    if ev.arms:
        arms = ("<table><thead><tr><th>arm</th><th class=\"r\">n</th><th class=\"r\">mean</th>"
                "<th class=\"r\">sd</th></tr></thead><tbody>"
                + "".join(f"<tr><td>{inline(a.label)}</td><td class=\"r\">{html.escape(fmt_n(a.n))}</td>"
                          f"<td class=\"r\">{html.escape(fmt(a.mean))}</td>"
                          f"<td class=\"r\">{html.escape(fmt(a.sd))}</td></tr>" for a in ev.arms)
                + "</tbody></table>")
    details = ""
    if ev.details:
        details = ("<details><summary>test details</summary>"
                   + _kv([(str(k), _value(v)) for k, v in ev.details.items()]) + "</details>")
    return (f'<div class="side"><h4>{html.escape(title)}</h4>{_kv(pairs)}{arms}{details}</div>')


def _claim_rows(i: int, r: ClaimResult, n_cols: int) -> str:
    ev = r.evidence
    verdict = r.verdict or ""
    outcome = r.outcome or DASH
    cells = [
        f"<td><code>{html.escape(r.id)}</code></td>",
        f'<td class="sentence">{inline(r.sentence)}</td>',
        f"<td>{_paper_cell(r)}</td>",
        f"<td>{_verdict_badge(r.verdict, verdict_text(r))}</td>",
        f"<td>{inline(effect_ci(ev, with_label=True))}</td>",
        f"<td>{html.escape(decision_ci_cell(r, with_level=True))}</td>",
        f'<td class="r">{html.escape(fmt_p(ev.p if ev else None))}</td>',
        f'<td class="r">{html.escape(fmt_p(r.p_adjusted))}</td>',
        f"<td>{inline(adjusted_cell(r))}</td>",
        f"<td>{inline(heldout_cell(r))}</td>",
        f'<td class="r">{html.escape(fmt_n(ev.n if ev else None))}</td>',
        f'<td class="{OUTCOME_CLASSES.get(outcome, "")}">{html.escape(outcome)}</td>',
    ]
    assert len(cells) == n_cols
    extra = [("pytest outcome", html.escape(outcome))]
    if r.status_note:
        extra.append(("status", inline(r.status_note)))
    extra += [("adjusted", inline(adjusted_cell(r))), ("held-out epoch", inline(heldout_cell(r))),
              ("runs used", html.escape(str(len(r.run_keys))))]
    if r.sequential is not None:
        q = r.sequential
        extra.append(("seeds added in stages",
                      html.escape(f"stopped at {q.stopped_at} seeds (stage {q.stage}): {q.reason}; ")
                      + "; ".join(html.escape(f"{h.seeds}: {fmt_p(h.p)} {h.verdict}") for h in q.history)))
    body = ('<div class="sides">' + _evidence_block("this run", ev)
            + _evidence_block(f"the paper: the same test on the paper's published numbers ({PAPER_DATASET})",
                              r.paper_evidence)
            + "</div>" + _kv(extra))
    return (f'<tr class="claim" id="claim-{i}" data-verdict="{html.escape(verdict)}">' + "".join(cells)
            + "</tr>\n"
            + f'<tr class="evidence"><td colspan="{n_cols}"><details class="claim-evidence">'
            + f"<summary>evidence and arms: <code>{html.escape(r.id)}</code></summary>{body}</details></td></tr>")


_CLAIM_HEADER = ["claim", "the paper's sentence", "the paper: verdict on the paper's numbers",
                 "this run: verdict", "effect [CI]", "CI at the outcome's level", "p", "p (adjusted)",
                 "verdict (adjusted)", "held-out epoch", "n", "pytest"]
_CLAIM_ALIGN = "llllllrrllrl"


def _claims_table(results: list[ClaimResult]) -> str:
    if not results:
        return "<p>No claims were run.</p>"
    head = "".join(f'<th class="r">{html.escape(h)}</th>' if a == "r" else f"<th>{html.escape(h)}</th>"
                   for h, a in zip(_CLAIM_HEADER, _CLAIM_ALIGN))
    rows = "\n".join(_claim_rows(i, r, len(_CLAIM_HEADER)) for i, r in enumerate(results, 1))
    return (f'<div class="scroll"><table class="claims"><thead><tr>{head}</tr></thead>\n<tbody>\n{rows}\n'
            "</tbody></table></div>")


# ---------------------------------------------------------------------------------------------
# report.html
# ---------------------------------------------------------------------------------------------

def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render(ctx: Context, results: list[ClaimResult], pngs: Mapping[str, bytes],
           written_at: datetime, comparison: Mapping | None = None) -> str:
    """The page. ``pngs``: figure file -> PNG bytes of the figures drawn."""
    title = md.title(ctx, written_at)
    drawn = {name: True for name in pngs}
    images = {name: data_uri(data) for name, data in pngs.items()}
    how = md.how_to_read(ctx.meta).splitlines()[1:]  # without its "## " heading
    counts: dict[str, int] = {}
    for r in results:
        counts[r.verdict or "no evidence"] = counts.get(r.verdict or "no evidence", 0) + 1
    summary = " ".join(f'{_verdict_badge(v, f"{k} {v}")}' for v, k in sorted(counts.items()))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title.replace('`', ''))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<header><h1>{inline(title)}</h1>",
        '<ul class="details">' + "".join(f"<li>{inline(x)}</li>"
                                         for x in md.run_details(ctx, results, written_at))
        + '<li><strong>files</strong>: <a href="report.md">report.md</a>, <a href="report.json">report.json</a>, '
          '<a href="runs.csv">runs.csv</a> (beside this page)</li></ul>',
        f'<p class="summary">This run\'s verdicts: {summary or DASH}</p></header>',
        "<details class=\"how-to-read\"><summary>How to read a verdict</summary>" + blocks(how) + "</details>",
        "<h2>Claims</h2>",
        '<p class="controls"><button type="button" data-unfold="all">unfold every claim</button>'
        '<button type="button" data-unfold="none">fold every claim</button></p>',
        _claims_table(results),
        blocks(md.issue9_notes(results)),
        blocks(md.comparison_section(comparison)),
        blocks(md.sequential_section(ctx.meta, results)),
        blocks(md.convergence_section(results)),
        blocks(md.aa_section(ctx)),
        blocks(md.sections(ctx, results, drawn), images),
        '<footer>Written by harness/report/html.py; the same report as markdown: '
        '<a href="report.md">report.md</a>.</footer>',
        f"<script>{_SCRIPT}</script>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
