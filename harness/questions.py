"""The paper's questions, defined once (torch-free): which networks each question trains, at
which levels, and which runs answer it.

A question is a *template* of fixed run columns (the paper's network for it, and the batch
size where the batch size is not what varies) plus the *levels* it compares:

- Q4: ReLU vs Sigmoid over depth (the Q4 net: stem conv+BN+act, blocks conv->BN->act);
- Q5: BatchNorm vs GroupNorm over batch size (the Q5 net: bare stem, 4 blocks conv->norm->ReLU);
- Q6: three orders of activation and BatchNorm, in the 8-block CNN and in the MLP.

Everything else reads this module: ``harness.grids`` trains ``cells(question, profile)``,
the claims select their arms with ``where(question, profile, **levels)``
(``harness.runs.question_arm``), and the report files each run under ``question_of(row,
profile)``. Nothing else lists the orders, the Q5 depth or which column tells the questions
apart.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from models.config import NetConfig, q4_depth_net, q5_norm_net, q6_order_cnn, q6_order_mlp

QUESTIONS = ("Q4", "Q5", "Q6")
#: Section titles of the report ("headline" is a claim about Q4's deepest ReLU net on CIFAR-10).
TITLES = {
    "Q4": "Q4. ReLU vs Sigmoid over depth",
    "Q5": "Q5. BatchNorm vs GroupNorm over batch size",
    "Q6": "Q6. Order of activation and BatchNorm (CNN and MLP)",
    "headline": "Headline. Best accuracy 80%+",
}

#: Report sections: the questions, and the headline, whose claim is judged on Q4's runs.
SECTIONS = QUESTIONS + ("headline",)
_RUNS_OF = {"headline": "Q4"}

Q4_ACTIVATIONS = ("relu", "sigmoid")
Q5_NORMS = ("batch", "group")
Q6_ARCHS = ("cnn", "mlp")
#: The paper's three Q6 orders: name -> (block_order, activation), in the paper's case order.
Q6_ORDERS = {"bn-relu": ("norm-act", "relu"), "relu-bn": ("act-norm", "relu"),
             "leakyrelu-bn": ("act-norm", "leaky_relu")}
#: How reports name the orders; the paper's case numbers are kept only here, as labels.
ORDER_LABELS = {"bn-relu": "BN->ReLU (case1)", "relu-bn": "ReLU->BN (case2)",
                "leakyrelu-bn": "LeakyReLU->BN (case3)"}
#: Columns a run is selected on (a runs table may hold every question's runs).
SELECT_COLUMNS = ("arch", "stem", "norm", "block_order", "activation", "depth", "batch_size")


@dataclass(frozen=True)
class Cell:
    """One configuration a question trains: its network, batch size and levels."""

    question: str
    levels: tuple[tuple[str, object], ...]  # e.g. (("activation", "relu"), ("depth", 8))
    net: NetConfig
    batch_size: int

    @property
    def label(self) -> str:
        return label(self.question, **dict(self.levels))

    def where(self) -> dict:
        """The run columns that select this cell's runs."""
        return {c: getattr(self.net, c) for c in SELECT_COLUMNS if c != "batch_size"} | \
            {"batch_size": self.batch_size}


def runs_of(section: str) -> str:
    """The question whose runs the claims of ``section`` (a claim marker's ``question=``) use."""
    if section not in SECTIONS:
        raise ValueError(f"unknown question {section!r}; valid: {', '.join(SECTIONS)}")
    return _RUNS_OF.get(section, section)


def _check(question: str) -> None:
    if question not in QUESTIONS:
        raise ValueError(f"unknown question {question!r}; valid: {', '.join(QUESTIONS)}")


def order_name(block_order: str, activation: str) -> str | None:
    """The Q6 order name of (block_order, activation), or None if it is not one of the three."""
    return next((k for k, v in Q6_ORDERS.items() if v == (block_order, activation)), None)


def level_values(question: str, profile) -> dict[str, tuple]:
    """The levels a question compares under ``profile``, in the order the grid trains them."""
    _check(question)
    if question == "Q4":
        return {"activation": Q4_ACTIVATIONS, "depth": tuple(profile.q4_depths)}
    if question == "Q5":
        return {"norm": Q5_NORMS, "batch_size": tuple(profile.q5_batch_sizes)}
    return {"order": tuple(Q6_ORDERS), "arch": Q6_ARCHS}


