"""Compare a session's claims with a baseline report (``pytest claims --compare BASELINE``).

The baseline is a ``report.json``, a report folder holding one, or ``last``: the report
``reports/latest`` pointed at when this session started (the previous run). For every claim
judged in both, a change is

* ``verdict``: the claim's verdict (supported / refuted / inconclusive / untestable) differs;
* ``effect``: the new effect lies outside the baseline's confidence interval for it (the
  interval the baseline itself reported; same effect measure on both sides).

``--compare-fail`` turns changes into a failed session (for CI): ``verdict`` (any verdict
change), ``effect`` (any effect outside the baseline's CI) or ``effect:X`` (an effect that moved
by more than X, in the effect's own units), comma-separated for several. A claim judged in only
one of the two is listed, never a failure (a ``-k`` selection judges fewer claims).

Torch-free: it reads two lists of claim results.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from harness.report.result import ClaimResult, parse_results
from harness.report.schema import SchemaError, check_report
from harness.statistics.formatting import DASH, fmt, fmt_p

__all__ = ["BaselineError", "Baseline", "Change", "Comparison", "Gate", "LAST", "load_baseline",
           "compare", "parse_gate", "COMPARE_FAILED_EXIT"]

#: ``--compare last``: the previous report in the reports folder
LAST = "last"
#: the exit status of a session that --compare-fail failed (pytest's own codes are 0-5)
COMPARE_FAILED_EXIT = 6


class BaselineError(ValueError):
    """A baseline that cannot be read; the message is one line saying what to do."""


@dataclass(frozen=True)
class Baseline:
    name: str          # how the report names it (portable: relative or by name)
    path: Path         # the report.json read
    written: str | None
    results: list[ClaimResult]


def resolve_baseline(spec: str, reports_dir: Path) -> Path:
    """The report.json ``spec`` names (``last``, a folder or a file); checked to exist."""
    if spec == LAST:
        latest = Path(reports_dir) / "latest"
        if not (latest / "report.json").is_file():
            raise BaselineError(f"--compare last: no previous report in {reports_dir} (no "
                                f"latest/report.json); run once without --compare, or name a "
                                f"report.json or report folder")
        return (latest / "report.json").resolve()  # the folder it points at now, not later
    path = Path(spec)
    if path.is_dir():
        path = path / "report.json"
    if not path.is_file():
        raise BaselineError(f"--compare {spec}: no such report.json (give a report.json, a report "
                            f"folder such as reports/latest, or 'last')")
    return path


def load_baseline(path: Path, name: str) -> Baseline:
    """Read and validate a baseline report.json (the committed schema)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BaselineError(f"--compare {name}: cannot read {path.name} ({exc}); give a "
                            f"report.json written by pytest claims") from None
    try:
        check_report(doc)
    except SchemaError as exc:
        raise BaselineError(f"--compare {name}: not a claims report ({exc})") from None
    return Baseline(name=name, path=Path(path), written=doc.get("written"),
                    results=parse_results(doc["results"]))


@dataclass(frozen=True)
class Change:
    """One claim of the comparison: what differs between the baseline and this session."""

    id: str
    kinds: tuple[str, ...]  # "verdict", "effect", "new" (not in the baseline), "gone"
    verdict_before: str | None
    verdict_after: str | None
    effect_before: float | None
    effect_after: float | None
    ci_before: tuple[float | None, float | None] | None
    p_before: float | None
    p_after: float | None

    @property
    def effect_shift(self) -> float | None:
        if self.effect_before is None or self.effect_after is None:
            return None
        return self.effect_after - self.effect_before

    def to_dict(self) -> dict:
        return {"id": self.id, "kinds": list(self.kinds),
                "verdict": [self.verdict_before, self.verdict_after],
                "effect": [self.effect_before, self.effect_after],
                "ci_before": list(self.ci_before) if self.ci_before else None,
                "p": [self.p_before, self.p_after]}


@dataclass(frozen=True)
class Comparison:
    baseline: str
    baseline_written: str | None
    compared: int                  # claims judged in both
    changes: tuple[Change, ...]    # only claims with at least one kind

    @property
    def moved(self) -> tuple[Change, ...]:
        """Changes of claims judged in both (verdict or effect), not new or gone ones."""
        return tuple(c for c in self.changes if {"verdict", "effect"} & set(c.kinds))

    def to_dict(self) -> dict:
        return {"baseline": self.baseline, "baseline_written": self.baseline_written,
                "compared": self.compared, "changes": [c.to_dict() for c in self.changes]}

    def lines(self) -> list[str]:
        """The comparison as text lines (terminal and report.md)."""
        head = (f"compared with {self.baseline}"
                + (f" (written {self.baseline_written})" if self.baseline_written else "")
                + f": {self.compared} claims judged in both")
        if not self.moved:
            head += "; no verdict changed and no effect left the baseline's CI"
        out = [head]
        for c in self.changes:
            out.append(f"  {c.id}: {describe(c)}")
        return out


