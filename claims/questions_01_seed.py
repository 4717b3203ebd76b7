"""The seed paper's questions Q4-Q6, declared (harness/declare/questions.py reads every
``claims/questions_*.py``; file-name order is the report's section order).

- Q4: ReLU vs Sigmoid over depth (the Q4 net: stem conv+BN+act, blocks conv->BN->act);
- Q5: BatchNorm vs GroupNorm over batch size (the Q5 net: bare stem, 4 blocks conv->norm->ReLU);
- Q6: three orders of activation and BatchNorm, in the 8-block CNN and in the MLP.

Sizes per profile: smoke and cpu were measured on the 2-core CPU (docs/RESULTS.md,
docs/pilots/): batch 32 gives the smoke Q4/Q6 nets 250-500 steps; Q5 trains on less data
because its batch-2 runs take N/2 steps an epoch. cpu was frozen 2026-11-28 before its one
confirmatory session; cpu2 (issue 24) on 2026-12-04 before its own. full is the paper's protocol.
"""
from harness.declare.questions import Level, Question

#: The paper's three Q6 orders: name -> run fields, in the paper's case order.
Q6_ORDERS = {"bn-relu": ("norm-act", "relu"), "relu-bn": ("act-norm", "relu"),
             "leakyrelu-bn": ("act-norm", "leaky_relu")}
#: How reports name the orders; the paper's case numbers are kept only here, as labels.
ORDER_LABELS = {"bn-relu": "BN->ReLU (case1)", "relu-bn": "ReLU->BN (case2)",
                "leakyrelu-bn": "LeakyReLU->BN (case3)"}


def _q4_check(sizes) -> list[str]:
    return [] if len(set(sizes["depth"])) >= 2 else ["depth: needs at least two depths for a trend"]


def _q5_check(sizes) -> list[str]:
    if sizes.get("peak_batch") not in tuple(sizes["batch_size"]):
        return [f"peak_batch ({sizes.get('peak_batch')}) must be one of batch_size "
                f"{list(sizes['batch_size'])}"]
    return []


def _q6_fields(levels, sizes) -> dict:
    block_order, activation = Q6_ORDERS[levels["order"]]
    net = {"arch": levels["arch"], "norm": "batch", "block_order": block_order,
           "activation": activation, "stem": "conv",
           "depth": sizes["depth"] if levels["arch"] == "cnn" else 0}
    return net | {"batch_size": sizes["batch_size"], "epochs": sizes["epochs"]}


Q4 = Question(
    name="Q4", title="Q4. ReLU vs Sigmoid over depth",
    base={"arch": "cnn", "norm": "batch", "block_order": "norm-act", "stem": "block"},
    levels=(Level("activation", ("relu", "sigmoid")), Level("depth")),
    metrics=("best_test_acc", "final_test_acc", "grad_metric"),
    sizes={"smoke": {"depth": (1, 2, 4, 8), "batch_size": 32, "epochs": 2},
           "tiny": {"depth": (1, 2), "batch_size": 32, "epochs": 2},
           "cpu": {"depth": (1, 2, 4, 8), "batch_size": 128, "epochs": 4},
           "cpu2": {"depth": (1, 2, 4, 8), "batch_size": 128, "epochs": 4},
           "full": {"depth": (1, 2, 4, 6, 8), "batch_size": 128, "epochs": 10}},
    label=lambda lv: f"{lv['activation']} depth {lv['depth']}",
    check=_q4_check,
    old_keys={"q4_depths": "depth", "q4_batch_size": "batch_size", "q4_epochs": "epochs"},
    table_intro="Arm means (mean ± sample sd over seeds). Q4's claims use the best epoch; "
                "the gradient metric is the epoch-averaged mean |grad|.",
    sections={"headline": "Headline. Best accuracy 80%+"},
)

Q5 = Question(
    name="Q5", title="Q5. BatchNorm vs GroupNorm over batch size",
    base={"arch": "cnn", "depth": 4, "activation": "relu", "block_order": "norm-act",
          "stem": "conv"},
    levels=(Level("norm", ("batch", "group")), Level("batch_size")),
    metrics=("best_test_acc", "final_test_acc"),
    # peak_batch: BatchNorm's best batch size in the paper's table, fixed in advance.
    sizes={"smoke": {"batch_size": (2, 16, 128), "peak_batch": 16, "epochs": 4, "train_size": 1000},
           "tiny": {"batch_size": (16, 64), "peak_batch": 64, "epochs": 1},
           "cpu": {"batch_size": (2, 16, 128), "peak_batch": 16, "epochs": 6, "train_size": 16000},
           # cpu2: 12 epochs, the paper's fixed-epoch protocol at every batch size; the pilots
           # put BN and GN at batch 128 on their plateau from epoch 9-10 (1,500 steps at 12)
           "cpu2": {"batch_size": (2, 16, 128), "peak_batch": 16, "epochs": 12, "train_size": 16000},
           "full": {"batch_size": (2, 4, 8, 16, 32, 64, 128), "peak_batch": 16, "epochs": 10}},
    label=lambda lv: f"{'BN' if lv['norm'] == 'batch' else 'GN'} b{lv['batch_size']}",
    check=_q5_check,
    # q5_small_batch is gone: the smallest batch is the smallest of batch_size (profiles.py)
    old_keys={"q5_batch_sizes": "batch_size", "q5_peak_batch": "peak_batch",
              "q5_epochs": "epochs", "q5_train_size": "train_size"},
    table_intro="Arm means (mean ± sample sd over seeds). Q5's claims use the best epoch; "
                "the paper published mean ± population sd of 5 runs.",
)

Q6 = Question(
    name="Q6", title="Q6. Order of activation and BatchNorm (CNN and MLP)",
    base={},
    # order outermost: the CNN and MLP of each order side by side, as the paper listed them
    levels=(Level("order", tuple(Q6_ORDERS),
                  fields={k: {"block_order": b, "activation": a} for k, (b, a) in Q6_ORDERS.items()},
                  labels=ORDER_LABELS),
            Level("arch", ("cnn", "mlp"))),
    metrics=("best_test_acc", "final_test_acc"),
    sizes={"smoke": {"depth": 8, "batch_size": 32, "epochs": 4},
           "tiny": {"depth": 2, "batch_size": 32, "epochs": 1},
           "cpu": {"depth": 8, "batch_size": 128, "epochs": 6},
           "cpu2": {"depth": 8, "batch_size": 128, "epochs": 6},
           "full": {"depth": 8, "batch_size": 128, "epochs": 10}},
    label=lambda lv: f"{lv['arch']} {lv['order']}",
    configure=_q6_fields,
    old_keys={"q6_depth": "depth", "q6_batch_size": "batch_size", "q6_epochs": "epochs"},
    table_intro="Arm means (mean ± sample sd over seeds). Q6's claims use the final epoch.",
)

QUESTIONS = [Q4, Q5, Q6]
