"""Margins of the equivalence and "at most" claims come from the paper's tables, declared in
harness/declare/profiles.py before any data (issue 21 item 5): each is re-derived here from
fixtures/published_results.csv, so a typed number cannot drift from its stated reason, and
the claims read them from the profile instead of writing their own."""
import csv
import importlib.util
import math
from pathlib import Path

import pytest

from harness.declare import profiles

REPO = Path(__file__).resolve().parent.parent
ROWS = list(csv.DictReader((REPO / "fixtures" / "published_results.csv").open()))


def _q5(norm, batch):
    (r,) = [r for r in ROWS if r["question"] == "Q5" and r["table"] == "results"
            and r["kind"] == "summary" and r["norm"] == norm and int(r["batch_size"]) == batch]
    return float(r["mean"])


def _q6_cnn(order):
    (r,) = [r for r in ROWS if r["question"] == "Q6" and r["table"] == "experiment1"
            and r["arch"] == "cnn" and r["kind"] == "summary" and r["order"] == order]
    return float(r["mean"])


def _claims_module(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "claims" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(profiles.PROFILES))
def test_margins_are_a_quarter_of_the_paired_effect_in_the_paper(name):
    p = profiles.PROFILES[name]
    bn_penalty = _q5("batch", 16) - _q5("batch", 2)
    assert p.q5_gn_consistency_margin == pytest.approx(bn_penalty / 4, abs=0.005)
    act_first_gain = _q6_cnn("conv-relu-norm") - _q6_cnn("conv-norm-relu")
    assert p.q6_mlp_order_margin == pytest.approx(act_first_gain / 4, abs=0.005)
    assert p.q5_bn_advantage_margin == 3.0  # the sentence's own number


def test_bn_leads_set_is_the_papers():
    q5 = _claims_module("test_q5_normalization_batch")
    sizes = sorted({int(r["batch_size"]) for r in ROWS if r["question"] == "Q5" and r["table"] == "results"})
    assert q5.BN_LEADS_IN_PAPER == tuple(b for b in sizes if _q5("batch", b) > _q5("group", b))
    for p in profiles.PROFILES.values():  # every profile judges the claim at >= 1 batch size
        assert any(b in q5.BN_LEADS_IN_PAPER for b in p.sizes["Q5"]["batch_size"]), p


def test_claims_take_margins_from_the_profile():
    for f in ("test_q5_normalization_batch.py", "test_q6_order.py"):
        text = (REPO / "claims" / f).read_text()
        assert "equivalence_margin" not in text
        assert "margin=p." in text and "margin=-3" not in text and "margin=2" not in text
