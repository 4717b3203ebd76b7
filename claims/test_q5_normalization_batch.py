"""Q5: BatchNorm vs GroupNorm over batch size (the Q5 net: bare stem conv, 4 blocks
conv->norm->ReLU; GroupNorm with 4 groups). Metric: best test accuracy over the epochs.

Levels fixed in advance from the paper's table, never picked on our data: the smallest batch
(the smallest of the profile's batch sizes: 2) and BatchNorm's peak (the declared size
``peak_batch``: 16); GroupNorm's best in the paper's table is its batch-2 mean. Both are
resolved from values, never from a position in the profile's list.
"""
import pytest

from harness.declare.questions import size, smallest
from harness.runstore.runs import question_arm
from harness.statistics import stats


# At smoke scale (1,000 images, 4 epochs) no configuration is trained far: the batch-2 runs
# take 8x the steps of the batch-16 ones in the same epochs and come out AHEAD (BN 45.9 vs
# 41.7%; GN 44.9 vs 32.1%), the opposite of the paper's converged regime. Showing BatchNorm's
# small-batch penalty needs the full protocol (10 epochs of 50,000 images).
SMOKE_Q5 = pytest.mark.not_at_smoke_scale(reason=(
    "Q5 needs trained-to-convergence runs; at smoke scale batch 2 leads because it takes 8x "
    "the steps (BN best 45.9% at b2 vs 41.7% at b16, GN 44.9% vs 32.1%; n=5)"))
METRIC = "best_test_acc"
# issue 9: BN's peak batch (16) and GN's best (2) are argmaxes of the paper's own table; fine
# for fresh runs, biased when these claims are judged on that table (the report marks them).
FROM_PAPER_TABLE = pytest.mark.levels_from_paper_table(
    reason="BN's peak batch 16 and GN's best batch 2 are argmaxes of the paper's table")


def at(runs, p, norm, batch):
    return question_arm(runs, p, "Q5", METRIC, norm=norm, batch_size=batch)


def over_batches(runs, p, norm):
    return [at(runs, p, norm, b) for b in sorted(p.sizes["Q5"]["batch_size"])]


def small(p):
    return smallest("Q5", p, "batch_size")


def peak(p):
    return size("Q5", p, "peak_batch")


@SMOKE_Q5
@FROM_PAPER_TABLE
@pytest.mark.claim(id="q5-bn-small-batch-worse", question="Q5",
                   sentence="BatchNorm at the smallest batch is below BatchNorm at its peak batch (16).")
def test_batchnorm_small_batch_below_peak(judge):
    judge(lambda runs, p: stats.mean_greater(at(runs, p, "batch", peak(p)),
                                             at(runs, p, "batch", small(p)), alpha=p.alpha))


@SMOKE_Q5
@pytest.mark.claim(id="q5-gn-beats-bn-small-batch", question="Q5",
                   sentence="GroupNorm beats BatchNorm at the smallest batch size.")
def test_groupnorm_beats_batchnorm_at_small_batch(judge):
    judge(lambda runs, p: stats.mean_greater(at(runs, p, "group", small(p)),
                                             at(runs, p, "batch", small(p)), alpha=p.alpha))


@SMOKE_Q5
@FROM_PAPER_TABLE
@pytest.mark.claim(id="q5-gn-consistent", question="Q5",
                   sentence="GroupNorm is consistent across batch sizes: its per-batch-size means "
                            "spread less than BatchNorm's, and GN at the smallest batch equals GN at 16.")
def test_groupnorm_consistent_across_batch_sizes(judge):
    judge(lambda runs, p: stats.all_of([
        stats.spread_greater(over_batches(runs, p, "batch"), over_batches(runs, p, "group"),
                             alpha=p.alpha),
        # margin: a quarter of BN's small-batch penalty in the paper (harness/declare/profiles.py)
        stats.equivalent(at(runs, p, "group", small(p)), at(runs, p, "group", peak(p)),
                         margin=p.q5_gn_consistency_margin, alpha=p.alpha),
    ]))


@SMOKE_Q5
@pytest.mark.claim(id="q5-gn-lower-run-to-run-sd", question="Q5",
                   sentence="GroupNorm's run-to-run standard deviation is lower than BatchNorm's.")
def test_groupnorm_lower_run_to_run_sd(judge):
    # Pooled within-configuration variance over all batch sizes, not the spread of the means
    # (the paper's "1.55 vs 3.54" was the latter: see EXPERIMENTS.md).
    judge(lambda runs, p: stats.variance_greater(over_batches(runs, p, "batch"),
                                                 over_batches(runs, p, "group"), alpha=p.alpha))


@SMOKE_Q5
@FROM_PAPER_TABLE
@pytest.mark.claim(id="q5-bn-best-beats-gn-best", question="Q5",
                   sentence="BatchNorm at its best batch size beats GroupNorm at its best.")
def test_batchnorm_best_beats_groupnorm_best(judge):
    # The best levels are the paper's argmaxes (BN: 16, GN: 2), fixed before any data.
    judge(lambda runs, p: stats.mean_greater(at(runs, p, "batch", peak(p)),
                                             at(runs, p, "group", small(p)), alpha=p.alpha))


#: The batch sizes where BatchNorm's mean beats GroupNorm's in the paper's table (Table 3:
#: every size but 2, where GN leads 71.97 vs 67.83), declared from the paper, never from our
#: runs; tests/test_margins.py re-derives it from fixtures/published_results.csv.
BN_LEADS_IN_PAPER = (4, 8, 16, 32, 64, 128)


@pytest.mark.refuted_by_paper(reason=(
    "the paper's own table refutes it: at batch 16 BN 77.79 +- 0.54 vs GN 71.49 +- 0.54 "
    "(a 6.30-point gap; 5.83 at batch 8, 5.19 at 128), n=5 each"))
@FROM_PAPER_TABLE
@pytest.mark.claim(id="q5-bn-advantage-at-most-3", question="Q5",
                   sentence="Where BatchNorm beats GroupNorm, it does so by no more than 3 points.")
def test_batchnorm_advantage_at_most_three_points(judge):
    # "Where BN beats GN" = every batch size of the profile at which BN leads in the paper:
    # an intersection-union of H1 GN - BN > -3 (BN's advantage below 3 points) at each.
    def rule(runs, p):
        sizes = [b for b in sorted(p.sizes["Q5"]["batch_size"]) if b in BN_LEADS_IN_PAPER]
        return stats.all_of(
            [stats.mean_greater(at(runs, p, "group", b), at(runs, p, "batch", b),
                                margin=-p.q5_bn_advantage_margin, alpha=p.alpha) for b in sizes],
            test_name="intersection-union of Welch t with margin, one per batch size where BN "
                      "leads in the paper")
    judge(rule)
