"""One claim judged: what the ``judge`` fixture does, apart from pytest.

A claim is a function ``fn(runs, profile) -> Evidence``. :func:`judge_claim` evaluates it
once on this session's runs (once per stage with ``--seeds auto``), once on the paper's table
(for the report's side-by-side column) and once under the held-out-epoch metric (issue 9).
Every verdict at every level comes from that evaluation's p and refutation p
(``multiplicity.verdict_at``): the unadjusted one at the profile's alpha, the pytest outcome
and the held-out check at the first step of the declared multiplicity rule (alpha / m), so no
two levels can disagree. It returns the :class:`Judgment` the report and the JUnit properties
are made from; the plugin only turns it into pass, fail or skip.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable, Sequence

from scipy import stats as _st

from harness.declare.profiles import PAPER_PROFILE
from harness.declare.questions import body_of, runs_of
from harness.statistics import seeds_needed, stats


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
    from harness.runstore.runs import MissingArm

    try:
        return fn(runs, profile)
    except MissingArm as exc:
        return stats.Evidence(verdict=stats.UNTESTABLE, test="none", effect=None, effect_label="",
                              ci=None, ci_level=0.95, p=None, n=(), alpha=profile.alpha,
                              note=str(exc))


def interval_at(ev: dict, confidence: float) -> list[float] | None:
    """``ev``'s confidence interval (an Evidence.to_dict()) at another two-sided ``confidence``,
    where the interval is a t interval: symmetric about the effect, on its scale or its log's
    (an SD ratio), with its degrees of freedom in details (``df``; a trend's ``contrast_df``).
    all_of: its binding part's. None where the interval is of another kind (the spread
    test's bootstrap-t interval, Kendall's tau alone) or missing."""
    details = ev.get("details") or {}
    parts = details.get("parts")
    if parts:
        return interval_at(parts[details.get("binding_part") or 0], confidence)
    ci, eff, level = ev.get("ci"), ev.get("effect"), ev.get("ci_level")
    df = details.get("df", details.get("contrast_df"))
    if not ci or None in (ci[0], ci[1], eff, level, df) or not df > 0 \
            or not all(math.isfinite(x) for x in (ci[0], ci[1], eff)):
        return None
    widen = float(_st.t.ppf((1 + confidence) / 2, df) / _st.t.ppf((1 + level) / 2, df))
    lo, hi = ci
    if math.isclose((lo + hi) / 2, eff, rel_tol=1e-9, abs_tol=1e-12):
        return [eff - widen * (eff - lo), eff + widen * (hi - eff)]
    if lo > 0 and eff > 0 and math.isclose(math.log(lo) + math.log(hi), 2 * math.log(eff),
                                            rel_tol=1e-9, abs_tol=1e-12):
        return [eff * (lo / eff) ** widen, eff * (hi / eff) ** widen]
    return None


@dataclass(frozen=True)
class Judgment:
    """One claim judged, every number from one evaluation per stage: ``evidence`` at the
    profile's alpha (p is the sequential p under ``--seeds auto``), the outcome's verdict at
    ``outcome_alpha`` (the first step of the multiplicity rule) and ``decision_level``, the
    one-sided level the deciding stage's p was compared with (outcome_alpha with fixed seeds;
    the stopping stage's share of it under auto), at which the decision-level CI is shown."""

    evidence: stats.Evidence
    outcome_alpha: float
    outcome_verdict: str
    decision_level: float
    result: dict


