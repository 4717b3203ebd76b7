"""The numbers behind the report's tables and figures, apart from how they are shown.

* ``Context``: the runs and the paper's runs, each split by question (``classify``), with the
  dataset labels every figure and section uses;
* ``arm_stats``: mean, sd, n and 95% t half-width of one metric over an arm's runs (or from a
  published summary row);
* ``Table`` and the tables built from them (``arm_table`` per question: Q4-Q6's own layout
  with the paper's values beside them, ``declared_table`` for any other declared question;
  ``headline_table``):
  header and cell text, rendered by the markdown and the HTML writers alike.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

import numpy as np
import pandas as pd
from scipy import stats as sps

from harness.declare import questions as Q
from harness.report.classify import ORDER_LABELS, PAPER_PROFILE, order_label, profile_of, questions
from harness.report.result import ClaimResult
from harness.runstore.runs import COLUMNS
from harness.statistics.formatting import DASH, as_float as _float, as_str as _str, fmt

__all__ = ["PAPER_DATASET", "ACTIVATIONS", "NORMS", "Context", "ArmStats", "arm_stats", "stat_cell",
           "Table", "ARM_TABLE_INTROS", "arm_table", "headline_table", "normalise_runs",
           "all_run_keys", "num"]

PAPER_DATASET = "CIFAR-10"

#: display name and colour of each Q4 activation and Q5 norm (tables and figures)
ACTIVATIONS = {"relu": ("ReLU", "tab:blue"), "sigmoid": ("Sigmoid", "tab:red")}
NORMS = {"batch": ("BatchNorm", "tab:blue"), "group": ("GroupNorm", "tab:green")}


def normalise_runs(df: pd.DataFrame | None) -> pd.DataFrame:
    """A copy with every runs-table column (missing ones as None) and a fresh index."""
    if df is None:
        df = pd.DataFrame(columns=COLUMNS)
    df = df.copy()
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = None
    return df.reset_index(drop=True)


def all_run_keys(runs: pd.DataFrame, results: list[ClaimResult]) -> list[str]:
    """The runs table's keys, then any other key a claim used, each once, in order."""
    keys: list[str] = []
    seen: set[str] = set()
    for k in [_str(k) for k in runs["key"]] + [k for r in results for k in r.run_keys]:
        if k is not None and k not in seen:
            seen.add(k)
            keys.append(k)
    return keys


def num(df: pd.DataFrame, col: str) -> pd.Series:
    return pd.to_numeric(df[col], errors="coerce")