def _outside(value: float | None, ci) -> bool:
    if value is None or ci is None or ci[0] is None or ci[1] is None:
        return False
    return value < ci[0] or value > ci[1]


def compare(baseline: Baseline, results) -> Comparison:
    """Every claim judged in this session against the same id in ``baseline``."""
    now = {r.id: r for r in parse_results(results)}
    before = {r.id: r for r in baseline.results}
    changes = []
    for cid in sorted(now.keys() | before.keys()):
        a, b = before.get(cid), now.get(cid)
        ea, eb = (a.evidence if a else None), (b.evidence if b else None)
        kinds = []
        if a is None:
            kinds.append("new")
        elif b is None:
            kinds.append("gone")
        else:
            if a.verdict != b.verdict:
                kinds.append("verdict")
            same_measure = ea is not None and eb is not None and ea.effect_label == eb.effect_label
            if same_measure and _outside(eb.effect, ea.ci):
                kinds.append("effect")
        if kinds:
            changes.append(Change(
                id=cid, kinds=tuple(kinds), verdict_before=a.verdict if a else None,
                verdict_after=b.verdict if b else None, effect_before=ea.effect if ea else None,
                effect_after=eb.effect if eb else None, ci_before=ea.ci if ea else None,
                p_before=ea.p if ea else None, p_after=eb.p if eb else None))
    compared = len(now.keys() & before.keys())
    return Comparison(baseline.name, baseline.written, compared, tuple(changes))


def describe(c: Change) -> str:
    """``verdict supported -> inconclusive; effect 2.30 -> -0.70 (baseline CI [0.96, 3.64]); p ...``"""
    if "new" in c.kinds:
        return f"not in the baseline (now {c.verdict_after or DASH})"
    if "gone" in c.kinds:
        return f"not judged in this session (baseline {c.verdict_before or DASH})"
    parts = []
    if "verdict" in c.kinds:
        parts.append(f"verdict {c.verdict_before or DASH} -> {c.verdict_after or DASH}")
    else:
        parts.append(f"verdict {c.verdict_after or DASH} (unchanged)")
    ci = c.ci_before
    ci_txt = f" (baseline CI [{fmt(ci[0])}, {fmt(ci[1])}])" if ci and None not in ci else ""
    mark = ", outside the baseline's CI" if "effect" in c.kinds else ""
    parts.append(f"effect {fmt(c.effect_before)} -> {fmt(c.effect_after)}{ci_txt}{mark}")
    parts.append(f"p {fmt_p(c.p_before)} -> {fmt_p(c.p_after)}")
    return "; ".join(parts)


@dataclass(frozen=True)
class Gate:
    """What --compare-fail fails on."""

    verdict: bool = False
    effect_outside_ci: bool = False
    effect_threshold: float | None = None  # |effect change| above this fails

    def failures(self, comparison: Comparison) -> list[Change]:
        out = []
        for c in comparison.moved:
            shift = c.effect_shift
            if (self.verdict and "verdict" in c.kinds) \
                    or (self.effect_outside_ci and "effect" in c.kinds) \
                    or (self.effect_threshold is not None and shift is not None
                        and abs(shift) > self.effect_threshold):
                out.append(c)
        return out


def parse_gate(spec: str | None) -> Gate | None:
    """``verdict``, ``effect``, ``effect:X`` (X > 0), comma-separated; None for no gate."""
    if not spec:
        return None
    verdict = outside = False
    threshold = None
    for part in (p.strip() for p in spec.split(",")):
        if part == "verdict":
            verdict = True
        elif part == "effect":
            outside = True
        elif part.startswith("effect:"):
            try:
                threshold = float(part.partition(":")[2])
            except ValueError:
                threshold = math.nan
            if not math.isfinite(threshold) or threshold <= 0:
                raise ValueError(f"--compare-fail {spec}: effect:X needs a positive number X "
                                 f"(the largest effect change allowed, in the effect's units)")
        else:
            raise ValueError(f"--compare-fail {spec}: unknown condition {part!r}; use verdict, "
                             f"effect (outside the baseline's CI) or effect:X, comma-separated")
    return Gate(verdict, outside, threshold)
