"""Runs validated once, wherever they are read: the store, an exported or hand-written
runs.csv, the published numbers. Torch-free (judging a source never imports torch).

The input schema of a runs table (docs/FAULTS.md, "runs.csv input schema"):

- Required columns, one value on every row: ``arch``, ``depth``, ``block_order``, ``norm``,
  ``activation``, ``stem``, ``batch_size``, ``seed`` (blank only on ``kind=summary`` rows),
  ``dataset``.
- At least one metric column with at least one value: ``best_test_acc`` (Q4, Q5, headline),
  ``final_test_acc`` (Q6), ``grad_metric`` (Q4's gradient claims), ``heldout_best_test_acc``.
  A claim whose metric or configuration has no rows is untestable, the others are judged.
- Defaulted when absent or blank: ``kind`` ("run"), ``key`` ("<file>:line<N>"), ``n`` (1 for a
  run), ``source`` (the file).
- Optional: ``width``, ``image_size``, ``train_size``, ``epochs``, ``lr``, ``diverged_epoch``;
  and the fields added later, whose blank means their default (``harness.declare.spec.
  added_field_defaults``): ``init`` ("default"), ``optimizer`` ("adam"), ``momentum`` and
  ``weight_decay`` (0)
  and every other column of ``harness.runstore.runs.COLUMNS``; other unknown columns are ignored,
  unless their name is one edit away from a known one (a misspelling: an error).

Problems, each one line naming the row (CSV line, or the run's key) and the column: a missing
or misspelled column; a value outside its set (``arch``, ``norm``, ``activation``,
``block_order``, ``stem``, ``dataset``, ``kind``); text in a numeric column; a value out of
range (accuracies 0..100, batch size >= 1, seed >= 0, ...); a key or a (configuration, seed)
that appears twice (a run counted twice would raise n); runs of more than one dataset (arms
never mix datasets: judge one dataset per source); no metric value at all.
"""
from __future__ import annotations

import difflib
import math
from typing import Callable

import pandas as pd

from harness.declare.profiles import DATASETS
from harness.declare.spec import OPTIMIZERS  # torch-free
from models.config import ACTIVATIONS, ARCHS, BLOCK_ORDERS, INITS, NORMS, STEMS  # torch-free
KINDS = ("run", "summary")

#: Columns that identify a configuration (what claims select on; a run is one per config and seed).
CONFIG_COLUMNS = ["arch", "width", "depth", "block_order", "norm", "activation", "stem",
                  "dataset", "image_size", "train_size", "epochs", "batch_size", "lr", "init",
                  "optimizer", "momentum", "weight_decay"]
REQUIRED = ["arch", "depth", "block_order", "norm", "activation", "stem", "batch_size", "seed",
            "dataset"]
METRIC_COLUMNS = ["best_test_acc", "final_test_acc", "grad_metric", "heldout_best_test_acc"]
CATEGORIES = {"arch": ARCHS, "block_order": BLOCK_ORDERS, "norm": NORMS,
              "activation": ACTIVATIONS, "stem": STEMS, "dataset": DATASETS, "kind": KINDS,
              "init": tuple(INITS), "optimizer": tuple(OPTIMIZERS)}
#: column -> (low, high, integer?); None = unbounded. NaN is allowed where a column is optional.
NUMERIC = {"depth": (0, None, True), "batch_size": (1, None, True), "seed": (0, None, True),
           "width": (1, None, True), "image_size": (1, None, True), "train_size": (1, None, True),
           "epochs": (1, None, True), "n": (1, None, True), "diverged_epoch": (1, None, True),
           "lr": (0, None, False), "momentum": (0, 1, False), "weight_decay": (0, None, False),
           "grad_metric": (0, None, False),
           "best_test_acc": (0, 100, False), "final_test_acc": (0, 100, False),
           "heldout_best_test_acc": (0, 100, False), "mean_best": (0, 100, False),
           "mean_final": (0, 100, False), "std_best": (0, 100, False), "std_final": (0, 100, False)}
