"""harness.multiplicity: adjusted p-values and the per-claim level of the pytest outcome."""
import numpy as np
import pytest
from scipy import stats

from harness import multiplicity as mu

P = [0.01, 0.04, None, 0.03, 0.2, 0.001]


def _holm_by_hand(ps):
    ps = np.asarray(ps)
    m = len(ps)
    order = np.argsort(ps)
    out, running = np.empty(m), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        out[i] = running
    return out


def test_adjust_matches_definitions_and_passes_none():
    known = [p for p in P if p is not None]
    holm = mu.adjust(P, "holm")
    assert holm[2] is None
    assert np.allclose([q for q in holm if q is not None], _holm_by_hand(known))
    bh = mu.adjust(P, "bh")
    assert np.allclose([q for q in bh if q is not None], stats.false_discovery_control(known))
    bonf = mu.adjust(P, "bonferroni")
    assert np.allclose([q for q in bonf if q is not None], np.minimum(1, 5 * np.array(known)))
    assert mu.adjust(P, "none") == P
    assert mu.adjust([None], "holm") == [None]


def test_per_claim_level_is_first_step_of_holm_and_bh():
    """A claim with p < alpha/m is rejected by Holm and BH whatever the other p's are."""
    alpha, m = 0.05, 17
    lvl = mu.per_claim_alpha("holm", alpha, m)
    assert lvl == pytest.approx(alpha / m)
    assert mu.per_claim_alpha("none", alpha, m) == alpha
    rng = np.random.default_rng(1)
    for _ in range(200):
        ps = rng.uniform(0, 1, m) ** 3
        ps[0] = lvl * 0.999
        assert mu.adjust(list(ps), "holm")[0] < alpha
        assert mu.adjust(list(ps), "bh")[0] < alpha


def test_adjusted_verdict_and_bad_rule():
    assert mu.adjusted_verdict("supported", 0.01, None, 0.05) == "supported"
    assert mu.adjusted_verdict("supported", 0.2, None, 0.05) == "inconclusive"
    assert mu.adjusted_verdict("refuted", 0.9, 0.01, 0.05) == "refuted"
    assert mu.adjusted_verdict("refuted", 0.9, 0.3, 0.05) == "inconclusive"
    assert mu.adjusted_verdict("untestable", None, None, 0.05) == "untestable"
    with pytest.raises(ValueError, match="valid: holm"):
        mu.adjust([0.1], "sidak")


def test_profile_declares_holm_by_default():
    from harness.profiles import PROFILES

    assert all(p.multiplicity in mu.RULES for p in PROFILES.values())
    assert PROFILES["smoke"].multiplicity == "holm"