def cell(question: str, profile, **levels) -> Cell:
    """The configuration of ``question`` at ``levels`` (any level value, not only the
    profile's: the headline asks for depth 8 wherever it is judged)."""
    _check(question)
    want = set(level_values(question, profile))
    if set(levels) != want:
        raise ValueError(f"{question} is selected by {', '.join(sorted(want))}; got "
                         f"{', '.join(sorted(levels)) or 'nothing'}")
    if question == "Q4":
        net = q4_depth_net(int(levels["depth"]), levels["activation"])
        batch = profile.q4_batch_size
    elif question == "Q5":
        net, batch = q5_norm_net(levels["norm"]), int(levels["batch_size"])
    else:
        if levels["order"] not in Q6_ORDERS:
            raise ValueError(f"unknown Q6 order {levels['order']!r}; valid: {', '.join(Q6_ORDERS)}")
        block_order, activation = Q6_ORDERS[levels["order"]]
        if levels["arch"] == "cnn":
            net = q6_order_cnn(block_order, activation).with_(depth=profile.q6_depth)
        else:
            net = q6_order_mlp(block_order, activation)
        batch = profile.q6_batch_size
    order = tuple((k, levels[k]) for k in level_values(question, profile))
    return Cell(question, order, net, batch)


def cells(question: str, profile) -> list[Cell]:
    """Every configuration ``question`` trains under ``profile``, in the grid's order."""
    values = level_values(question, profile)
    names = list(values)
    out = [{}]
    for name in names:  # first level outermost (Q4: activation, then depth)
        out = [o | {name: v} for o in out for v in values[name]]
    if question == "Q6":  # CNN and MLP of each order side by side, as the paper listed them
        out = [{"order": o, "arch": a} for o in values["order"] for a in values["arch"]]
    return [cell(question, profile, **lv) for lv in out]


def label(question: str, **levels) -> str:
    """An arm's label in evidence and reports (e.g. "relu depth 8", "BN b16", "cnn bn-relu")."""
    if question == "Q4":
        return f"{levels['activation']} depth {levels['depth']}"
    if question == "Q5":
        return f"{'BN' if levels['norm'] == 'batch' else 'GN'} b{levels['batch_size']}"
    return f"{levels['arch']} {levels['order']}"


def where(question: str, profile, **levels) -> dict:
    """The run columns that select ``question``'s arm at ``levels``."""
    return cell(question, profile, **levels).where()


def _matches(row: Mapping, want: Mapping) -> bool:
    for col, val in want.items():
        got = row.get(col)
        if got is None or (isinstance(got, float) and got != got):  # missing or NaN
            return False
        if isinstance(val, int) and not isinstance(val, bool):
            try:
                if float(got) != val:
                    return False
            except (TypeError, ValueError):
                return False
        elif got != val:
            return False
    return True


def levels_of(question: str, row: Mapping, profile) -> dict | None:
    """``row``'s levels if it is a run of ``question`` under ``profile`` (its template matches
    and its levels are ones the question compares, at any depth or batch size), else None."""
    _check(question)
    if question == "Q4":
        act, depth = row.get("activation"), row.get("depth")
        if act not in Q4_ACTIVATIONS or not _is_int(depth):
            return None
        lv = {"activation": act, "depth": int(float(depth))}
    elif question == "Q5":
        norm, batch = row.get("norm"), row.get("batch_size")
        if norm not in Q5_NORMS or not _is_int(batch):
            return None
        lv = {"norm": norm, "batch_size": int(float(batch))}
    else:
        order = order_name(row.get("block_order"), row.get("activation"))
        if order is None or row.get("arch") not in Q6_ARCHS:
            return None
        lv = {"order": order, "arch": row.get("arch")}
    return lv if _matches(row, where(question, profile, **lv)) else None


def question_of(row: Mapping, profile) -> str | None:
    """The question a runs-table row answers under ``profile`` ("Q4", "Q5", "Q6"), or None.
    A configuration two questions share (possible only in a profile whose Q6 CNN has the Q5
    net's 4 blocks at a Q5 batch size) is filed under the first."""
    return next((q for q in QUESTIONS if levels_of(q, row, profile) is not None), None)


def _is_int(v) -> bool:
    try:
        return float(v) == int(float(v))
    except (TypeError, ValueError, OverflowError):
        return False
