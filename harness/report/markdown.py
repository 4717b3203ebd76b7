"""``report.md``: run details, how to read a verdict, one table with a row per claim, the
issue-9 notes, the ``--seeds auto`` stages, then a section per question (its claims, arm
means, figures).

The pieces the HTML page shows too are built here once, as markdown text: ``run_details``
(the bullet list under the title), ``how_to_read``, ``claim_note``, ``issue9_notes``,
``sequential_section``.
"""
from __future__ import annotations

from datetime import datetime
from typing import Mapping

from harness.report.cells import (adjusted_cell, arms_compact, bold, compact, decision_ci_cell,
                                  describe_source, effect_ci, fmt_n, fmt_wall, heldout_cell, paper_verdict,
                                  verdict_text)
from harness.report.classify import QUESTION_TITLES, SECTIONS, profile_of, section_of
from harness.report.data import (ARM_TABLE_INTROS, HEADLINE_INTRO, PAPER_DATASET, Context, Table,
                                 arm_table, headline_table)
from harness.report.figures import FIGURES
from harness.report.result import ClaimResult
from harness.statistics.formatting import DASH, as_float, fmt, fmt_p

__all__ = ["markdown", "title", "run_details", "how_to_read", "claims_header", "claim_row",
           "claim_note", "issue9_notes", "sequential_section", "convergence_section", "aa_section", "comparison_section", "section",
           "sections", "md_table", "HTML_FILE"]

#: the HTML page written beside report.md (linked from its run details)
HTML_FILE = "report.html"

_HOW_TO_READ = """\
## How to read a verdict

Each claim of the paper is turned into one statistical test on this run's numbers, at
alpha = {alpha} (declared in the profile before any data). The verdict is one of:

- **supported**: significant in the direction the paper claims (one-sided p < alpha; for an
  equivalence claim, the {tost_pct} CI lies inside the margin, i.e. TOST).
- **refuted**: significant *against* the claim (the mirror test has p < alpha; for
  equivalence, the {tost_pct} CI lies entirely outside the margin).
- **inconclusive**: neither. The minimum detectable effect (MDE, 80% power) says how large a
  true effect these seeds could have found; "inconclusive" is not "no effect".
- **untestable**: the data cannot support the test (n < 2, only summaries, missing arms);
  the note says why.
- **smoke-unshowable**: the claim cannot be shown at smoke scale (too few epochs, a small
  dataset or network); the test still runs and reports its numbers, but the pytest outcome
  is not a failure. Rerun with `--profile full` to judge it.
- **xfailed**: the paper's *own* published numbers refute (or cannot support) its sentence, so
  the test is expected to fail; *xpassed* means this run supports it nevertheless.

Effects are signed so that **positive = as the paper claims** (except ratios, which are
unsigned). Intervals are 95% two-sided t-intervals unless marked ({tost_pct} CI for TOST).
"p" is the test's own p-value; "p (adjusted)" is adjusted over all claims of this run by the
profile's multiplicity rule (Holm unless the profile says otherwise). "paper's verdict" is the same test applied to the paper's published CIFAR-10 numbers.
"""


# ---------------------------------------------------------------------------------------------
# markdown primitives
# ---------------------------------------------------------------------------------------------

def cell(x) -> str:
    """One table cell: on one line, ``|`` escaped; None is empty."""
    s = "" if x is None else str(x)
    s = " ".join(s.split())
    return s.replace("|", "\\|")


def md_table(header: list[str], rows: list[list], align: str | None = None) -> list[str]:
    align = align or "l" * len(header)
    sep = ["---:" if a == "r" else ":---:" if a == "c" else "---" for a in align]
    out = ["| " + " | ".join(cell(h) for h in header) + " |",
           "| " + " | ".join(sep) + " |"]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return out


def _table(t: Table) -> list[str]:
    return md_table(t.header, t.rows, t.align)


# ---------------------------------------------------------------------------------------------
# the parts
# ---------------------------------------------------------------------------------------------

def _alpha(meta: Mapping) -> tuple[float | None, str, str]:
    alpha = as_float(meta.get("alpha"))
    alpha_s = f"{alpha:g}" if alpha is not None else "the profile's alpha (not recorded)"
    tost_pct = f"{100 * (1 - 2 * alpha):g}%" if alpha is not None else "1-2*alpha"
    return alpha, alpha_s, tost_pct


