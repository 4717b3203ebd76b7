"""Q4: ReLU vs Sigmoid over depth (the Q4 net: stem conv+BN+act, N blocks conv->BN->act).

The paper's metric is the best test accuracy over the epochs; the report shows the final
epoch's too. Depth levels come from the profile (the paper's: 1, 2, 4, 6, 8), in ascending
order whatever order the profile lists them in: "deepest" is the largest depth, never the
list's last element.
"""
import pytest

from harness.declare.questions import ordered
from harness.runstore.runs import question_arm
from harness.statistics import stats


def depths(profile):
    return ordered("Q4", profile, "depth")


def depth_arms(runs, profile, activation, metric="best_test_acc"):
    """One arm per depth, shallowest first."""
    return [question_arm(runs, profile, "Q4", metric, activation=activation, depth=d)
            for d in depths(profile)]


def end_arms(runs, profile, activation, metric="best_test_acc"):
    """The shallowest and the deepest arm: all a contrast of the ends reads (so that
    ``--seeds auto`` adds seeds to those configurations only, not to the middle depths)."""
    ends = (depths(profile)[0], depths(profile)[-1])
    return [question_arm(runs, profile, "Q4", metric, activation=activation, depth=d) for d in ends]


@pytest.mark.not_at_smoke_scale(reason=(
    "ReLU rises 13.5 points from depth 1 to 8 (Kendall + contrast p=0.003, n=5 per depth), but "
    "the pytest outcome is judged at Holm's alpha/m = 0.05/17 = 0.0029, which 5 seeds of the "
    "smoke nets' 2-4-point noise just miss; the cpu profile shows it (p=1e-05)"))
@pytest.mark.claim(id="q4-relu-rises", question="Q4",
                   sentence="ReLU accuracy improves as blocks are added.")
def test_relu_accuracy_rises_with_depth(judge):
    judge(lambda runs, p: stats.trend(depths(p), depth_arms(runs, p, "relu"),
                                      direction="increasing", alpha=p.alpha))


@pytest.mark.not_at_smoke_scale(reason=(
    "on 14x14 images at 2 epochs Sigmoid still gains from depth (best 18.95, 24.54, 25.62, "
    "36.93% at depths 1/2/4/8); the paper's decline (42.43 -> 32.97 at depth 8) came from 10 "
    "epochs on 32x32 CIFAR-10, and its own single runs do not reach p < 0.05 (tau p=0.12)"))
@pytest.mark.claim(id="q4-sigmoid-falls", question="Q4",
                   sentence="Sigmoid accuracy declines as blocks are added.")
def test_sigmoid_accuracy_falls_with_depth(judge):
    judge(lambda runs, p: stats.trend(depths(p), depth_arms(runs, p, "sigmoid"),
                                      direction="decreasing", alpha=p.alpha))


@pytest.mark.not_at_smoke_scale(reason=(
    "ReLU - Sigmoid is 15.8 points at depth 1 and 11.3 at depth 8 (-4.5, 95% CI -14.5 to "
    "+5.4, n=5): at smoke scale the deep Sigmoid net has not collapsed yet"))
@pytest.mark.claim(id="q4-gap-widens", question="Q4",
                   sentence="At the deepest setting ReLU beats Sigmoid by more than at the shallowest.")
def test_relu_sigmoid_gap_widens_with_depth(judge):
    def claim(runs, p):
        relu, sig = end_arms(runs, p, "relu"), end_arms(runs, p, "sigmoid")
        # (ReLU - Sigmoid) at the deepest level minus the same at the shallowest (arms are
        # shallowest first: [-1] is the deepest).
        return stats.diff_of_diffs(relu[-1], sig[-1], relu[0], sig[0], alpha=p.alpha)
    judge(claim)


@pytest.mark.claim(id="q4-gradient-falls", question="Q4",
                   sentence="The mean gradient magnitude falls with depth, for ReLU and for Sigmoid.")
def test_gradient_metric_falls_with_depth(judge):
    # "for ReLU and for Sigmoid" is one claim about both (issue 9): an intersection whose parts
    # are the two trends; it was two parametrized verdicts.
    judge(lambda runs, p: stats.all_of([
        stats.trend(depths(p), depth_arms(runs, p, activation, "grad_metric"),
                    direction="decreasing", alpha=p.alpha) for activation in ("relu", "sigmoid")],
        test_name="intersection-union of the ReLU and Sigmoid trends"))


@pytest.mark.not_at_smoke_scale(reason=(
    "Sigmoid's gradient falls 0.25 more (log scale, 95% CI +0.10 to +0.40, p=0.005, n=5 per "
    "arm), but the outcome is judged at Holm's alpha/m = 0.0029 on Hsu's df (4 at 5 seeds, "
    "since 2026-12-04), which the smoke runs miss; with the Welch df they reached it"))
@pytest.mark.claim(id="q4-sigmoid-gradient-falls-more", question="Q4",
                   sentence="Sigmoid's gradient falls more with depth than ReLU's (relative reduction).")
def test_sigmoid_gradient_falls_more_than_relu(judge):
    def claim(runs, p):
        relu = end_arms(runs, p, "relu", "grad_metric")
        sig = end_arms(runs, p, "sigmoid", "grad_metric")
        # Relative reduction 1 - g_deep/g_shallow compares as a difference of log ratios:
        # log(gR_deep/gR_shallow) - log(gS_deep/gS_shallow) > 0 means Sigmoid fell more.
        return stats.diff_of_diffs(relu[-1], relu[0], sig[-1], sig[0], alpha=p.alpha, log=True)
    judge(claim)
