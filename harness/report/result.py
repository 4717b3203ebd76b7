"""The typed claim result: parsed once, read everywhere.

The plugin hands the report one dict per claim (``harness/pytest_plugin/plugin.py``, ``judge``; the same dict
is a ``report.json`` ``results`` entry). ``ClaimResult.parse`` cleans it once
(``harness.statistics.formatting.jsonable``: strict JSON, NaN -> None) and reads every field the report
shows into typed attributes, so that no writer re-cleans or re-guesses the dict. ``data`` keeps
the cleaned dict itself: ``report.json`` writes it as it is, unknown keys included.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from harness.statistics.formatting import DASH, as_float, as_str, is_signed, jsonable

__all__ = ["ArmSummary", "EvidenceRecord", "Heldout", "Stage", "Sequential", "ClaimResult",
           "parse_results"]


def _parse_n(v: Any) -> tuple[int | None, ...] | int | None:
    if v is None:
        return None
    if isinstance(v, (list, tuple)):
        return tuple(None if as_float(k) is None else int(as_float(k)) for k in v)
    f = as_float(v)
    return None if f is None else int(f)


@dataclass(frozen=True)
class ArmSummary:
    """One arm as the evidence recorded it (mean and sample sd of its runs)."""

    label: str
    n: int | None
    mean: float | None
    sd: float | None

    @classmethod
    def parse(cls, d: Any) -> "ArmSummary":
        d = d if isinstance(d, Mapping) else {}
        n = as_float(d.get("n"))
        return cls(label=str(d.get("label", "?")), n=None if n is None else int(n),
                   mean=as_float(d.get("mean")), sd=as_float(d.get("sd")))


@dataclass(frozen=True)
class EvidenceRecord:
    """A claim's evidence (``harness.statistics.stats.Evidence.to_dict()``), typed."""

    verdict: str | None
    test: str | None  # DASH when the evidence names no test
    effect: float | None
    effect_label: str | None
    ci: tuple[float | None, float | None] | None  # only a two-sided pair is an interval
    ci_level: float  # 0.95 when not recorded
    p: float | None
    n: tuple[int | None, ...] | int | None
    alpha: float | None
    mde: float | None
    arms: tuple[ArmSummary, ...]
    details: dict = field(default_factory=dict)  # JSON-clean, as recorded
    note: str | None = None

    @classmethod
    def parse(cls, d: Any) -> "EvidenceRecord | None":
        """None for missing or empty evidence (the report shows it as DASH)."""
        if not isinstance(d, Mapping) or not d:
            return None
        ci = d.get("ci")
        test = d.get("test", DASH)
        return cls(
            verdict=as_str(d.get("verdict")) or None,
            test=None if test is None else str(test),
            effect=as_float(d.get("effect")),
            effect_label=as_str(d.get("effect_label")),
            ci=_parse_ci(ci),
            ci_level=as_float(d.get("ci_level")) or 0.95,
            p=as_float(d.get("p")),
            n=_parse_n(d.get("n")),
            alpha=as_float(d.get("alpha")),
            mde=as_float(d.get("mde")),
            arms=tuple(ArmSummary.parse(a) for a in (d.get("arms") or [])),
            details=dict(d["details"]) if isinstance(d.get("details"), Mapping) else {},
            note=as_str(d.get("note")),
        )

    @property
    def signed(self) -> bool:
        """Effects are signed (positive = as claimed) except ratios and Cohen's f."""
        return is_signed(self.effect_label)

    @property
    def ci_not_95(self) -> bool:
        return self.ci is not None and abs(self.ci_level - 0.95) > 1e-9


@dataclass(frozen=True)
class Heldout:
    """The verdict with the epoch chosen on test half A, scored on half B (issue 9)."""

    status: str | None  # "judged", "not used", "n/a"
    verdict: str | None
    p: float | None
    changed: bool

    @classmethod
    def parse(cls, d: Any) -> "Heldout | None":
        if not isinstance(d, Mapping):
            return None
        return cls(status=as_str(d.get("status")), verdict=as_str(d.get("verdict")),
                   p=as_float(d.get("p")), changed=bool(d.get("changed")))


@dataclass(frozen=True)
class Stage:
    seeds: Any
    p: float | None
    verdict: str | None


