"""One claim judged: what the ``judge`` fixture does, apart from pytest.

A claim is a function ``fn(runs, profile) -> Evidence``. :func:`judge_claim` evaluates it on
this session's runs (growing them stage by stage with ``--seeds auto``), on the paper's table
(for the report's side-by-side column), at the per-claim level of the declared multiplicity
rule (the pytest outcome) and under the held-out-epoch metric (issue 9), and returns the
result record the report and the JUnit properties are made from. The plugin only turns it
into pass, fail or skip.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from harness import stats
from harness.profiles import PAPER_PROFILE
from harness.questions import runs_of


@dataclass(frozen=True)
class ClaimMark:
    """What a claim test declares: ``@pytest.mark.claim(id=..., question=..., sentence=...)``
    and the markers that change how it is read."""

    id: str
    question: str
    sentence: str
    nodeid: str
    smoke_unshowable: bool = False   # not_at_smoke_scale, and the profile is at smoke scale
    levels_from_paper: str = ""      # levels_from_paper_table's reason ("" when not marked)


def evaluate(fn: Callable, runs, profile) -> stats.Evidence:
    """``fn(runs, profile)``, or an untestable Evidence when the source lacks an arm."""
    from harness.runs import MissingArm

    try:
        return fn(runs, profile)
    except MissingArm as exc:
        return stats.Evidence(verdict=stats.UNTESTABLE, test="none", effect=None, effect_label="",
                              ci=None, ci_level=0.95, p=None, n=(), alpha=profile.alpha,
                              note=str(exc))


def judge_claim(fn: Callable, claim: ClaimMark, settings, runs_for: Callable, n_claims: int,
                grow: Callable | None = None) -> tuple[dict, stats.Evidence, stats.Evidence, float]:
    """-> (result record, evidence at alpha, evidence at the outcome's level, that level).

    ``runs_for(question)`` gives the source's runs; ``grow(specs)`` trains more seeds (only
    with ``--seeds auto``)."""
    from harness import epoch_check, multiplicity
    from harness.runs import published_runs

    s = settings
    question = runs_of(claim.question)
    runs = runs_for(question)
    seq = None
    if s.seed_design is not None:  # --seeds auto: stages until decided (harness/sequential.py)
        from harness import grids, sequential

        ev, runs, seq = sequential.judge_sequentially(
            lambda r, p: evaluate(fn, r, p), s.profile, s.seed_design, runs,
            grids.grid(question, s.profile, s.dataset, s.seeds), grow)
    else:
        ev = evaluate(fn, runs, s.profile)
    paper_ev = ev if s.source == "paper" else \
        evaluate(fn, published_runs(), PAPER_PROFILE.replace(alpha=s.profile.alpha))
    # issue 9: the outcome is judged at the per-claim level of the declared multiplicity rule
    # (alpha/m, m = claims collected; harness/multiplicity.py says why)
    outcome_alpha = multiplicity.per_claim_alpha(s.profile.multiplicity, s.profile.alpha, n_claims)
    out_ev = ev if outcome_alpha == s.profile.alpha else \
        evaluate(fn, runs, s.profile.replace(alpha=outcome_alpha))
    heldout = epoch_check.rejudge(lambda r: evaluate(fn, r, s.profile), runs, ev)
    result = {
        "id": claim.id, "question": claim.question, "sentence": claim.sentence,
        "nodeid": claim.nodeid, "evidence": ev.to_dict(), "paper_evidence": paper_ev.to_dict(),
        "run_keys": sorted(set(runs["key"].dropna())) if "key" in runs else [],
        "smoke_unshowable": claim.smoke_unshowable,
        "profile": s.profile.name, "dataset": s.dataset if s.source == "fresh" else s.source,
        "multiplicity": s.profile.multiplicity, "claims_m": n_claims, "outcome_alpha": outcome_alpha,
        "outcome_verdict": out_ev.verdict, "heldout": heldout,
        "levels_from_paper_table": claim.levels_from_paper,
    }
    if seq is not None:
        result["sequential"] = seq
    return result, ev, out_ev, outcome_alpha


def failure_message(claim: ClaimMark, ev: stats.Evidence, out_ev: stats.Evidence,
                    outcome_alpha: float, settings, n_claims: int) -> str:
    p = settings.profile
    level = "" if outcome_alpha == p.alpha else \
        f" [outcome judged at alpha/m = {outcome_alpha:.4g}, {p.multiplicity}, m={n_claims}: {out_ev.verdict}]"
    return f"{claim.sentence} -> {ev.summary()}{level}"