def _canon(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


class Context:
    """The runs split by question, plus labels used by every figure and section."""

    def __init__(self, meta: dict, runs: pd.DataFrame, paper: pd.DataFrame):
        self.meta = meta
        self.runs = runs
        self.paper = paper
        self.q = questions(runs, profile_of(meta))
        self.paper_q = questions(paper, PAPER_PROFILE)
        datasets = sorted({d for d in (_str(v) for v in runs["dataset"]) if d})
        # the runs' own dataset column wins (meta may say "(from source)")
        self.dataset = ", ".join(datasets) if datasets else (meta.get("dataset") or "?")
        self.profile = meta.get("profile") or "?"
        # The paper's values get their own (right-hand) y axis unless this run is on CIFAR-10
        # too: levels on different datasets are not comparable, and one shared axis would
        # squash this run's differences (e.g. Fashion-MNIST ~85% vs the paper's MLP ~55%).
        names = set(datasets) or ({str(meta["dataset"])} if meta.get("dataset") else set())
        self.paper_own_axis = not names or any(_canon(d) != "cifar10" for d in names)

    @cached_property
    def aa_rows(self) -> list:
        """The A/A self-calibration of these runs (harness/statistics/aa_calibration.py), once
        for report.md and report.html; [] for smoke-scale profiles (4-9 s a report, and CI
        writes dozens) and runs with no kind column."""
        from harness.statistics import aa_calibration

        profile = profile_of(self.meta)
        if profile.smoke_scale or not len(self.runs) or "kind" not in self.runs.columns:
            return []
        return aa_calibration.aa_table(self.runs, profile.alpha, profile.q6_mlp_order_margin)

    def of(self, question: str, paper: bool = False) -> pd.DataFrame:
        df, q = (self.paper, self.paper_q) if paper else (self.runs, self.q)
        if not len(df):
            return df
        return df[q == question]

    @property
    def n_runs(self) -> int:
        """Rows that are runs (not a published summary)."""
        return int((self.runs["kind"].astype(object) != "summary").sum()) if len(self.runs) else 0

    @property
    def unassigned(self) -> int:
        """Rows that belong to no question."""
        return int(self.q.isna().sum()) if len(self.q) else 0

    def run_note(self) -> str:
        where = ", right-hand axis" if self.paper_own_axis else ""
        return (f"this run: {self.dataset} ({self.profile} profile); hollow markers: the paper "
                f"on {PAPER_DATASET}{where}")

    def paper_axis(self, ax, ylabel: str, log: bool = False):
        """The axes the paper's reference values are drawn on (see ``paper_own_axis``)."""
        if not self.paper_own_axis:
            return ax
        rax = ax.twinx()
        rax.set_ylabel(f"paper, {PAPER_DATASET}: {ylabel}", color="dimgray")
        rax.tick_params(axis="y", colors="dimgray")
        if log:
            rax.set_yscale("log")
        return rax

    def this_ylabel(self, ylabel: str) -> str:
        return f"this run: {ylabel}" if self.paper_own_axis else ylabel


# =============================================================================================
# arm statistics
# =============================================================================================

_SUMMARY_COLS = {"best_test_acc": ("mean_best", "std_best"), "final_test_acc": ("mean_final", "std_final")}


@dataclass(frozen=True)
class ArmStats:
    """One metric over one arm. From runs: sample sd and the 95% t half-width of the mean.
    From a published summary (``summary``): ``sd`` is the published population sd, the
    half-width uses the sample sd it implies, ``values`` is empty."""

    values: np.ndarray
    n: int
    mean: float
    sd: float  # nan when unknown
    half: float  # nan when unknown
    summary: bool


def _tcrit(n: int, level: float = 0.95) -> float:
    return float(sps.t.ppf(0.5 + level / 2, n - 1)) if n >= 2 else math.nan


def arm_stats(rows: pd.DataFrame, metric: str) -> ArmStats | None:
    """``metric`` over ``rows``: from the run rows when they hold values, else from a published
    summary row (``kind == "summary"``); None when neither has it."""
    if rows is None or not len(rows) or metric not in rows.columns:
        return None
    kind = rows["kind"].astype(object) if "kind" in rows.columns else pd.Series("run", index=rows.index)
    runs = rows[kind.map(lambda k: _str(k) != "summary")]
    vals = pd.to_numeric(runs[metric], errors="coerce").to_numpy(dtype=float)
    vals = vals[np.isfinite(vals)]
    if len(vals):
        n = len(vals)
        mean = float(vals.mean())
        sd = float(vals.std(ddof=1)) if n >= 2 else math.nan
        half = _tcrit(n) * sd / math.sqrt(n) if n >= 2 else math.nan
        return ArmStats(vals, n, mean, sd, half, summary=False)
    cols = _SUMMARY_COLS.get(metric)
    if not cols or not all(c in rows.columns for c in cols):
        return None
    summ = rows[kind.map(lambda k: _str(k) == "summary")]
    for r in summ.to_dict("records"):
        mean, sd_pop, n = _float(r.get(cols[0])), _float(r.get(cols[1])), _float(r.get("n"))
        if mean is None:
            continue
        n = int(n) if n else 1
        sd_s = sd_pop * math.sqrt(n / (n - 1)) if (sd_pop is not None and n >= 2) else math.nan
        half = _tcrit(n) * sd_s / math.sqrt(n) if n >= 2 and math.isfinite(sd_s) else math.nan
        return ArmStats(np.array([]), n, mean, sd_pop if sd_pop is not None else math.nan, half,
                        summary=True)
    return None


def stat_cell(st: ArmStats | None, n_rows: int | None = None, digits: int | None = 2) -> str:
    """``81.20 ± 1.10``, with ``(n=4)`` when fewer runs than the arm's rows had the metric."""
    if st is None:
        return DASH
    f = (lambda v: fmt(v, digits=digits)) if digits is not None else fmt
    out = f(st.mean) + (f" ± {f(st.sd)}" if math.isfinite(st.sd) else "")
    if st.n == 1:
        out += " (1 run)"
    elif st.summary:
        out += f" (n={st.n}, pop. sd)"
    elif n_rows is None or st.n != n_rows:
        out += f" (n={st.n})"
    return out


# =============================================================================================
# tables
# =============================================================================================

@dataclass(frozen=True)
class Table:
    """Header and cell text; ``align`` one letter per column: l, r or c."""

    header: list[str]
    rows: list[list[str]]
    align: str


Selector = Callable[[pd.DataFrame], pd.Series]


def _eq(col: str, val) -> Selector:
    def f(df):
        if col in ("depth", "batch_size"):
            return num(df, col) == val
        return df[col].astype(object) == val
    return f


def _and(*fs: Selector) -> Selector:
    def f(df):
        m = pd.Series(True, index=df.index)
        for g in fs:
            m &= g(df)
        return m
    return f


def _distinct(df: pd.DataFrame, col: str, numeric: bool = False) -> list:
    if not len(df):
        return []
    vals = {(_float(v) if numeric else _str(v)) for v in df[col]}
    vals.discard(None)
    return sorted(vals)


#: the sentence above each question's arm table (its declaration's ``table_intro``)
ARM_TABLE_INTROS = {q.name: q.table_intro or "Arm means (mean ± sample sd over seeds) of every "
                    "metric the question's claims read." for q in Q.all_questions()}


def _group_table(rows: pd.DataFrame, paper: pd.DataFrame, keys: list, paper_metric: str,
                 paper_desc: str, with_grad: bool = False) -> Table | None:
    """One row per arm: this run's best- and final-epoch accuracy, and the paper's value."""
    header = ["arm", "runs", "best-epoch acc (%)", "final-epoch acc (%)"]
    if with_grad:
        header.append("grad metric")
    header += ["diverged", f"paper, {PAPER_DATASET}: {paper_desc}"]
    out = []
    for label, sel, sel_paper in keys:
        grp = rows[sel(rows)] if len(rows) else rows
        sgrp = paper[sel_paper(paper)] if len(paper) else paper
        if not len(grp) and not len(sgrp):
            continue
        n_rows = int((grp["kind"].astype(object) != "summary").sum()) if len(grp) else 0
        row = [label, str(n_rows) if n_rows else ("summary" if len(grp) else "0"),
               stat_cell(arm_stats(grp, "best_test_acc"), n_rows),
               stat_cell(arm_stats(grp, "final_test_acc"), n_rows)]
        if with_grad:
            row.append(stat_cell(arm_stats(grp, "grad_metric"), n_rows, digits=None))
        div = int(num(grp, "diverged_epoch").notna().sum()) if len(grp) else 0
        row.append(str(div) if div else "")
        st = arm_stats(sgrp, paper_metric)
        if with_grad and st is not None and st.n == 1:
            g = arm_stats(sgrp, "grad_metric")
            row.append(stat_cell(st) + (f"; grad {fmt(g.mean)}" if g else ""))
        else:
            row.append(stat_cell(st))
        out.append(row)
    if not out:
        return None
    return Table(header, out, align="lr" + "l" * (len(header) - 2))


def arm_table(ctx: Context, q: str) -> Table | None:
    """Q4, Q5 or Q6: one row per arm of this run (and the paper's value beside it); None when
    no arm has rows."""
    rows, paper = ctx.of(q), ctx.of(q, paper=True)
    both = pd.concat([rows, paper])
    keys = []
    if q == "Q4":
        for act in _distinct(both, "activation"):
            for d in _distinct(both, "depth", numeric=True):
                sel = _and(_eq("activation", act), _eq("depth", d))
                keys.append((f"{ACTIVATIONS.get(act, (act,))[0]}, depth {int(d)}", sel, sel))
        return _group_table(rows, paper, keys, "best_test_acc", "best epoch, 1 run", with_grad=True)
    if q == "Q5":
        for norm in _distinct(both, "norm"):
            for b in _distinct(both, "batch_size", numeric=True):
                sel = _and(_eq("norm", norm), _eq("batch_size", b))
                keys.append((f"{NORMS.get(norm, (norm,))[0]}, batch {int(b)}", sel, sel))
        return _group_table(rows, paper, keys, "best_test_acc", "best epoch")
    if q == "Q6":
        for arch in ("cnn", "mlp"):
            for (order, act), lab in ORDER_LABELS.items():
                sel = _and(_eq("arch", arch), _eq("block_order", order), _eq("activation", act))
                keys.append((f"{arch.upper()}, {lab}", sel, sel))
        return _group_table(rows, paper, keys, "final_test_acc", "final epoch")
    return declared_table(ctx, q)


def declared_arms(ctx: Context, q: str):
    """A declared question's runs with its computed metrics added, each run's level values, and
    the arms' level values in ascending order: (declaration, rows, levels, keys); None without
    runs. What its table and its figure are both drawn from."""
    decl = Q.get(q)
    rows = ctx.of(q).copy()
    if not len(rows):
        return None
    records = rows.to_dict("records")
    for m in decl.derived:
        rows[m.name] = [m.compute(r) for r in records]
    levels = [tuple(lv.read(r) for lv in decl.levels) for r in records]
    keys = sorted(set(levels), key=lambda k: tuple((str(type(v)), v) for v in k))
    return decl, rows, levels, keys


def declared_table(ctx: Context, q: str) -> Table | None:
    """Any declared question: one row per cell this run has (its levels read from the rows,
    in ascending order), one column per metric the question's claims read (recorded or
    computed from the curves, ``harness.declare.questions``)."""
    arms = declared_arms(ctx, q)
    if arms is None:
        return None
    decl, rows, levels, keys = arms
    metrics = list(decl.metrics) + [m.name for m in decl.derived]
    out = []
    for key in keys:
        grp = rows[[lv == key for lv in levels]]
        n_rows = int((grp["kind"].astype(object) != "summary").sum())
        div = int(num(grp, "diverged_epoch").notna().sum())
        out.append([Q.label(q, **dict(zip((lv.name for lv in decl.levels), key))), str(n_rows)]
                   + [stat_cell(arm_stats(grp, m), n_rows, digits=None if m == "grad_metric" else 2)
                      for m in metrics] + [str(div) if div else ""])
    return Table(["arm", "runs"] + metrics + ["diverged"], out, align="lr" + "l" * (len(metrics) + 1))


HEADLINE_INTRO = ("The five configurations of this run with the highest mean best-epoch accuracy "
                  f"(the paper's 80%+ is a {PAPER_DATASET} figure):")


def headline_table(ctx: Context) -> Table | None:
    """The best five configurations of this run by mean best-epoch accuracy; None without runs."""
    rows = []
    for q in ("Q4", "Q5", "Q6"):  # the seed paper's "80%+" is about its own networks
        df = ctx.of(q)
        if not len(df):
            continue
        cols = [c for c in ("arch", "depth", "block_order", "norm", "activation", "batch_size")
                if c in df.columns]
        key_df = df[cols].astype(object).where(df[cols].notna(), None)
        groups: dict[tuple, list] = {}
        for idx, key in zip(df.index, map(tuple, key_df.to_numpy().tolist())):
            groups.setdefault(key, []).append(idx)
        for key, idx in groups.items():
            grp = df.loc[idx]
            best = arm_stats(grp, "best_test_acc")
            if best is None:
                continue
            k = dict(zip(cols, key))
            label = f"{q}: {k.get('arch')}"
            if q == "Q6":
                label += f", {order_label(k)}"
            else:
                label += f", {k.get('activation')}, {k.get('norm')} norm"
            if k.get("depth") is not None and k.get("arch") == "cnn":
                label += f", depth {int(_float(k['depth']) or 0)}"
            if q == "Q5":
                label += f", batch {int(_float(k.get('batch_size')) or 0)}"
            rows.append((best.mean, [label, stat_cell(best),
                                     stat_cell(arm_stats(grp, "final_test_acc"))]))
    if not rows:
        return None
    rows.sort(key=lambda t: -t[0])
    return Table(["configuration", "best-epoch acc (%)", "final-epoch acc (%)"],
                 [r for _, r in rows[:5]], align="lll")