@dataclass(frozen=True)
class Sequential:
    """--seeds auto (harness/statistics/sequential.py): where the claim stopped and why."""

    stopped_at: Any
    stage: Any
    reason: str | None  # DASH when not recorded
    boundary: float | None
    seeds_per_arm: tuple[int | None, ...] | int | None
    runs_used: Any  # DASH when not recorded
    history: tuple[Stage, ...]

    @classmethod
    def parse(cls, d: Any) -> "Sequential | None":
        if not isinstance(d, Mapping):
            return None
        reason = d.get("reason", DASH)
        return cls(stopped_at=d.get("stopped_at"), stage=d.get("stage"),
                   reason=None if reason is None else str(reason),
                   boundary=as_float(d.get("boundary")),
                   seeds_per_arm=_parse_n(d.get("seeds_per_arm")),
                   runs_used=d.get("runs_used", DASH),
                   history=tuple(Stage(h.get("seeds"), as_float(h.get("p")), as_str(h.get("verdict")))
                                 for h in (d.get("history") or []) if isinstance(h, Mapping)))


@dataclass(frozen=True)
class ClaimResult:
    """One claim as judged in this session, with the same test on the paper's numbers."""

    id: str
    question: str | None
    sentence: str
    outcome: str | None  # pytest: passed, failed, skipped, xfailed, xpassed, xpassed-strict
    status_note: str | None
    evidence: EvidenceRecord | None
    paper_evidence: EvidenceRecord | None
    p_adjusted: float | None
    verdict_adjusted: str | None
    multiplicity: str | None
    heldout: Heldout | None
    levels_from_paper_table: str  # "" when the levels were not chosen from the paper's table
    smoke_unshowable: bool
    sequential: Sequential | None
    run_keys: tuple[str, ...]
    data: dict  # the cleaned dict: report.json's entry, unknown keys included
    # issue 21: the interval at the level the pytest outcome was decided at (1 - 2 x that
    # one-sided level), None where the interval is not a t interval or not recorded
    decision_ci: tuple[float | None, float | None] | None = None
    decision_ci_level: float | None = None
    # issue 24: the arms still improving at their last epoch (harness/statistics/convergence.py), and for
    # an undecided outcome the seeds per configuration that would decide it (seeds_needed.py)
    still_improving: tuple[str, ...] = ()
    convergence: dict | None = None
    seeds_needed: dict | None = None

    @property
    def budget_confounded(self) -> bool:
        return bool(self.still_improving)

    @classmethod
    def parse(cls, result: Any) -> "ClaimResult":
        """From the plugin's result dict, a report.json entry, or a ClaimResult (returned as is)."""
        if isinstance(result, ClaimResult):
            return result
        d = jsonable(result)
        if not isinstance(d, dict):
            raise TypeError(f"a claim result must be a mapping, got {type(result).__name__}")
        # reports written before issue 8 named the paper "seed": read both spellings
        levels = d.get("levels_from_paper_table", d.get("levels_from_seed_table"))
        return cls(
            id=as_str(d.get("id")) or "?",
            question=as_str(d.get("question")),
            sentence=as_str(d.get("sentence")) or "",
            outcome=as_str(d.get("outcome")),
            status_note=as_str(d.get("status_note")),
            evidence=EvidenceRecord.parse(d.get("evidence")),
            paper_evidence=EvidenceRecord.parse(d.get("paper_evidence", d.get("seed_evidence"))),
            p_adjusted=as_float(d.get("p_adjusted")),
            verdict_adjusted=as_str(d.get("verdict_adjusted")),
            multiplicity=as_str(d.get("multiplicity")),
            heldout=Heldout.parse(d.get("heldout")),
            levels_from_paper_table=str(levels) if levels else "",
            smoke_unshowable=bool(d.get("smoke_unshowable")),
            sequential=Sequential.parse(d.get("sequential")),
            run_keys=tuple(k for k in map(as_str, d.get("run_keys") or []) if k is not None),
            data=d,
            decision_ci=_parse_ci((d.get("decision_ci") or {}).get("ci")
                                  if isinstance(d.get("decision_ci"), Mapping) else None),
            decision_ci_level=as_float((d.get("decision_ci") or {}).get("level"))
            if isinstance(d.get("decision_ci"), Mapping) else None,
            still_improving=tuple(str(x) for x in (d.get("convergence") or {}).get("still_improving") or ())
            if isinstance(d.get("convergence"), Mapping) else (),
            convergence=d.get("convergence") if isinstance(d.get("convergence"), Mapping) else None,
            seeds_needed=d.get("seeds_needed") if isinstance(d.get("seeds_needed"), Mapping) else None,
        )

    @property
    def verdict(self) -> str | None:
        """This run's verdict (None without evidence)."""
        return self.evidence.verdict if self.evidence else None


def _parse_ci(ci: Any) -> tuple[float | None, float | None] | None:
    return (as_float(ci[0]), as_float(ci[1])) if isinstance(ci, (list, tuple)) and len(ci) == 2 else None


def parse_results(results) -> list[ClaimResult]:
    return [ClaimResult.parse(r) for r in (results or [])]
