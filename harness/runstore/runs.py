"""Runs: one DataFrame row per run (config columns + metrics), from any source.

Fresh training, the store, the paper's published numbers and an exported ``runs.csv`` all
become the same table, so claims select their arms by column values and never care where the
numbers came from. A row is either one run (``kind="run"``, ``value`` columns filled) or a
published summary of several runs (``kind="summary"``: ``n``, ``mean``, ``std_pop``), which
is all the paper printed for some tables.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import pandas as pd

from harness.declare import questions
from harness.declare.spec import added_field_defaults
from harness.runstore.divergence import arm_problem
from harness.runstore.validate import CONFIG_COLUMNS, RunsError, check_runs, misspelled_columns
from harness.statistics.stats import Arm

REPO = Path(__file__).resolve().parents[2]
PUBLISHED_CSV = REPO / "fixtures" / "published_results.csv"
ADDED = added_field_defaults()  # what a record without a later field trained

METRICS = ["best_test_acc", "final_test_acc", "grad_metric"]
#: Optional metrics: present in this suite's own runs, absent from the paper's table.
EXTRA_METRICS = ["heldout_best_test_acc"]
LIST_COLUMNS = ["test_acc", "test_acc_a", "test_acc_b", "train_loss", "train_acc", "grad_mean", "layer_grad_norm"]
COLUMNS = (["key", "source", "kind", "seed"] + CONFIG_COLUMNS + METRICS + EXTRA_METRICS
           + ["n", "mean_best", "std_best", "mean_final", "std_final",
              "diverged_epoch", "dropped_samples", "steps", "wall_s", "device", "engine"]
           + LIST_COLUMNS)


def record_to_row(rec: dict, source: str) -> dict:
    spec = rec["spec"]
    net, data, proto = spec["net"], spec["data"], spec["protocol"]
    row = {"key": rec["key"], "source": source, "kind": "run", "seed": spec["seed"],
           "arch": net["arch"], "width": net["width"], "depth": net["depth"],
           "block_order": net["block_order"], "norm": net["norm"], "activation": net["activation"],
           "stem": net["stem"], "dataset": data["name"], "init": net.get("init", ADDED["init"]),
           "image_size": net["image_size"], "train_size": data["train_size"],
           "epochs": proto["epochs"], "batch_size": proto["batch_size"], "lr": proto["lr"],
           # records written before the optimizer was a field trained the default, Adam
           **{k: proto.get(k, ADDED[k]) for k in ("optimizer", "momentum", "weight_decay")}}
    for col in METRICS + EXTRA_METRICS + ["diverged_epoch", "dropped_samples", "steps", "wall_s", "device", "engine"]:
        row[col] = rec.get(col)
    for col in LIST_COLUMNS:
        row[col] = rec.get(col)
    row["n"] = 1
    return row


def runs_frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = None
    # A field added after a table was written is blank there: those runs trained its default
    # (so arms, replays and A/A groups see one configuration, not "blank" and "default").
    for col, default in ADDED.items():
        if isinstance(default, str):
            df[col] = df[col].astype(object).where(df[col].notna(), default)
        else:
            df[col] = pd.to_numeric(df[col]).astype(float).fillna(default)
    return df[COLUMNS]


def from_records(records: list[dict], source: str = "fresh") -> pd.DataFrame:
    # Validated like any other source (harness.runstore.validate): a damaged record is one error.
    df = runs_frame([record_to_row(r, source) for r in records])
    if len(df):
        keys = df["key"].tolist()
        check_runs(df, "the run store", lambda i: f"run {keys[i]}")
    return df


def to_csv(df: pd.DataFrame, path: str | Path) -> None:
    """Export; list/dict columns travel as JSON so ``read_runs_csv`` restores them."""
    out = df.copy()
    for col in LIST_COLUMNS:
        out[col] = out[col].map(lambda v: json.dumps(v) if v is not None and not _isna(v) else "")
    tmp = Path(str(path) + ".tmp")
    out.to_csv(tmp, index=False)
    tmp.replace(path)


def _isna(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


#: The most runs a source may hold (docs/FAULTS.md, "Size"): 6x the full protocol's 750 runs.
#: Judging time grows with n (the trend claims' MDE simulates n runs per repetition): 148 s
#: at 5,000 on the 2-core machine (benchmarks/bench_source_size.py, docs/PERFORMANCE.md).
MAX_SOURCE_ROWS = 5_000


def count_rows(path: Path, limit: int) -> int:
    """Data rows of a CSV, read in chunks (constant memory): lines first, and only when they
    pass ``limit`` the rows as the csv module parses them (a quoted cell may span lines)."""
    lines = 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            lines += chunk.count(b"\n")
    if lines - 1 <= limit:
        return max(lines - 1, 0)
    import csv

    with open(path, newline="", errors="replace") as f:
        return max(sum(1 for _ in csv.reader(f)) - 1, 0)


def read_runs_csv(path: str | Path, source: str | None = None) -> pd.DataFrame:
    """A runs.csv, exported by a report or written by other training code, validated once
    (input schema: harness.runstore.validate, docs/FAULTS.md). Raises RunsError (a ValueError) whose
    ``problems`` are one line each."""
    path = Path(path)
    where = f"--source {path}"
    try:
        rows = count_rows(path, MAX_SOURCE_ROWS)
        if rows > MAX_SOURCE_ROWS:
            raise RunsError([f"{where}: {rows:,} rows, more than the {MAX_SOURCE_ROWS:,} a source may "
                             f"hold (docs/FAULTS.md, size); split it, e.g. one file per question"])
        df = pd.read_csv(path)
    except FileNotFoundError:
        raise RunsError([f"{where}: no such file; give 'seed' or a runs.csv "
                         f"exported by a previous run (reports/latest/runs.csv)"]) from None
    except IsADirectoryError:
        raise RunsError([f"{where}: is a folder; give a runs.csv file"]) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise RunsError([f"{where}: not a readable CSV ({str(exc).strip().splitlines()[0]})"]) from None
    problems = [f"{where}: {p}" for p in misspelled_columns(df.columns, set(COLUMNS))]
    if problems:
        raise RunsError(problems)
    # Defaults an outside trainer cannot know (harness.runstore.validate): every row is one run, named
    # by its line.
    if "kind" not in df.columns:
        df["kind"] = "run"
    df["kind"] = df["kind"].fillna("run")
    lines = [f"{path.name}:line{i + 2}" for i in range(len(df))]
    if "key" not in df.columns:
        df["key"] = lines
    df["key"] = [k if isinstance(k, str) and k else line for k, line in zip(df["key"], lines)]
    if "n" in df.columns:
        df.loc[(df["kind"] == "run") & df["n"].isna(), "n"] = 1
    else:
        df["n"] = 1
    check_runs(df, where, lambda i: f"line {i + 2}")
    for col in LIST_COLUMNS:
        if col in df.columns:
            df[col] = df[col].map(lambda s: json.loads(s) if isinstance(s, str) and s else None)
    df["source"] = source or str(path)
    return runs_frame(df.to_dict("records"))


# -- the paper's published numbers -------------------------------------------------------------
def _published_order(spelled: str) -> tuple[str, str | None]:
    """published_results.csv spells a layer order as one string, e.g. "conv-leakyrelu-norm" or
    "linear-norm-relu" (or "conv-norm-act": the activation is its own column): our
    (block_order, activation), activation None when the string does not name it."""
    _layer, first, second = spelled.split("-")
    if first == "norm":
        return "norm-act", None if second == "act" else second.replace("leakyrelu", "leaky_relu")
    return "act-norm", first.replace("leakyrelu", "leaky_relu")


def published_runs(path: str | Path = PUBLISHED_CSV) -> pd.DataFrame:
    """The paper's published numbers (read once per process; treat the frame as read-only)."""
    return _published_runs(str(path))


