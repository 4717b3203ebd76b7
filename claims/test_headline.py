"""The paper's headline: best accuracy 80%+ with this custom CNN on CIFAR-10."""
import pytest

from harness.runstore.runs import MissingArm, question_arm
from harness.statistics import stats


@pytest.mark.claim(id="headline-80-percent", question="headline",
                   sentence="The 8-block ReLU network reaches 80% best-epoch test accuracy on CIFAR-10.")
def test_eight_block_relu_reaches_80_percent(judge):
    def claim(runs, p):
        if not (runs["dataset"] == "cifar10").any():
            raise MissingArm("defined for CIFAR-10 only (this source has no CIFAR-10 runs)")
        # the Q4 net at 8 blocks, whatever depths the profile's Q4 grid has
        net = question_arm(runs, p, "Q4", "best_test_acc", activation="relu", depth=8)
        return stats.mean_above(net, p.headline_accuracy, alpha=p.alpha)
    judge(claim)
