"""One claim, judged on the ten runs in runs.csv (BatchNorm at batch 2 and at batch 16, five
seeds each, from docs/results/fashion-mnist-cpu of seed-claims)."""
import pytest

from harness.runstore.runs import question_arm
from harness.statistics import stats


def bn_best_accuracy(runs, profile, batch_size):
    """The best-epoch test accuracies of BatchNorm's arm at ``batch_size`` (the Q5 network)."""
    return question_arm(runs, profile, "Q5", "best_test_acc", norm="batch", batch_size=batch_size)


@pytest.mark.claim(id="bn-small-batch-worse", question="Q5",
                   sentence="BatchNorm at batch 2 is below BatchNorm at batch 16.")
def test_batchnorm_small_batch_below_batch_16(judge):
    judge(lambda runs, p: stats.mean_greater(bn_best_accuracy(runs, p, 16),
                                             bn_best_accuracy(runs, p, 2), alpha=p.alpha))