@functools.lru_cache(maxsize=4)
def _published_runs(path: str) -> pd.DataFrame:
    """The paper's published numbers as rows. Which tables are used (see fixtures/README.md):
    Q4 'results' (one run per setting), Q5 'results' (mean +- population std of 5 runs),
    Q6 'experiment2' (every run's value, CNN and MLP). Q5's 'printed_sweep' repeats one run of
    the same grid and Q6's 'experiment1' a second, summary-only CNN batch; they are kept out
    so that no run is counted twice."""
    raw = pd.read_csv(path)
    use = ((raw.question == "Q4") & (raw.table == "results")) | \
          ((raw.question == "Q5") & (raw.table == "results")) | \
          ((raw.question == "Q6") & (raw.table == "experiment2") & (raw.kind == "run"))
    rows = []
    for r in raw[use].itertuples():
        order, act = _published_order(r.order)
        best = r.metric == "best_epoch_test_acc"
        row = {"key": f"paper:{r.question}:{r.Index}", "source": "paper", "kind": r.kind,
               "seed": r.run if r.kind == "run" else None, "arch": r.arch, "width": 64,
               "depth": int(r.blocks) if r.arch == "cnn" else 0, "block_order": order,
               "norm": r.norm, "activation": act or r.activation, "dataset": "cifar10",
               "image_size": 32, "epochs": 10, "batch_size": int(r.batch_size), "lr": 1e-3,
               "stem": "block" if r.question == "Q4" else "conv", "n": int(r.n)}
        metric = "best_test_acc" if best else "final_test_acc"
        if r.kind == "run":
            row[metric] = r.value
            row["grad_metric"] = r.grad_avg if pd.notna(r.grad_avg) else None
        else:
            suffix = "best" if best else "final"
            row[f"mean_{suffix}"], row[f"std_{suffix}"] = r.mean, r.std_pop
        rows.append(row)
    frame = runs_frame(rows)
    check_runs(frame, f"the published numbers ({path})")
    return frame


