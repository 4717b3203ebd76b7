"""Q6: order of activation and BatchNorm, in the 8-block CNN and in the MLP (only its first
layer's order varies). Batch 128 in the paper; metric: the FINAL epoch's test accuracy.
The paper's cases: case1 BN->ReLU, case2 ReLU->BN, case3 LeakyReLU->BN.
"""
import pytest

from harness.declare import questions
from harness.runstore.runs import question_arm
from harness.statistics import stats

METRIC = "final_test_acc"
ORDERS = questions.get("Q6").level("order").values  # the paper's three, in its case order


def order(runs, p, arch, name):
    return question_arm(runs, p, "Q6", METRIC, order=name, arch=arch)


ACT_FIRST = ("relu-bn", "leakyrelu-bn")


# One sentence, one verdict (issue 9): "activation-before-BN" means both act-first orders, so
# the claim is the intersection of the two comparisons (each a part of the evidence); it was
# two parametrized verdicts sharing the BN->ReLU arm.
@pytest.mark.not_at_smoke_scale(reason=(
    "both activation-first orders lead BN->ReLU by 4.4-5.4 points, but the intersection's "
    "p=0.027 (n=5) is far above Holm's per-claim level 0.05/17 = 0.0029"))
@pytest.mark.claim(id="q6-cnn-act-first-beats-bn-first", question="Q6",
                   sentence="In the CNN, activation-before-BN (both ReLU->BN and LeakyReLU->BN) "
                            "beats BN-before-activation.")
def test_cnn_activation_first_beats_bn_first(judge):
    judge(lambda runs, p: stats.all_of([
        stats.mean_greater(order(runs, p, "cnn", act_first), order(runs, p, "cnn", "bn-relu"),
                           alpha=p.alpha) for act_first in ACT_FIRST],
        test_name="intersection-union of Welch t, Hsu df (one-sided), one per activation-first order"))


@pytest.mark.not_at_smoke_scale(reason=(
    "LeakyReLU->BN 68.50% vs ReLU->BN 69.43% final (n=5); the paper's own runs cannot "
    "separate them either (80.83 vs 80.71)"))
@pytest.mark.claim(id="q6-cnn-leakyrelu-bn-best", question="Q6",
                   sentence="In the CNN, LeakyReLU->BN is the best of the three orders.")
def test_cnn_leakyrelu_bn_is_best(judge):
    judge(lambda runs, p: stats.all_of([
        stats.mean_greater(order(runs, p, "cnn", "leakyrelu-bn"), order(runs, p, "cnn", other), alpha=p.alpha)
        for other in ("relu-bn", "bn-relu")]))


@pytest.mark.not_at_smoke_scale(reason=(
    "final-epoch sd: BN->ReLU 2.7, ReLU->BN 3.1, LeakyReLU->BN 3.4 (n=5); with 5 seeds an F "
    "test needs an SD ratio near 4 (docs/STATISTICS.md)"))
@pytest.mark.claim(id="q6-cnn-bn-first-varies-more", question="Q6",
                   sentence="In the CNN, BN->ReLU varies more from run to run than each "
                            "activation-first order (ReLU->BN and LeakyReLU->BN).")
def test_cnn_bn_first_varies_more(judge):
    # One verdict for the sentence (issue 9): the intersection over both act-first orders.
    judge(lambda runs, p: stats.all_of([
        stats.variance_greater([order(runs, p, "cnn", "bn-relu")], [order(runs, p, "cnn", act_first)],
                               alpha=p.alpha) for act_first in ACT_FIRST],
        test_name="intersection-union of Brown-Forsythe spread tests, one per activation-first order"))


@pytest.mark.not_at_smoke_scale(reason=(
    "the width-8 MLP (hidden 64/32/16) varies 1.5-2.6 points run to run (order means "
    "77.9-78.5%), so the 90% intervals (widest -2.3, +3.4) cannot fit a 1.34-point margin at n=5"))
@pytest.mark.claim(id="q6-mlp-orders-equivalent", question="Q6",
                   sentence="In the MLP the order makes almost no difference.")
def test_mlp_orders_equivalent(judge):
    # margin: a quarter of the CNN's activation-first gain in the paper (harness/declare/profiles.py)
    pairs = [("bn-relu", "relu-bn"), ("bn-relu", "leakyrelu-bn"), ("relu-bn", "leakyrelu-bn")]
    judge(lambda runs, p: stats.all_of([
        stats.equivalent(order(runs, p, "mlp", a), order(runs, p, "mlp", b),
                         margin=p.q6_mlp_order_margin, alpha=p.alpha) for a, b in pairs]))


@pytest.mark.not_at_smoke_scale(reason=(
    "CNN order means spread 2.86 points vs 0.34 in the MLP, but with 3-point run-to-run noise "
    "the noise-corrected spread difference reaches only p=0.065 at n=5"))
@pytest.mark.claim(id="q6-order-matters-more-in-cnn", question="Q6",
                   sentence="The order matters more in the CNN than in the MLP.")
def test_order_matters_more_in_cnn_than_mlp(judge):
    judge(lambda runs, p: stats.spread_greater([order(runs, p, "cnn", o) for o in ORDERS],
                                               [order(runs, p, "mlp", o) for o in ORDERS], alpha=p.alpha))
