"""What an undecided claim would take (harness/statistics/seeds_needed.py), on a real stats family."""
import numpy as np
from scipy import stats as st
import pandas as pd

from harness.statistics import stats
from harness.statistics.seeds_needed import by_mde, describe


def two_arms(diff, sd=1.0, n=5, seed=0):
    rng = np.random.default_rng(seed)
    rows = [{"norm": norm, "seed": s, "kind": "run", "n": 1,
             "best_test_acc": rng.normal(mu, sd)}
            for norm, mu in (("batch", 80.0), ("group", 80.0 + diff)) for s in range(n)]
    return pd.DataFrame(rows)


def _arm(runs, norm):
    return stats.Arm.from_values(norm, runs[runs["norm"] == norm]["best_test_acc"].tolist())


def claim(runs):
    return stats.mean_greater(_arm(runs, "group"), _arm(runs, "batch"), alpha=0.05)


# -- by_mde: the claim's own MDE, carried to more seeds as the futility rule carries it -------
def test_by_mde_for_a_location_effect_is_where_the_scaled_mde_meets_the_effect():
    runs = two_arms(0.8, n=5, seed=3)
    ev = claim(runs).to_dict()
    got = by_mde(ev, 5)
    # location MDEs shrink as 1/sqrt(n) and as their t quantiles fall with the df (Hsu's
    # min(n) - 1): the first n with mde * sqrt(5 / n) * q(n - 1) / q(4) <= effect
    q = lambda df: st.t.ppf(1 - ev["alpha"], df) + st.t.ppf(stats.MDE_POWER, df)  # noqa: E731
    want = next(n for n in range(5, 400)
                if ev["mde"] * (5 / n) ** 0.5 * q(n - 1) / q(4) <= ev["effect"])
    assert got.direction == "supported" and got.seeds == want


def test_by_mde_agrees_with_the_two_sample_normal_formula():
    for diff, seed in ((0.8, 3), (1.5, 6)):
        runs = two_arms(diff, n=5, seed=seed)
        ev = claim(runs).to_dict()
        sd = np.sqrt(runs.groupby("norm")["best_test_acc"].var().mean())
        theory = 2 * ((1.645 + 0.842) * sd / ev["effect"]) ** 2  # one-sided 0.05, 80% power
        got = by_mde(ev, 5).seeds
        assert 0.5 * theory <= got <= 2.0 * theory + 4, (diff, got, theory)


def test_by_mde_plans_a_refutation_for_an_effect_against_the_claim_and_caps():
    ev = claim(two_arms(-1.5, n=5, seed=4)).to_dict()
    assert by_mde(ev, 5).direction == "refuted"
    tiny = dict(ev, effect=-1e-6)
    assert by_mde(tiny, 5).seeds is None and "more than" in describe(by_mde(tiny, 5).to_dict())


def test_by_mde_on_an_intersection_needs_every_part_for_support():
    a = claim(two_arms(0.8, n=5, seed=3)).to_dict()
    b = claim(two_arms(2.0, n=5, seed=5)).to_dict()
    both = {"effect": 0.8, "mde": 1.0, "details": {"parts": [a, b]}}
    assert by_mde(both, 5).seeds == max(by_mde(a, 5).seeds, by_mde(b, 5).seeds)


def test_no_mde_no_plan_and_the_seeds_used_already_enough_says_so():
    assert by_mde({"effect": 1.0, "mde": None, "details": {}}, 5) is None
    assert by_mde({"effect": None, "mde": 1.0, "details": {}}, 5) is None
    line = describe({"direction": "supported", "seeds": 5, "seeds_used": 5, "target_power": 0.8})
    assert "already give 80% power" in line
