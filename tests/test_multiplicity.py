"""harness.statistics.multiplicity: adjusted p-values and the per-claim level of the pytest outcome."""
import numpy as np
import pytest
from scipy import stats

from harness.statistics import multiplicity as mu

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


def test_adjust_matches_definitions_and_counts_none_as_a_hypothesis():
    """An untestable claim (None) is a declared hypothesis never rejected: it counts in m as
    p = 1 (issue 21: Holm used m = 16 where the report said 17), and stays None."""
    as_one = [1.0 if p is None else p for p in P]
    holm = mu.adjust(P, "holm")
    assert holm[2] is None
    assert np.allclose([q for q in holm if q is not None],
                       [q for p, q in zip(P, _holm_by_hand(as_one)) if p is not None])
    bh = mu.adjust(P, "bh")
    assert np.allclose([q for q in bh if q is not None],
                       [q for p, q in zip(P, stats.false_discovery_control(as_one)) if p is not None])
    bonf = mu.adjust(P, "bonferroni")
    assert np.allclose([q for q in bonf if q is not None],
                       np.minimum(1, 6 * np.array([p for p in P if p is not None])))
    assert mu.adjust(P, "none") == P
    assert mu.adjust([None], "holm") == [None]


def test_a_family_larger_than_the_claims_run_adjusts_as_if_the_rest_had_p_one():
    """-k runs a subset of the declared family: the claims not run count as p = 1."""
    ps = [0.001, 0.02]
    assert mu.adjust(ps, "holm", 17) == pytest.approx(_holm_by_hand(ps + [1.0] * 15)[:2])
    assert mu.adjust(ps, "bonferroni", 17) == pytest.approx([0.017, 0.34])
    with pytest.raises(ValueError, match="cannot hold 2"):
        mu.adjust(ps, "holm", 1)


def test_session_end_holm_uses_the_declared_m_and_counts_an_untestable_claim():
    from types import SimpleNamespace

    from harness.pytest_plugin.session import ClaimsSession

    settings = SimpleNamespace(profile=SimpleNamespace(multiplicity="holm", alpha=0.05))
    results = [{"id": f"c{i}", "body": "seed", "evidence": {"verdict": "supported", "p": 0.0028,
                                                             "details": {}}} for i in range(2)]
    results.append({"id": "c2", "body": "seed", "evidence": {"verdict": "untestable", "p": None,
                                                             "details": {}}})
    # a second body's claim with the same p: its own family of 4 (0.0028 * 4 = 0.0112)
    results.append({"id": "d0", "body": "other", "evidence": {"verdict": "supported", "p": 0.0028,
                                                              "details": {}}})
    s = ClaimsSession(settings, families={"seed": [f"c{i}" for i in range(17)],
                                          "other": [f"d{i}" for i in range(4)]}, results=results)
    s.finish()
    by_id = {r["id"]: r for r in s.results}
    # m = 17: 0.0028 * 17 = 0.0476 < 0.05; with m = 2 known p's it would be 0.0056
    assert [by_id[c]["p_adjusted"] for c in ("c0", "c1")] == pytest.approx([0.0476, 0.0476])
    assert by_id["c2"]["p_adjusted"] is None and s.m_of("seed") == 17
    assert by_id["d0"]["p_adjusted"] == pytest.approx(0.0112) and s.m_of("other") == 4


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
    from harness.declare.profiles import PROFILES

    assert all(p.multiplicity in mu.RULES for p in PROFILES.values())
    assert PROFILES["smoke"].multiplicity == "holm"


@pytest.mark.parametrize("level", [0.05, 0.01, 0.05 / 17])
def test_verdict_at_reproduces_every_familys_own_verdict(level):
    """verdict_at (the outcome, Holm, the held-out check and --seeds auto read verdicts at other
    levels through it) must agree with each family's own rule at that level."""
    from harness.statistics import stats as st

    rng = np.random.default_rng(3)

    def arm(name, loc, sd=1.0, n=6):
        return st.Arm.from_values(name, rng.normal(loc, sd, n))

    seen = set()
    for shift in (-6.0, -1.5, 0.0, 1.5, 6.0):
        evs = [st.mean_greater(arm("a", shift), arm("b", 0), alpha=level),
               st.mean_above(arm("a", shift), 0.0, alpha=level),
               st.trend([1, 2, 4, 8], [arm(f"l{j}", shift * j) for j in range(4)],
                        direction="increasing", alpha=level),
               st.variance_greater(arm("a", 0, 2.0 ** shift), arm("b", 0), alpha=level),
               st.equivalent(arm("a", shift / 3), arm("b", 0), margin=1.0, alpha=level),
               st.diff_of_diffs(arm("a", shift), arm("b", 0), arm("c", 0), arm("d", 0), alpha=level),
               st.spread_greater([arm(f"a{j}", shift * j) for j in range(3)],
                                 [arm(f"b{j}", -shift * j / 2) for j in range(3)], alpha=level)]
        evs.append(st.all_of(evs[:2]))
        for ev in evs:
            assert mu.verdict_at(ev.verdict, ev.p, ev.details.get("p_refuted"), level) == ev.verdict, ev
            seen.add(ev.verdict)
    assert {"supported", "refuted", "inconclusive"} <= seen


def test_the_declared_body_is_read_from_the_claim_files(tmp_path):
    """issue 21: the family is what the claim files declare, not what -k collects."""
    from pathlib import Path

    repo_claims = sorted((Path(__file__).resolve().parent.parent / "claims").glob("test_*.py"))
    declared = mu.declared_claims(repo_claims)
    assert declared["headline-80-percent"] == "headline" and declared["q5-gn-consistent"] == "Q5"
    from harness.declare.questions import body_of

    bodies = {}
    for cid, q in declared.items():
        bodies.setdefault(body_of(q), []).append(cid)
    # each paper's findings are a family of their own: the seed paper's 17, Ioffe & Szegedy's 4
    assert {b: len(c) for b, c in bodies.items()} == {"seed": 17, "bn2015": 4}
    f = tmp_path / "test_x.py"
    f.write_text("import pytest\n"
                 "@pytest.mark.claim(id='a', question='Q4', sentence='s')\n"
                 "def test_a(judge): pass\n"
                 "@pytest.mark.parametrize('k', [1, 2])\n"
                 "@pytest.mark.claim(id='b', question='Q4', sentence='s')\n"
                 "def test_b(judge, k): pass\n"
                 "X = 'pytest.mark.claim(id=\"not-a-claim\")'\n")
    assert mu.declared_claims([f]) == {"a": "Q4", "b": "Q4"}
    # a parametrized claim counts once per collected variant; one selected by -k keeps m
    assert mu.family(["a", "b"], ["b[1]", "b[2]"]) == ["a", "b[1]", "b[2]"]
    assert mu.family(["a", "b"], ["a"]) == ["a", "b"]
    assert mu.families({"a": "x", "b": "y"}, {"b[1]": "y"}) == {"x": ["a"], "y": ["b[1]"]}