def judge_claim(fn: Callable, claim: ClaimMark, settings, runs_for: Callable, family: Sequence[str],
                grow: Callable | None = None) -> Judgment:
    """Judge one claim. ``runs_for(question)`` gives the source's runs; ``family`` the claim
    ids the multiplicity rule counts (its m); ``grow(specs)`` trains more seeds (only with
    ``--seeds auto``)."""
    from harness.runstore.runs import published_runs
    from harness.statistics import epoch_check, multiplicity

    s = settings
    n_claims = max(len(family), 1)
    question = runs_of(claim.question)
    runs = runs_for(question)
    # issue 21: the outcome is judged at the per-claim level of the declared multiplicity rule
    # (alpha/m, m = the declared body of claims; harness/statistics/multiplicity.py), and so is every
    # stage of --seeds auto, the held-out check and the decision-level CI
    outcome_alpha = multiplicity.per_claim_alpha(s.profile.multiplicity, s.profile.alpha, n_claims)
    seq = None
    if s.seed_design is not None:  # --seeds auto: stages until decided (harness/statistics/sequential.py)
        from harness.declare import grids
        from harness.statistics import sequential

        design = dataclasses.replace(s.seed_design, alpha=outcome_alpha)
        done = sequential.judge_sequentially(
            lambda r, p: evaluate(fn, r, p), s.profile, design, runs,
            grids.grid(question, s.profile, s.dataset, s.seeds), grow)
        ev, runs, seq, stage_runs = done.evidence, done.runs, done.record, done.stage_runs
        decision_level = design.levels[seq["stage"] - 1]

        def judge_stages(tables):
            return sequential.combine([evaluate(fn, t, s.profile) for t in tables], design)
    else:
        ev = evaluate(fn, runs, s.profile)
        stage_runs, decision_level = [runs], outcome_alpha

        def judge_stages(tables):
            return evaluate(fn, tables[0], s.profile)
    outcome_verdict = multiplicity.verdict_at(ev.verdict, ev.p, ev.details.get("p_refuted"), outcome_alpha)
    paper_ev = ev if s.source == "paper" else \
        evaluate(fn, published_runs(), PAPER_PROFILE.replace(alpha=s.profile.alpha))
    heldout = epoch_check.rejudge(judge_stages, stage_runs, ev, outcome_alpha)
    confidence = 1 - 2 * decision_level
    evd = ev.to_dict()
    result = {
        "id": claim.id, "question": claim.question, "sentence": claim.sentence,
        "nodeid": claim.nodeid, "evidence": evd, "paper_evidence": paper_ev.to_dict(),
        "run_keys": sorted(set(runs["key"].dropna())) if "key" in runs else [],
        "smoke_unshowable": claim.smoke_unshowable,
        "profile": s.profile.name, "dataset": s.dataset if s.source == "fresh" else s.source,
        "multiplicity": s.profile.multiplicity, "claims_m": n_claims, "family": list(family),
        "body": body_of(claim.question),
        "outcome_alpha": outcome_alpha, "outcome_verdict": outcome_verdict,
        "decision_ci": {"level": confidence, "ci": interval_at(evd, confidence)},
        "heldout": heldout, "levels_from_paper_table": claim.levels_from_paper,
    }
    # issue 24: is any arm the claim compares still climbing at its last epoch; and, for an
    # undecided outcome, what deciding it would take (at the outcome's own level)
    result["convergence"] = arm_convergence(ev, runs, question, s.profile)
    if outcome_verdict == stats.INCONCLUSIVE and ev.n:
        at_level = ev if outcome_alpha == s.profile.alpha else \
            evaluate(fn, runs, s.profile.replace(alpha=outcome_alpha))
        plan = seeds_needed.by_mde(at_level.to_dict(), min(ev.n))
        result["seeds_needed"] = plan.to_dict() if plan is not None else None
    if seq is not None:
        result["sequential"] = seq
    return Judgment(ev, outcome_alpha, outcome_verdict, decision_level, result)


def _arm_labels(ev: dict) -> list[str]:
    """The labels of every arm an Evidence.to_dict() compares, an intersection's parts included
    (a label's " [...]" note about missing metrics left off)."""
    parts = (ev.get("details") or {}).get("parts") or []
    labels = [str(a.get("label", "")).split(" [", 1)[0] for a in ev.get("arms") or []]
    return list(dict.fromkeys(labels + [lb for p in parts for lb in _arm_labels(p)]))


def arm_convergence(ev: stats.Evidence, runs, question: str, profile) -> dict | None:
    """{"arms": {label: harness.statistics.convergence diagnostic}, "still_improving": [labels]} for the
    arms ``ev`` compares whose runs carry per-epoch curves; None where none do (the paper's
    table)."""
    from harness.declare import questions
    from harness.runstore.runs import select
    from harness.statistics import convergence

    try:
        where = {c.label: c.where() for c in questions.cells(question, profile)}
    except ValueError:  # a profile without this question's sizes
        return None
    out = {}
    for label in _arm_labels(ev.to_dict()):
        if label not in where or "test_acc" not in runs:
            continue
        rows = select(runs, **where[label])
        curves = [c for c in rows["test_acc"] if isinstance(c, (list, tuple)) and c]
        if curves:
            out[label] = convergence.configuration(curves).to_dict()
    if not out:
        return None
    return {"arms": out, "still_improving": [lb for lb, c in out.items()
                                             if c["status"] == convergence.STILL_IMPROVING]}


def failure_message(claim: ClaimMark, j: Judgment, settings, n_claims: int) -> str:
    p = settings.profile
    level = "" if j.outcome_alpha == p.alpha else \
        f" [outcome judged at alpha/m = {j.outcome_alpha:.4g}, {p.multiplicity}, m={n_claims}: {j.outcome_verdict}]"
    conv = j.result.get("convergence") or {}
    budget = f" [budget-confounded: still improving at the last epoch: " \
             f"{', '.join(conv['still_improving'])}]" if conv.get("still_improving") else ""
    plan = j.result.get("seeds_needed")
    take = f" [what it would take: {seeds_needed.describe(plan)}]" if plan else ""
    return f"{claim.sentence} -> {j.evidence.summary()}{level}{budget}{take}"
