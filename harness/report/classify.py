"""Which question a run (or a claim result) belongs to, for the report: a thin view of
``harness.declare.questions``, where the questions, their arms, the Q6 orders and their labels are
defined once.

A run is filed under a question by the same cells the grid trains and the claims select
(``harness.declare.questions.question_of``), under the profile the runs were judged with
(``profile_of(meta)``: the report's recorded ``profile_settings``); the paper's table under the
full protocol's profile.
"""
from __future__ import annotations

from typing import Mapping

import pandas as pd

from harness.declare import questions as Q
from harness.declare.profiles import PAPER_PROFILE, PROFILES, Profile, ProfileError, recorded
from harness.statistics.formatting import as_str as _str

__all__ = ["ORDER_LABELS", "QUESTION_TITLES", "SECTIONS", "PAPER_PROFILE", "profile_of",
           "question_of", "questions", "order_label", "section_of"]

#: The paper's three Q6 orders, (block_order, activation) -> report label.
_ORDER = Q.get("Q6").level("order")
ORDER_LABELS = {(_ORDER.fields[name]["block_order"], _ORDER.fields[name]["activation"]): label
                for name, label in _ORDER.labels.items()}
QUESTION_TITLES = Q.TITLES
SECTIONS = Q.SECTIONS


def profile_of(meta: Mapping) -> Profile:
    """The profile a report's runs were judged with: its recorded settings, else its name."""
    if meta.get("source") in ("seed", "paper"):
        return PAPER_PROFILE
    name = str(meta.get("profile"))
    try:
        return recorded(dict(meta.get("profile_settings") or {}), "report meta",
                        default=name if name in PROFILES else "smoke")
    except (ProfileError, TypeError, ValueError):
        return PROFILES.get(name, PROFILES["smoke"])


def question_of(row: Mapping, profile: Profile) -> str | None:
    """The question a runs-table row answers under ``profile`` ("Q4", "Q5", "Q6") or None."""
    return Q.question_of(row, profile)


def questions(df: pd.DataFrame, profile: Profile) -> pd.Series:
    """``question_of`` for every row of a runs table (same index)."""
    if df is None or not len(df):
        return pd.Series([], dtype=object)
    return pd.Series([question_of(r, profile) for r in df.to_dict("records")], index=df.index,
                     dtype=object)


def order_label(row: Mapping) -> str:
    """A Q6 row's order label, e.g. ``BN->ReLU (case1)``; ``<order>+<activation>`` otherwise."""
    key = (_str(row.get("block_order")), _str(row.get("activation")))
    return ORDER_LABELS.get(key, f"{key[0]}+{key[1]}")


def section_of(question: str | None) -> str:
    """The report section of a claim whose ``question`` is given: one of SECTIONS, or "other"."""
    q = question or "?"
    return q if q in SECTIONS else "other"
