"""Multiplicity: the error rate that the pytest outcome controls across a session's claims.

The profile declares the rule (``Profile.multiplicity``) before any data is seen:

* ``"holm"`` (default): family-wise error rate alpha (Holm 1979), adjusted p in the report;
* ``"bonferroni"``: family-wise error rate alpha, adjusted p = min(1, m p);
* ``"bh"``: false-discovery rate alpha (Benjamini-Hochberg), adjusted p in the report;
* ``"none"``: every claim at alpha on its own (the unadjusted verdict decides).

A family is one declared body of claims (one paper's findings: the claims whose questions
are declared in one ``claims/questions_*.py``, ``harness.declare.questions.body_of``): every claim id
of that body in the claim files the session collects from (:func:`declared_claims`), whatever
``-k`` or a node id selects. So m is fixed before any data, one claim run alone is judged
exactly as in the full run, an untestable claim (no p) still counts (a hypothesis that was
declared and not rejected), and adding a second paper's claims changes nothing for the first
paper's: each body's error rate is controlled on its own.

Why the pytest outcome uses alpha / m: claims run as separate tests, possibly on separate
xdist workers, so the p-values of the other claims are not known when a test must pass or
fail. m IS known at collection time, and alpha / m is the first (strictest) step of Holm's and
of BH's procedures: every claim with p < alpha / m is rejected by Bonferroni, Holm and BH
alike. So a passing test is a claim supported under the declared rule, whatever the other
claims' p turn out to be. The step-down (Holm) or step-up (BH) procedure can support more
claims once every p is known: the report shows that session-end verdict beside the
unadjusted one. Claims of the family that were not run (``-k``) or have no p count as p = 1,
which can only make the session-end verdicts of the others stricter (never looser) than
the full run's.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from scipy import stats as _st

RULES = ("holm", "bonferroni", "bh", "none")
#: what each rule controls, for the report
CONTROLS = {"holm": "family-wise error rate (Holm)", "bonferroni": "family-wise error rate (Bonferroni)",
            "bh": "false-discovery rate (Benjamini-Hochberg)", "none": "nothing across claims (each at alpha)"}


def check_rule(rule: str) -> str:
    if rule not in RULES:
        raise ValueError(f"unknown multiplicity rule {rule!r}; valid: {', '.join(RULES)}")
    return rule


def per_claim_alpha(rule: str, alpha: float, m: int) -> float:
    """The level each claim's test is judged at for its pytest outcome (see module doc)."""
    check_rule(rule)
    if rule == "none" or m <= 1:
        return alpha
    return alpha / m


def verdict_at(verdict: str | None, p: float | None, p_refuted: float | None, level: float) -> str | None:
    """A claim's verdict at ``level`` from its p and refutation p (every family's rule:
    supported iff p < level, refuted iff p_refuted < level; tests/test_multiplicity.py checks
    it against each family's own verdict). Untestable (and a missing verdict) stays."""
    if verdict is None or verdict == "untestable":
        return verdict
    if p is not None and p < level:
        return "supported"
    if p_refuted is not None and p_refuted < level:
        return "refuted"
    return "inconclusive"


def adjust(pvalues: Sequence[float | None], rule: str, m: int | None = None) -> list[float | None]:
    """Adjusted p-values under ``rule`` over a family of ``m`` hypotheses (default: one per
    entry). None entries (no p, e.g. untestable) and the ``m - len(pvalues)`` hypotheses not
    listed (claims of the family not run) count as p = 1; None entries stay None."""
    check_rule(rule)
    m = len(pvalues) if m is None else int(m)
    if m < len(pvalues):
        raise ValueError(f"a family of m={m} hypotheses cannot hold {len(pvalues)} p-values")
    idx = [i for i, p in enumerate(pvalues) if p is not None]
    out: list[float | None] = [None] * len(pvalues)
    if not idx:
        return out
    p = np.concatenate([[float(pvalues[i]) for i in idx], np.ones(m - len(idx))])
    if rule == "none":
        adj = p
    elif rule == "bonferroni":
        adj = np.minimum(1.0, m * p)
    elif rule == "bh":
        adj = np.atleast_1d(_st.false_discovery_control(p, method="bh"))
    else:  # holm: step-down, monotone
        order = np.argsort(p, kind="stable")
        steps = np.maximum.accumulate((m - np.arange(m)) * p[order])
        adj = np.empty(m)
        adj[order] = np.minimum(1.0, steps)
    for i, q in zip(idx, adj[:len(idx)]):
        out[i] = float(q)
    return out


def adjusted_verdict(verdict: str | None, p_adj: float | None, p_refuted_adj: float | None,
                     alpha: float) -> str | None:
    """The session-end verdict under the rule: supported needs the adjusted p below alpha,
    refuted the adjusted refutation p (the same rule applied to the claims' p_refuted);
    otherwise a supported/refuted verdict becomes inconclusive. Untestable stays."""
    if verdict == "supported":
        return verdict if p_adj is not None and p_adj < alpha else "inconclusive"
    if verdict == "refuted":
        return verdict if p_refuted_adj is not None and p_refuted_adj < alpha else "inconclusive"
    return verdict


def declared_claims(files: Iterable[Path]) -> dict[str, str]:
    """The claims declared in ``files``: claim id -> its ``question=`` (its report section: a
    literal, or a module-level string constant it names; "" otherwise), read from the source (every ``@pytest.mark.claim(id="...")``), so it
    does not depend on what is collected or selected. A parametrized claim counts once here;
    the plugin adds its collected variants."""
    found: dict[str, str] = {}
    for path in sorted(Path(f) for f in files):
        tree = ast.parse(path.read_text(), filename=str(path))
        # module-level string constants (``LR = "bn2015-lr"``): a marker may name its question so
        names = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                 and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
                 for t in n.targets if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            for dec in node.decorator_list:
                if isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute) \
                        and dec.func.attr == "claim":
                    kws = {kw.arg: kw.value for kw in dec.keywords}
                    if isinstance(kws.get("id"), ast.Constant):
                        q = kws.get("question")
                        found[str(kws["id"].value)] = str(q.value) if isinstance(q, ast.Constant) \
                            else names.get(q.id, "") if isinstance(q, ast.Name) else ""
    return found


def families(declared: dict[str, str], collected: dict[str, str]) -> dict[str, list[str]]:
    """Body -> its family (:func:`family`), from claim id -> body for the declared claims and
    for the collected ones (a collected parametrized variant ``id[param]`` included)."""
    bodies = set(declared.values()) | set(collected.values())
    return {b: family([c for c, cb in declared.items() if cb == b],
                      [c for c, cb in collected.items() if cb == b]) for b in sorted(bodies)}


def family(declared: Iterable[str], collected: Iterable[str]) -> list[str]:
    """The claims the multiplicity rule counts: the declared ones, with a parametrized claim
    (collected as ``id[param]``) counted once per collected variant instead of once."""
    collected = set(collected)
    variants = {c.split("[", 1)[0] for c in collected if "[" in c}
    return sorted({d for d in declared if d not in variants} | collected)