def title(ctx: Context, written_at: datetime) -> str:
    return (f"Claim report: profile `{ctx.profile}`, dataset `{ctx.dataset}`, "
            f"{written_at.strftime('%Y-%m-%d')}")


def run_details(ctx: Context, results: list[ClaimResult], written_at: datetime) -> list[str]:
    """The run's details, one markdown item each (the bullets under the title)."""
    meta = ctx.meta
    alpha, alpha_s, _ = _alpha(meta)
    L = [f"**device**: {meta.get('device', DASH)}",
         f"**source of runs**: {describe_source(meta.get('source'))}",
         f"**started**: {meta.get('started', DASH)}; **written**: "
         f"{written_at.strftime('%Y-%m-%d %H:%M:%S UTC')}; **wall time**: {fmt_wall(meta.get('wall_s'))}",
         f"**alpha**: {alpha_s if alpha is not None else DASH}"]
    if meta.get("store"):
        L.append(f"**run store**: `{meta['store']}`")
    if meta.get("command"):
        L.append(f"**command**: `{meta['command']}`")
    versions = meta.get("versions")
    if isinstance(versions, Mapping) and versions:
        L.append("**versions**: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    elif versions:
        L.append(f"**versions**: {versions}")
    known = {"profile", "dataset", "device", "source", "alpha", "started", "wall_s", "versions",
             "store", "command"}
    for k, v in meta.items():
        if k not in known:
            if isinstance(v, Mapping):
                v = ", ".join(f"{kk}={compact(vv)}" for kk, vv in v.items())
            L.append(f"**{k}**: {compact(v)}")
    L.append(f"**runs**: {ctx.n_runs} runs in `runs.csv` ({len(ctx.runs)} rows); "
             "every claim's numbers are also in `report.json`")
    if ctx.unassigned:
        L.append(f"**{ctx.unassigned} rows match no question** (see `question_of` in "
                 "harness/declare/questions.py)")
    if ctx.paper_own_axis and len(ctx.runs):
        L.append(f"The paper's numbers are on {PAPER_DATASET}; this run is on `{ctx.dataset}`, so "
                 "absolute accuracies differ: compare directions and effects, not levels.")
    # verdict / outcome counts
    verdicts: dict[str, int] = {}
    outcomes: dict[str, int] = {}
    for r in results:
        v = r.verdict or "no evidence"
        verdicts[v] = verdicts.get(v, 0) + 1
        o = r.outcome or DASH
        outcomes[o] = outcomes.get(o, 0) + 1
    L.append(f"**claims**: {len(results)}; verdicts: "
             + (", ".join(f"{v} {k}" for k, v in sorted(verdicts.items())) or DASH)
             + "; pytest: " + (", ".join(f"{v} {k}" for k, v in sorted(outcomes.items())) or DASH))
    return L


def how_to_read(meta: Mapping) -> str:
    _, alpha_s, tost_pct = _alpha(meta)
    return _HOW_TO_READ.format(alpha=alpha_s, tost_pct=tost_pct)


def claims_header() -> tuple[list[str], str]:
    return (["id", "the paper's sentence", "paper's verdict (p)", "this run: arms (mean±sd)",
             "effect [95% CI]", "CI at the outcome's level", "test", "p", "p (adjusted)", "verdict",
             "verdict (adjusted)", "held-out epoch", "n", "pytest"], "lllllllrrlllrl")


def claim_row(r: ClaimResult) -> list:
    ev = r.evidence
    return [f"`{r.id}`", r.sentence, paper_verdict(r), arms_compact(ev),
            effect_ci(ev, with_label=True), decision_ci_cell(r, with_level=True), ev.test if ev else DASH,
            fmt_p(ev.p if ev else None), fmt_p(r.p_adjusted),
            bold(verdict_text(r)), adjusted_cell(r), heldout_cell(r),
            fmt_n(ev.n if ev else None), r.outcome or DASH]


def issue9_notes(results: list[ClaimResult]) -> list[str]:
    """Footnotes for the columns added by the statistics audit (issue 9)."""
    L = ["- **p (adjusted)**, **verdict (adjusted)**: under the profile's multiplicity rule "
         "(harness/statistics/multiplicity.py), across the m claims declared in the suite's claim files "
         "(whatever `-k` selected; claims not run or untestable count as p = 1). Each pytest "
         "outcome is judged at alpha/m, the first step of Holm and BH, so a passing test is "
         "supported under the rule; the step-down/step-up verdict here can support more.",
         "- **CI at the outcome's level**: the two-sided interval at 1 - 2 x the one-sided level "
         "the pytest outcome was decided at (alpha/m; with `--seeds auto` the stopping stage's "
         "share of it), so it excludes the null exactly when that outcome is supported; shown "
         "where the 95% interval is a t interval (a dash for the spread test's bootstrap interval, Cohen's f in older reports, and Kendall's tau)."]
    L.append("- **held-out epoch**: the verdict when `best_test_acc` (epoch chosen on the test set, "
             "the paper's protocol) is replaced by `heldout_best_test_acc` (epoch chosen on test half A, "
             "accuracy on half B). *not used*: the claim does not read that metric; *n/a*: the source "
             "lacks it (the paper's table, runs trained before it was recorded).")
    marked = [r for r in results if r.levels_from_paper_table]
    if marked:
        L.append("- **‡** on the paper's verdict: the claim's levels were chosen from the paper's own "
                 "table (" + "; ".join(f"`{r.id}`: {r.levels_from_paper_table}" for r in marked)
                 + "). Valid for fresh runs; on that table the verdict is biased toward support.")
    return L + [""]


def aa_section(ctx: Context) -> list[str]:
    """issue 21 item 8: the A/A self-calibration of this report's own runs (each
    configuration's seeds split into two fake arms of one truth, every family judged on them;
    harness/statistics/aa_calibration.py, as ``pytest claims --calibrate``). Empty where no
    configuration has the 4 runs a split needs (published summaries, 2-3 seeds), and for
    smoke-scale profiles (``--calibrate`` still works on their runs)."""
    from harness.statistics import aa_calibration

    rows = ctx.aa_rows
    if not any(r.judged for r in rows):
        return []
    return ["## A/A self-calibration on these runs", "",
            aa_calibration.render(rows, profile_of(ctx.meta).alpha, "these runs"), "",
            "The same table for any runs.csv: `pytest claims --calibrate --source runs.csv`. A "
            "family outside its band would mean its verdicts on this kind of run are not at the "
            "error rate the statistics claim.", ""]


def convergence_section(results: list[ClaimResult]) -> list[str]:
    """issue 24: whether each arm the claims compare was still improving at its last epoch
    (harness/statistics/convergence.py), the claims that compare one ("budget-confounded"), and what each
    undecided claim would take (harness/statistics/seeds_needed.py). Empty for sources without curves."""
    from harness.statistics.convergence import LAST_EPOCHS, MIN_GAIN_FRACTION
    from harness.statistics.seeds_needed import describe

    arms: dict[str, dict] = {}
    for r in results:  # an arm several claims read: its diagnostic on the most seeds any used
        for name, c in ((r.convergence or {}).get("arms") or {}).items():
            if name not in arms or (c.get("n") or 0) > (arms[name].get("n") or 0):
                arms[name] = c
    needs = [r for r in results if r.seeds_needed]
    if not arms and not needs:
        return []
    L = ["## Convergence and what undecided claims would take", ""]
    if arms:
        L.append(f"An arm is **still improving** when its mean gain per epoch over the last "
                 f"{LAST_EPOCHS} epochs has a 95% interval (over seeds) above 0 and is at least "
                 f"{MIN_GAIN_FRACTION:g} of its seed-to-seed SD: comparing it measures the training "
                 "budget as well as the claim.")
        L.append("")
        rows = [[f"`{label}`", c.get("status", DASH),
                 DASH if c.get("slope") is None else f"{c['slope']:+.2f}",
                 DASH if not c.get("ci") else f"[{c['ci'][0]:+.2f}, {c['ci'][1]:+.2f}]",
                 DASH if c.get("seed_sd") is None else f"{c['seed_sd']:.2f}", str(c.get("n", DASH))]
                for label, c in sorted(arms.items())]
        L += md_table(["arm", "status", "gain per epoch (points)", "95% CI", "seed SD", "n"], rows,
                      align="llrrrr")
        L.append("")
        flagged = [r for r in results if r.budget_confounded]
        L.append("**Budget-confounded claims**: " + ("; ".join(
            f"`{r.id}` ({', '.join(r.still_improving)})" for r in flagged) if flagged else "none") + ".")
        L.append("")
    if needs:
        L.append("What deciding each claim left undecided at the outcome's level (alpha/m) would "
                 "take, if its observed effect were the truth (harness/statistics/seeds_needed.py: the "
                 "test's own minimum detectable effect, carried to more seeds):")
        L.append("")
        L += [f"- `{r.id}`: {describe(r.seeds_needed)}" for r in needs]
        L.append("")
    return L


def sequential_section(meta: Mapping, results: list[ClaimResult]) -> list[str]:
    """--seeds auto (harness/statistics/sequential.py): where each claim stopped, and the session's cost
    against a fixed design at the last stage."""
    seq = [r for r in results if r.sequential is not None]
    if not seq:
        return []
    summary = meta.get("sequential") if isinstance(meta.get("sequential"), Mapping) else {}
    design = summary.get("design") or {}
    L = ["## Seeds added in stages (`--seeds auto`)", ""]
    if design:
        levels = ", ".join(f"{n} seeds: {lv:.2g}"
                           for n, lv in zip(design.get("stages", []), design.get("levels", [])))
        L.append(f"Stages and nominal one-sided levels ({design.get('spending', DASH)} alpha spending of "
                 f"alpha/m = {fmt(as_float(design.get('alpha')))}, the level each pytest outcome is judged "
                 f"at): {levels}. A claim stops at the first stage where it is supported or refuted at "
                 "that stage's level, untestable, or futile: neither verdict within reach of the last "
                 "stage. Its p in the claims table is the sequential p, min over its stages of the "
                 "stage's p / its share of alpha/m, which Holm adjusts (docs/STATISTICS.md, "
                 "\"Sequential seeds\").")
        L.append("")
    if summary:
        L.append(f"Runs used: **{summary.get('runs_used')}**, against "
                 f"**{summary.get('fixed_last_stage_runs')}** for the same grids at the last stage's "
                 f"seeds ({fmt(summary.get('fraction_of_fixed'))} of it). Claims stopped at: "
                 + ", ".join(f"{k} seeds: {v}" for k, v in (summary.get("claims_stopped_at") or {}).items()))
        L.append("")
    rows = []
    for r in seq:
        q = r.sequential
        path = "; ".join(f"{h.seeds}: {fmt_p(h.p)} {h.verdict}" for h in q.history)
        rows.append([f"`{r.id}`", f"{q.stopped_at} (stage {q.stage})",
                     q.reason, f"{q.boundary:.2g}" if q.boundary else DASH,
                     fmt_n(q.seeds_per_arm), q.runs_used, path])
    L += md_table(["id", "stopped at (seeds)", "why", "boundary (level)", "seeds per arm",
                   "runs of its configurations", "p and verdict per stage"], rows, align="lllrrrl")
    return L + [""]


def comparison_section(comparison: Mapping | None) -> list[str]:
    """--compare (harness/report/compare.py): the claims whose verdict changed or whose effect
    left the baseline's CI, from report.json's ``comparison``; nothing without --compare."""
    if not comparison:
        return []
    L = ["## Compared with a baseline (`--compare`)", ""]
    written = comparison.get("baseline_written")
    L.append(f"Baseline: `{comparison.get('baseline')}`" + (f", written {written}" if written else "")
             + f"; {comparison.get('compared')} claims judged in both. A claim is listed when its "
             "verdict changed or its effect lies outside the baseline's CI for it.")
    if comparison.get("gate"):
        failed = comparison.get("failed") or []
        L.append(f"`--compare-fail {comparison['gate']}`: "
                 + (f"**failed** on {', '.join(f'`{c}`' for c in failed)}" if failed else "passed") + ".")
    L.append("")
    changes = comparison.get("changes") or []
    if not changes:
        return L + ["No verdict changed and no effect left the baseline's CI.", ""]
    rows = []
    for c in changes:
        (v0, v1), (e0, e1), (p0, p1) = c["verdict"], c["effect"], c["p"]
        ci = c.get("ci_before")
        rows.append([f"`{c['id']}`", ", ".join(c["kinds"]), f"{v0 or DASH} -> {v1 or DASH}",
                     f"{fmt(e0)} -> {fmt(e1)}",
                     f"[{fmt(ci[0])}, {fmt(ci[1])}]" if ci else DASH, f"{fmt_p(p0)} -> {fmt_p(p1)}"])
    L += md_table(["id", "what moved", "verdict", "effect", "baseline CI", "p"], rows, align="llllll")
    return L + [""]


def claim_note(r: ClaimResult) -> str:
    """One claim on one line: verdict, pytest outcome, effect [CI], MDE, notes."""
    ev = r.evidence
    line = f"- `{r.id}`: {bold(verdict_text(r))}, pytest {r.outcome or DASH}"
    if ev:
        eff = effect_ci(ev, with_label=True)
        if eff != DASH:
            line += f"; {eff}"
        if ev.mde is not None:
            line += f"; MDE(80%) {fmt(ev.mde)}"
    note = " ".join(x for x in (r.status_note, ev.note if ev else None) if x)
    if note:
        line += f". Note: {note}"
    return cell(line).replace("\\|", "|")


def section(ctx: Context, q: str, results: list[ClaimResult], figures: dict[str, bool]) -> list[str]:
    """A question's section: its claims, arm means and figures (``![name](name)`` lines)."""
    L = [f"## {QUESTION_TITLES[q]}", ""]
    if results:
        L.append("Claims:")
        L.append("")
        L += [claim_note(r) for r in results] + [""]
    else:
        L += ["No claims of this question were run.", ""]
    if q == "headline":
        table = headline_table(ctx)
        if table is None:
            return L + ["**No runs for this question** in this report.", ""]
        return L + [HEADLINE_INTRO, ""] + _table(table) + [""]
    if not len(ctx.of(q)):
        L += ["**No runs for this question** in this report; its figures are not drawn.", ""]
        return L
    L += [ARM_TABLE_INTROS[q], ""]
    table = arm_table(ctx, q)
    if table is not None:
        L += _table(table) + [""]
    for name, fq in FIGURES.items():
        if fq == q and figures.get(name):
            L += [f"![{name}]({name})", ""]
    return L


# ---------------------------------------------------------------------------------------------
# report.md
# ---------------------------------------------------------------------------------------------

def markdown(ctx: Context, results: list[ClaimResult], figures: dict[str, bool],
             written_at: datetime, comparison: Mapping | None = None) -> str:
    L: list[str] = [f"# {title(ctx, written_at)}", ""]
    L += [f"- {item}" for item in run_details(ctx, results, written_at)]
    L.append(f"- **as one web page**: [{HTML_FILE}]({HTML_FILE}), figures included, each claim's "
             "evidence and arms unfolding")
    L.append("")
    L.append(how_to_read(ctx.meta))

    # ---- the one table
    L.append("## Claims")
    L.append("")
    if results:
        header, align = claims_header()
        L += md_table(header, [claim_row(r) for r in results], align=align)
    else:
        L.append("No claims were run.")
    L.append("")
    L += issue9_notes(results)
    L += comparison_section(comparison)  # --compare only

    L += sequential_section(ctx.meta, results)  # --seeds auto only
    L += convergence_section(results)  # runs with per-epoch curves only
    L += aa_section(ctx)  # configurations with >= 4 runs only
    L += sections(ctx, results, figures)
    return "\n".join(L).rstrip() + "\n"


def sections(ctx: Context, results: list[ClaimResult], figures: dict[str, bool]) -> list[str]:
    """One section per question (``SECTIONS``), then the claims of no known question."""
    by_q: dict[str, list[ClaimResult]] = {}
    for r in results:
        by_q.setdefault(section_of(r.question), []).append(r)
    L: list[str] = []
    for q in SECTIONS:
        L += section(ctx, q, by_q.get(q, []), figures)
    if by_q.get("other"):
        L.append("## Other claims")
        L.append("")
        L += [claim_note(r) for r in by_q["other"]] + [""]
    return L