# -- arms ---------------------------------------------------------------------------------------
def select(df: pd.DataFrame, **where) -> pd.DataFrame:
    mask = pd.Series(True, index=df.index)
    for col, val in where.items():
        mask &= df[col] == val
    return df[mask]


class MissingArm(LookupError):
    """The source has no runs for an arm a claim needs (the claim is untestable there)."""


def arm(df: pd.DataFrame, metric: str, label: str, **where) -> Arm:
    """The arm of rows matching ``where``: raw values when runs exist, else the published
    summary. Raises MissingArm when the source has neither."""
    rows = select(df, **where)
    runs = rows[(rows.kind == "run") & rows[metric].notna()]
    if len(runs):
        problem = arm_problem(df, runs, metric, label)  # diverged or stuck at chance
        if problem:
            raise MissingArm(problem)
        # runs without this metric are left out; the arm's label says how many (issue 27)
        lacking = int(((rows.kind == "run") & rows[metric].isna()).sum())
        shown = f"{label} [{lacking} run{'s' * (lacking > 1)} without {metric}]" if lacking else label
        return Arm.from_values(shown, runs[metric].astype(float).tolist())
    suffix = {"best_test_acc": "best", "final_test_acc": "final"}.get(metric)
    if suffix:
        summ = rows[(rows.kind == "summary") & rows[f"mean_{suffix}"].notna()]
        if len(summ):
            s = summ.iloc[0]
            return Arm.from_summary(label, float(s[f"mean_{suffix}"]), float(s[f"std_{suffix}"]), int(s["n"]))
    if df[metric].isna().all() and not (rows.kind == "summary").any():
        raise MissingArm(f"this source has no {metric} values (the column is absent or empty)")
    where_text = ", ".join(f"{k}={v}" for k, v in where.items())
    raise MissingArm(f"no {metric} for {label} ({where_text}) in this source")


def question_arm(df: pd.DataFrame, profile, question: str, metric: str, **levels) -> Arm:
    """The arm of ``question`` at ``levels`` (``harness.declare.questions``: e.g. ``"Q5", norm="batch",
    batch_size=16``): the one way a claim names the runs it compares. ``metric`` is a recorded
    column or one the question declares as computed from the recorded curves."""
    q = questions.get(question)
    if metric not in q.metrics and questions.metric_column(question, metric) is None:
        raise ValueError(f"{question} declares no metric {metric!r}; its metrics: "
                         f"{', '.join(q.metrics + tuple(m.name for m in q.derived))}")
    try:
        cell = questions.cell(question, profile, **levels)
    except ValueError as exc:  # e.g. a profile without this question's sizes
        raise MissingArm(str(exc)) from None
    want = cell.where()
    # matching reads only the fields the cell fixes (converting every column of every row
    # took half of a report's judging time)
    mask = [questions.matches(r, want) for r in df[[c for c in want if c in df.columns]].to_dict("records")]
    derived = questions.metric_column(question, metric)
    records = df.to_dict("records") if derived is not None or not any(mask) else None
    if not any(mask) and not any(questions.levels_of(question, r, profile) for r in records):
        # say what is missing at the level a user thinks in (a CSV of Q6 runs only)
        raise MissingArm(f"this source has no {question} runs ({q.title}, "
                         f"as the {profile.name} profile's grid has them)")
    if derived is not None:
        df = df.assign(**{metric: [derived.compute(r) for r in records]})
    df = df.assign(_arm=mask)
    return arm(df, metric, cell.label, _arm=True)
