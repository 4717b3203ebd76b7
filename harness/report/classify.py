"""Which question a run (or a claim result) belongs to, and the labels of the questions' arms.

All of the report's classification is here, unchanged from the single-module report, so that
it can be swapped for a shared definition of the questions in one place: ``question_of``
(a runs-table row -> "Q4" / "Q5" / "Q6" / None), ``questions`` (the same for a whole
table), ``section_of`` (a claim result -> its section), ``order_label`` and ``ORDER_LABELS``
(the seed's three Q6 orders), ``QUESTION_TITLES`` / ``SECTIONS``, and ``Q5_DEPTH``.
"""
from __future__ import annotations

from typing import Mapping

import pandas as pd

from harness.formatting import as_float as _float, as_str as _str

__all__ = ["Q5_DEPTH", "ORDER_LABELS", "QUESTION_TITLES", "SECTIONS", "question_of", "questions",
           "order_label", "section_of"]

#: Depth (blocks after the stem) of the Q5 network (``models.q5_norm_net``). Written out here so
#: that the report need not import torch; ``tests/test_report.py`` checks it against models.
Q5_DEPTH = 4

#: The seed's three Q6 orders, (block_order, activation) -> label.
ORDER_LABELS = {
    ("norm-act", "relu"): "BN->ReLU (case1)",
    ("act-norm", "relu"): "ReLU->BN (case2)",
    ("act-norm", "leaky_relu"): "LeakyReLU->BN (case3)",
}

QUESTION_TITLES = {
    "Q4": "Q4. ReLU vs Sigmoid over depth",
    "Q5": "Q5. BatchNorm vs GroupNorm over batch size",
    "Q6": "Q6. Order of activation and BatchNorm (CNN and MLP)",
    "headline": "Headline. Best accuracy 80%+",
}
SECTIONS = ("Q4", "Q5", "Q6", "headline")


def question_of(row: Mapping) -> str | None:
    """The question a runs-table row belongs to: "Q4", "Q5", "Q6" or None (no question).

    * Q4: ``stem == "block"`` (only the Q4 depth net has a stem with norm + activation);
    * Q6: ``arch == "mlp"`` (the Q6 MLP), or a bare-stem CNN deeper than ``Q5_DEPTH`` with
      BatchNorm (the Q6 CNN: 8 blocks in both profiles);
    * Q5: a bare-stem CNN with GroupNorm (only Q5 uses it), or with BatchNorm at exactly
      ``Q5_DEPTH`` blocks.

    A Q6 CNN run at depth 4 would be read as Q5: no profile does that (``q6_depth`` is 8).
    The Q6 panel (CNN or MLP) is the row's ``arch``.
    """
    arch, stem, norm = _str(row.get("arch")), _str(row.get("stem")), _str(row.get("norm"))
    if stem == "block":
        return "Q4"
    if arch == "mlp":
        return "Q6"
    if arch != "cnn":
        return None
    if norm == "group":
        return "Q5"
    depth = _float(row.get("depth"))
    if depth is None:
        return None
    if depth == Q5_DEPTH:
        return "Q5"
    if depth > Q5_DEPTH:
        return "Q6"
    return None


def questions(df: pd.DataFrame) -> pd.Series:
    """``question_of`` for every row of a runs table (same index)."""
    if df is None or not len(df):
        return pd.Series([], dtype=object)
    return pd.Series([question_of(r) for r in df.to_dict("records")], index=df.index, dtype=object)


def order_label(row: Mapping) -> str:
    """A Q6 row's order label, e.g. ``BN->ReLU (case1)``; ``<order>+<activation>`` otherwise."""
    key = (_str(row.get("block_order")), _str(row.get("activation")))
    return ORDER_LABELS.get(key, f"{key[0]}+{key[1]}")


def section_of(question: str | None) -> str:
    """The report section of a claim whose ``question`` is given: one of SECTIONS, or "other"."""
    q = question or "?"
    return q if q in SECTIONS else "other"
