"""Ioffe & Szegedy (2015), "Batch Normalization: Accelerating Deep Network Training by Reducing
Internal Covariate Shift" (ICML 2015, arXiv 1502.03167): its questions, declared. The claims
are claims/test_bn2015.py.

Section 4.1's network: 3 fully-connected hidden layers of 100 sigmoid units, weights from small
random Gaussians, a 10-way softmax, mini-batches of 60; with BatchNorm after each hidden
layer's linear map ("fc" in models.config, init "small-gaussian": N(0, 0.01^2), biases 0).
Here it is trained with this suite's protocol (Adam, test accuracy after every epoch) on the
profile's dataset (Fashion-MNIST; the paper used MNIST), for the declared epochs.

- bn2015-lr: that network, with and without BatchNorm, at the base learning rate and at a
  higher one (findings 1, 2 and 4 of shared/papers/ioffe-szegedy-2015.md);
- bn2015-deep: a deeper sigmoid stack of the same layers, with and without BatchNorm
  (finding 3: BN makes a saturating network trainable).

Sizes: smoke keeps bn2015's training under a minute on 2 cores; cpu was sized by pilots on
seeds >= 1000 (docs/pilots/bn2015-pilot-1, -2: docs/pilots/bn2015.md), then frozen before its
one confirmatory session (docs/results/bn2015-cpu).
"""
from harness.declare.questions import Level, Metric, Question

#: Accuracy (%) the steps-to-target metric waits for, fixed before the confirmatory session:
#: reached by the BN network within the smoke budget (best 77-81% there, seeds 0-4; 80% was
#: not reached by every seed, which left both arms censored at one value: untestable).
TARGET_ACC = 75.0


def steps_to_target(row) -> float | None:
    """Optimizer steps until the test accuracy first reaches ``TARGET_ACC`` (read from the
    per-epoch curve, so in whole epochs). A run that never reaches it counts one epoch past
    its budget: a lower bound on its true value, which can only understate a gap in BN's
    favour (conservative for the claim)."""
    curve, steps = row.get("test_acc"), row.get("steps")
    if not isinstance(curve, list) or not curve or steps is None or steps != steps:
        return None
    per_epoch = float(steps) / len(curve)
    for epoch, acc in enumerate(curve, start=1):
        if acc >= TARGET_ACC:
            return epoch * per_epoch
    return (len(curve) + 1) * per_epoch


#: The section 4.1 network's fixed fields (network and training).
MLP = {"arch": "fc", "depth": 3, "width": 100, "activation": "sigmoid", "block_order": "norm-act",
       "stem": "conv", "init": "small-gaussian", "batch_size": 60}

BN_LR = Question(
    name="bn2015-lr",
    title="Ioffe & Szegedy 2015: BatchNorm in the 3x100 sigmoid MLP, at two learning rates",
    base=MLP,
    levels=(Level("norm", ("none", "batch")), Level("lr")),
    metrics=("best_test_acc", "final_test_acc"),
    derived=(Metric("steps_to_target", steps_to_target,
                    f"optimizer steps until test accuracy first reaches {TARGET_ACC:g}%"),),
    # lr: the base rate (Adam's usual 1e-3) and 30 times it, the paper's largest multiplier
    # (BN-x30), fixed from the paper, not from our data.
    sizes={"smoke": {"lr": (0.001, 0.03), "epochs": 6},
           "tiny": {"lr": (0.001, 0.03), "epochs": 1},
           "cpu": {"lr": (0.001, 0.03), "epochs": 6},
           "cpu2": {"lr": (0.001, 0.03), "epochs": 6},
           "full": {"lr": (0.001, 0.03), "epochs": 20}},
    label=lambda lv: f"{'BN' if lv['norm'] == 'batch' else 'plain'} lr {lv['lr']:g}",
    table_intro="Arm means (mean ± sample sd over seeds) of the 3x100 sigmoid MLP; "
                f"steps_to_target: optimizer steps to {TARGET_ACC:g}% test accuracy (never "
                "reached: one epoch past the budget).",
)

BN_DEEP = Question(
    name="bn2015-deep",
    title="Ioffe & Szegedy 2015: BatchNorm makes a deep sigmoid network trainable",
    # PyTorch's default initialisation here: from N(0, 0.01^2) a deep sigmoid stack without BN
    # outputs one constant class (every seed exactly 10.0%, measured at depth 10), which the
    # suite treats as a broken arm (harness.runstore.divergence), not as a result.
    base=MLP | {"lr": 0.001, "init": "default"},
    levels=(Level("norm", ("none", "batch")),),
    metrics=("best_test_acc", "final_test_acc"),
    # depth: 8 sigmoid layers, from the cpu pilots on seeds 1000-1002 (docs/pilots/bn2015-*):
    # at 10 every plain seed output one class (10.0%, untestable), at 6 the plain net still
    # reached 70% (it does not stall), at 8 it stalls on some seeds (43.5 +- 23.6%, BN 83.7%).
    sizes={"smoke": {"depth": 8, "epochs": 6},
           "tiny": {"depth": 4, "epochs": 1},
           "cpu": {"depth": 8, "epochs": 6},
           "cpu2": {"depth": 8, "epochs": 6},
           "full": {"depth": 8, "epochs": 20}},
    label=lambda lv: f"{'BN' if lv['norm'] == 'batch' else 'plain'} deep sigmoid",
    table_intro="Arm means (mean ± sample sd over seeds) of the deep sigmoid stack.",
)

QUESTIONS = [BN_LR, BN_DEEP]
