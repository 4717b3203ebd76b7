"""Multiplicity: the error rate that the pytest outcome controls across a session's claims.

The profile declares the rule (``Profile.multiplicity``) before any data is seen:

* ``"holm"`` (default): family-wise error rate alpha (Holm 1979), adjusted p in the report;
* ``"bonferroni"``: family-wise error rate alpha, adjusted p = min(1, m p);
* ``"bh"``: false-discovery rate alpha (Benjamini-Hochberg), adjusted p in the report;
* ``"none"``: every claim at alpha on its own (the unadjusted verdict decides).

Why the pytest outcome uses alpha / m: claims run as separate tests, possibly on separate
xdist workers, so the p-values of the other claims are not known when a test must pass or
fail. m, the number of claims collected in the session, IS known at collection time, and
alpha / m is the first (strictest) step of Holm's and of BH's procedures: every claim with
p < alpha / m is rejected by Bonferroni, Holm and BH alike. So a passing test is a claim
supported under the declared rule, whatever the other claims' p turn out to be. The
step-down (Holm) or step-up (BH) procedure can support more claims once every p is known:
the report shows that session-end verdict beside the unadjusted one, and marks claims it
supports although their test failed (outcome at alpha / m is then conservative).
"""
from __future__ import annotations

from typing import Sequence

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


def adjust(pvalues: Sequence[float | None], rule: str) -> list[float | None]:
    """Adjusted p-values under ``rule``; None entries pass through and do not count."""
    check_rule(rule)
    idx = [i for i, p in enumerate(pvalues) if p is not None]
    out: list[float | None] = [None] * len(pvalues)
    if not idx:
        return out
    p = np.array([float(pvalues[i]) for i in idx])
    m = len(p)
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
    for i, q in zip(idx, adj):
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