MAX_LISTED = 10  # problems listed one per line; the rest are counted


class RunsError(ValueError):
    """The runs cannot be judged. ``problems``: one line each, saying where and what to do."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def _fmt(v) -> str:
    return repr(v) if isinstance(v, str) else str(v)


def misspelled_columns(columns, known) -> list[str]:
    """Problems for unknown columns that are one small edit from a known name."""
    out = []
    for col in columns:
        if col in known:
            continue
        close = difflib.get_close_matches(str(col), list(known), n=1, cutoff=0.85)
        if close:
            out.append(f"unknown column {col!r}: did you mean {close[0]!r}? rename it")
    return out


#: accuracy columns, in percent (0..100)
PERCENT_COLUMNS = ["best_test_acc", "final_test_acc", "heldout_best_test_acc", "mean_best", "mean_final"]


def fraction_accuracies(numeric: dict[str, pd.Series], where: str) -> list[str]:
    """Accuracy columns written as fractions (0..1) instead of percent: every value of the
    column at most 1. With 10 classes chance is 10%, so percent accuracies all <= 1% are
    not a result anyone trained; judged as percent they read "at chance" everywhere."""
    out = []
    for col in PERCENT_COLUMNS:
        vals = numeric.get(col)
        if vals is None:
            continue
        vals = vals[vals.map(lambda v: math.isfinite(v) if isinstance(v, float) else False)]
        if len(vals) and vals.max() <= 1:
            out.append(f"{where}: column {col}: every value is between 0 and 1 (max {vals.max():g}): "
                       f"accuracies are percent (0..100); multiply the column by 100")
    return out


def missing_metrics(df: pd.DataFrame, where: str) -> list[str]:
    """One line per metric column that some runs lack (their arms lose those runs), for the
    session header; empty when every run has every metric present in the source."""
    runs = df[df["kind"].fillna("run") == "run"] if "kind" in df.columns else df
    out = []
    for col in METRIC_COLUMNS:
        if col not in runs.columns:
            continue
        missing = pd.to_numeric(runs[col], errors="coerce").isna()
        if missing.any() and not missing.all():
            out.append(f"{where}: {int(missing.sum())} of {len(runs)} runs have no {col}; claims "
                       f"on {col} use the others (each arm's n says how many)")
    return out


def check_runs(df: pd.DataFrame, where: str, row_name: Callable[[int], str] | None = None) -> None:
    """Raise RunsError listing every problem of ``df`` (the runs table of ``where``, e.g.
    "--source runs.csv" or "the run store"). ``row_name(i)`` names positional row i."""
    name = row_name or (lambda i: f"row {i + 1}")
    problems: list[str] = []
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        problems.append(f"{where}: missing required column(s) {', '.join(missing)} "
                        f"(required: {', '.join(REQUIRED)}; see docs/FAULTS.md)")
    metrics = [c for c in METRIC_COLUMNS if c in df.columns]
    if not metrics:
        problems.append(f"{where}: no metric column; give at least one of {', '.join(METRIC_COLUMNS)}")
    if problems:
        raise RunsError(problems)
    if not len(df):
        raise RunsError([f"{where}: no runs (the table has no rows)"])
    df = df.reset_index(drop=True)
    kind = df["kind"].fillna("run") if "kind" in df.columns else pd.Series("run", index=df.index)
    is_run = kind == "run"

    for col, valid in CATEGORIES.items():
        if col not in df.columns:
            continue
        for i, v in df[col].items():
            if pd.isna(v):
                if col in REQUIRED:
                    problems.append(f"{where}: {name(i)}, column {col}: empty; give one of {', '.join(valid)}")
            elif v not in valid:
                problems.append(f"{where}: {name(i)}, column {col}: unknown value {_fmt(v)}; "
                                f"valid: {', '.join(valid)}")
    # A diverged run (training loss non-finite: diverged_epoch set) may report any metric;
    # elsewhere an infinite metric is bad input, not a divergence (it flipped verdicts).
    diverged = pd.to_numeric(df["diverged_epoch"], errors="coerce").notna() \
        if "diverged_epoch" in df.columns else pd.Series(False, index=df.index)
    numeric = {}
    for col, (lo, hi, integer) in NUMERIC.items():
        if col not in df.columns:
            continue
        raw = df[col]
        num = pd.to_numeric(raw, errors="coerce")
        numeric[col] = num
        for i in df.index:
            v, x = raw[i], num[i]
            if pd.isna(v) or (isinstance(v, str) and not v.strip()):
                if col in REQUIRED and not (col == "seed" and not is_run[i]):
                    problems.append(f"{where}: {name(i)}, column {col}: empty; give a number")
                continue
            if pd.isna(x):
                if isinstance(v, float) and math.isnan(v):
                    continue
                problems.append(f"{where}: {name(i)}, column {col}: {_fmt(v)} is not a number")
            elif not math.isfinite(x):
                if not (col in METRIC_COLUMNS and diverged[i]):
                    problems.append(f"{where}: {name(i)}, column {col}: {x} is not finite"
                                    + ("; a diverged run says so in diverged_epoch (the epoch its "
                                       "loss became non-finite)" if col in METRIC_COLUMNS else ""))
            elif (lo is not None and x < lo) or (hi is not None and x > hi) or (integer and x != int(x)):
                rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
                what = "a whole number " if integer else ""
                problems.append(f"{where}: {name(i)}, column {col}: {x:g} is out of range "
                                f"(expected {what}{rng})")
    problems += fraction_accuracies(numeric, where)
    if not problems:
        has_value = pd.concat([numeric[c].notna() for c in metrics if c in numeric], axis=1).any(axis=1)
        summary_means = [c for c in ("mean_best", "mean_final") if c in numeric]
        if summary_means:
            has_value |= pd.concat([numeric[c].notna() for c in summary_means], axis=1).any(axis=1)
        if not has_value.any():
            problems.append(f"{where}: no run has a value in any metric column "
                            f"({', '.join(metrics)}); nothing can be judged")
    # Duplicates: a run counted twice raises n and shrinks p.
    first_key: dict = {}
    dup_rows: set[int] = set()
    if "key" in df.columns:
        for i, k in df["key"].items():
            if pd.isna(k):
                continue
            if k in first_key:
                dup_rows.add(i)
                problems.append(f"{where}: {name(i)}: key {_fmt(k)} repeats {name(first_key[k])}; "
                                f"a run may appear once: delete the copy")
            else:
                first_key[k] = i
    config = [c for c in CONFIG_COLUMNS + ["seed"] if c in df.columns]
    runs = df[is_run & ~df.index.isin(dup_rows)]
    seen: dict = {}
    for i, row in zip(runs.index, runs[config].itertuples(index=False, name=None)):
        ident = tuple("" if pd.isna(v) else v for v in row)
        if ident in seen:
            problems.append(f"{where}: {name(i)}: the same configuration and seed as {name(seen[ident])} "
                            f"({', '.join(f'{c}={v}' for c, v in zip(config, ident) if v != '')}); "
                            f"a run may appear once: delete the copy")
        else:
            seen[ident] = i
    if "dataset" in df.columns:
        counts = df["dataset"].dropna().value_counts()
        if len(counts) > 1:
            problems.append(f"{where}: runs of {len(counts)} datasets "
                            f"({', '.join(f'{d}: {n} rows' for d, n in counts.items())}); arms never "
                            f"mix datasets: give one dataset per source (split the file)")
    if problems:
        if len(problems) > MAX_LISTED:
            problems = problems[:MAX_LISTED] + [f"{where}: ... and {len(problems) - MAX_LISTED} more problems"]
        raise RunsError(problems)

