"""Report writer: claim results + runs in, files out. Knows nothing of training.

``write_report`` makes ``reports/<UTC time>/`` holding

* ``report.md``   - how to read a verdict, one table with a row per claim, then one section
                    per question (arm means at the best and at the final epoch, figures);
* ``report.json`` - ``{"meta", "results", "run_keys"}``: everything the md was made from;
* ``runs.csv``    - every run (``harness.runs.to_csv``; ``--source reports/latest/runs.csv``
                    re-judges the claims on exactly these numbers);
* ``q4_accuracy_vs_depth.png``, ``q4_gradient_vs_depth.png``, ``q5_accuracy_vs_batch.png``,
  ``q6_orders.png`` - each skipped when its question has no runs;

and then repoints the symlink ``reports/latest`` at the new folder. Every file is written
under a temporary name and renamed, and ``latest`` moves only after all files are in place,
so a reader never sees a half-written report.

``claims_table`` and ``junit_properties`` serve the pytest plugin (terminal summary, JUnit
XML ``<property>`` elements).

Which rows of the runs table belong to which question is decided by ``question_of`` alone.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy import stats as sps

from harness.runs import COLUMNS, to_csv

__all__ = ["write_report", "claims_table", "junit_properties", "question_of", "Q5_DEPTH",
           "ORDER_LABELS", "FIGURES"]

#: Depth (blocks after the stem) of the Q5 network (``models.q5_norm_net``). Written out here so
#: that the report need not import torch; ``tests/test_report.py`` checks it against models.
Q5_DEPTH = 4

#: The seed's three Q6 orders, (block_order, activation) -> label.
ORDER_LABELS = {
    ("norm-act", "relu"): "BN->ReLU (case1)",
    ("act-norm", "relu"): "ReLU->BN (case2)",
    ("act-norm", "leaky_relu"): "LeakyReLU->BN (case3)",
}
_ORDER_COLORS = {"BN->ReLU (case1)": "tab:blue", "ReLU->BN (case2)": "tab:orange",
                 "LeakyReLU->BN (case3)": "tab:green"}

QUESTION_TITLES = {
    "Q4": "Q4. ReLU vs Sigmoid over depth",
    "Q5": "Q5. BatchNorm vs GroupNorm over batch size",
    "Q6": "Q6. Order of activation and BatchNorm (CNN and MLP)",
    "headline": "Headline. Best accuracy 80%+",
}
SECTIONS = ("Q4", "Q5", "Q6", "headline")

#: figure file -> question section it belongs to
FIGURES = {
    "q4_accuracy_vs_depth.png": "Q4",
    "q4_gradient_vs_depth.png": "Q4",
    "q5_accuracy_vs_batch.png": "Q5",
    "q5_learning_curves.png": "Q5",
    "q6_orders.png": "Q6",
}

SEED_DATASET = "CIFAR-10"
DASH = "—"


# =============================================================================================
# which question a run belongs to
# =============================================================================================

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


def _questions(df: pd.DataFrame) -> pd.Series:
    if df is None or not len(df):
        return pd.Series([], dtype=object)
    return pd.Series([question_of(r) for r in df.to_dict("records")], index=df.index, dtype=object)


def _order_label(row: Mapping) -> str:
    key = (_str(row.get("block_order")), _str(row.get("activation")))
    return ORDER_LABELS.get(key, f"{key[0]}+{key[1]}")


# =============================================================================================
# small value helpers
# =============================================================================================

def _str(v) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def _float(v) -> float | None:
    """A finite float, or None."""
    if v is None or isinstance(v, (bool, str)):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _plain(x: Any) -> Any:
    """JSON-ready copy: dataclasses / objects with ``to_dict`` become dicts, tuples and arrays
    lists, numpy scalars Python numbers, non-finite floats None (strict JSON has no NaN)."""
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, (int, np.integer)) and not isinstance(x, np.bool_):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    if hasattr(x, "to_dict") and callable(x.to_dict) and not isinstance(x, (pd.DataFrame, pd.Series)):
        return _plain(x.to_dict())
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return _plain(dataclasses.asdict(x))
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, set, frozenset, np.ndarray, pd.Series)):
        return [_plain(v) for v in (sorted(x, key=str) if isinstance(x, (set, frozenset)) else x)]
    if isinstance(x, Path):
        return str(x)
    try:
        if pd.isna(x):
            return None
    except (TypeError, ValueError):
        pass
    return str(x)


def _fmt(x, sign: bool = False, digits: int | None = None) -> str:
    """About three significant digits (or ``digits`` decimals); DASH for missing."""
    x = _float(x) if not (isinstance(x, float) and math.isinf(x)) else x
    if x is None:
        return DASH
    if math.isinf(x):
        return ("+inf" if sign else "inf") if x > 0 else "-inf"
    s = "+" if sign else ""
    if digits is not None:
        return f"{x:{s}.{digits}f}"
    ax = abs(x)
    if ax == 0:
        return f"{x:{s}.2f}"
    if ax >= 1e4 or ax < 1e-4:
        return f"{x:{s}.2e}"
    if ax >= 0.1:  # accuracy points and most effects: two decimals
        return f"{x:{s}.2f}"
    decimals = 2 - math.floor(math.log10(ax))  # three significant digits
    return f"{x:{s}.{decimals}f}"


def _fmt_p(p) -> str:
    p = _float(p)
    if p is None:
        return DASH
    if p == 0:
        return "0"
    if p < 1e-3:
        return f"{p:.0e}"
    return f"{p:.3f}"


def _fmt_n(n, terse: bool = False) -> str:
    """Per-arm n: ``5/5``; four or more equal arms compactly (``14 arms x 5``, terse ``14x5``)."""
    if n is None:
        return DASH
    if isinstance(n, (list, tuple, np.ndarray)):
        parts = [str(int(k)) if _float(k) is not None else "?" for k in n]
        if len(parts) >= 4 and len(set(parts)) == 1:
            return f"{len(parts)}x{parts[0]}" if terse else f"{len(parts)} arms x {parts[0]}"
        return "/".join(parts) if parts else DASH
    f = _float(n)
    return str(int(f)) if f is not None else DASH


def _signed(effect_label: str | None) -> bool:
    # ratios and Cohen's f are not signed quantities (same convention as harness.stats)
    return not (effect_label or "").startswith(("SD ratio", "Cohen's f"))


def _ev(result: Mapping, key: str = "evidence") -> dict | None:
    ev = result.get(key)
    if ev is None:
        return None
    ev = _plain(ev)
    return ev if isinstance(ev, dict) else None


def _ci_level(ev: Mapping) -> float:
    return _float(ev.get("ci_level")) or 0.95


def _effect_ci(ev: Mapping | None, with_label: bool = False, mark_level: bool = True) -> str:
    """``+3.21 [+1.02, +5.40]``; a non-95% interval is marked, e.g. ``(90% CI)``."""
    if not ev:
        return DASH
    signed = _signed(ev.get("effect_label"))
    eff = ev.get("effect")
    if _float(eff) is None and not ev.get("ci"):
        return DASH
    ci = ev.get("ci")
    has_ci = isinstance(ci, (list, tuple)) and len(ci) == 2
    # one number of decimals for the effect and its interval
    mags = [abs(v) for v in (_float(eff), *(map(_float, ci) if has_ci else ())) if v is not None]
    big = max(mags) if mags else 0.0
    digits = 2 if (big >= 0.1 or big == 0) else (None if big < 1e-4 else 2 - math.floor(math.log10(big)))
    if big >= 1e4:
        digits = None
    out = _fmt(eff, sign=signed, digits=digits)
    if has_ci:
        out += f" [{_fmt(ci[0], sign=signed, digits=digits)}, {_fmt(ci[1], sign=signed, digits=digits)}]"
        level = _ci_level(ev)
        if mark_level and abs(level - 0.95) > 1e-9:
            out += f" ({level * 100:g}% CI)"
    if with_label and ev.get("effect_label"):
        out = f"{ev['effect_label']}: {out}"
    return out


def _verdict_text(result: Mapping, ev: Mapping | None = None) -> str:
    ev = ev if ev is not None else _ev(result)
    v = (ev or {}).get("verdict") or DASH
    if result.get("smoke_unshowable"):
        v += " (smoke-unshowable)"
    return v


def _cell(x) -> str:
    s = "" if x is None else str(x)
    s = " ".join(s.split())
    return s.replace("|", "\\|")


def _bold(s: str) -> str:
    return s if s == DASH else f"**{s}**"


def _md_table(header: list[str], rows: list[list], align: str | None = None) -> list[str]:
    align = align or "l" * len(header)
    sep = ["---:" if a == "r" else ":---:" if a == "c" else "---" for a in align]
    out = ["| " + " | ".join(_cell(h) for h in header) + " |",
           "| " + " | ".join(sep) + " |"]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


# =============================================================================================
# arm statistics (for tables and figures)
# =============================================================================================

_SUMMARY_COLS = {"best_test_acc": ("mean_best", "std_best"), "final_test_acc": ("mean_final", "std_final")}


def _tcrit(n: int, level: float = 0.95) -> float:
    return float(sps.t.ppf(0.5 + level / 2, n - 1)) if n >= 2 else math.nan


def _arm_stats(rows: pd.DataFrame, metric: str) -> dict | None:
    """mean, sample sd, n and the 95% t half-width of ``metric`` over ``rows``: from the run
    rows when they hold values, else from a published summary row (``summary=True``: ``sd``
    is then the published population sd and the half-width uses the sample sd it implies)."""
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
        return {"values": vals, "n": n, "mean": mean, "sd": sd, "half": half, "summary": False}
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
        return {"values": np.array([]), "n": n, "mean": mean,
                "sd": sd_pop if sd_pop is not None else math.nan, "half": half, "summary": True}
    return None


def _stat_cell(st: dict | None, n_rows: int | None = None, digits: int = 2) -> str:
    if st is None:
        return DASH
    sd = st["sd"]
    fmt = (lambda v: _fmt(v, digits=digits)) if digits is not None else _fmt
    out = fmt(st["mean"]) + (f" ± {fmt(sd)}" if math.isfinite(sd) else "")
    if st["n"] == 1:
        out += " (1 run)"
    elif st["summary"]:
        out += f" (n={st['n']}, pop. sd)"
    elif n_rows is None or st["n"] != n_rows:
        out += f" (n={st['n']})"
    return out


# =============================================================================================
# write_report
# =============================================================================================

def _utc_stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H-%M-%SZ")


def _make_folder(reports_dir: Path) -> Path:
    stamp = _utc_stamp()
    for i in range(1, 10_000):
        path = reports_dir / (stamp if i == 1 else f"{stamp}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a report folder under {reports_dir}")


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _repoint_latest(reports_dir: Path, target: Path) -> None:
    link = reports_dir / "latest"
    if link.exists() and not link.is_symlink():
        raise RuntimeError(f"{link} exists and is not a symlink; move it away so the report "
                           f"writer can point it at the newest report")
    tmp = reports_dir / f".latest.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    os.symlink(target.name, tmp)  # relative: survives moving the reports folder
    os.replace(tmp, link)


def write_report(reports_dir: Path, results: list[dict], runs: pd.DataFrame,
                 seed_runs: pd.DataFrame, meta: dict) -> Path:
    """Write one report folder (see the module docstring) and point ``latest`` at it.
    Returns the new folder."""
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    meta = _plain(dict(meta or {}))
    results = [_plain(dict(r)) if not isinstance(r, dict) else _plain(r) for r in (results or [])]
    runs = _normalise_runs(runs)
    seed_runs = _normalise_runs(seed_runs)

    folder = _make_folder(reports_dir)
    written_at = datetime.now(timezone.utc)
    ctx = _Context(meta, runs, seed_runs)

    figures: dict[str, bool] = {}
    for name, fn in (("q4_accuracy_vs_depth.png", _fig_q4_accuracy),
                     ("q4_gradient_vs_depth.png", _fig_q4_gradient),
                     ("q5_accuracy_vs_batch.png", _fig_q5),
                     ("q5_learning_curves.png", _fig_q5_curves),
                     ("q6_orders.png", _fig_q6)):
        fig = fn(ctx)
        figures[name] = fig is not None
        if fig is not None:
            tmp = folder / f".{name}.tmp"
            fig.savefig(tmp, format="png", dpi=110)
            os.replace(tmp, folder / name)

    tmp_csv = folder / ".runs.csv.tmp"
    to_csv(runs, tmp_csv)  # to_csv itself writes <path>.tmp and renames it
    os.replace(tmp_csv, folder / "runs.csv")

    run_keys = _all_run_keys(runs, results)
    doc = {"meta": meta, "results": results, "run_keys": run_keys,
           "written": written_at.isoformat(timespec="seconds"),
           "figures": [k for k, v in figures.items() if v]}
    _atomic_write_text(folder / "report.json", json.dumps(doc, indent=2, allow_nan=False) + "\n")

    md = _markdown(ctx, results, figures, written_at)
    _atomic_write_text(folder / "report.md", md)

    _repoint_latest(reports_dir, folder)
    return folder


def _normalise_runs(df: pd.DataFrame | None) -> pd.DataFrame:
    if df is None:
        df = pd.DataFrame(columns=COLUMNS)
    df = df.copy()
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = None
    return df.reset_index(drop=True)


def _all_run_keys(runs: pd.DataFrame, results: list[dict]) -> list[str]:
    keys: list[str] = []
    seen: set[str] = set()
    for k in list(runs["key"]) + [k for r in results for k in (r.get("run_keys") or [])]:
        k = _str(k)
        if k is not None and k not in seen:
            seen.add(k)
            keys.append(k)
    return keys


class _Context:
    """The runs split by question, plus labels used by every figure and section."""

    def __init__(self, meta: dict, runs: pd.DataFrame, seed: pd.DataFrame):
        self.meta = meta
        self.runs = runs
        self.seed = seed
        self.q = _questions(runs)
        self.seed_q = _questions(seed)
        datasets = sorted({d for d in (_str(v) for v in runs["dataset"]) if d})
        # the runs' own dataset column wins (meta may say "(from source)")
        self.dataset = ", ".join(datasets) if datasets else (meta.get("dataset") or "?")
        self.profile = meta.get("profile") or "?"
        # The seed's values get their own (right-hand) y axis unless this run is on CIFAR-10
        # too: levels on different datasets are not comparable, and one shared axis would
        # squash this run's differences (e.g. Fashion-MNIST ~85% vs the seed's MLP ~55%).
        names = set(datasets) or ({str(meta["dataset"])} if meta.get("dataset") else set())
        self.seed_own_axis = not names or any(_canon(d) != "cifar10" for d in names)

    def of(self, question: str, seed: bool = False) -> pd.DataFrame:
        df, q = (self.seed, self.seed_q) if seed else (self.runs, self.q)
        if not len(df):
            return df
        return df[q == question]

    def run_note(self) -> str:
        where = ", right-hand axis" if self.seed_own_axis else ""
        return (f"this run: {self.dataset} ({self.profile} profile); hollow markers: the seed "
                f"on {SEED_DATASET}{where}")

    def seed_axis(self, ax, ylabel: str, log: bool = False):
        """The axes the seed's reference values are drawn on (see ``seed_own_axis``)."""
        if not self.seed_own_axis:
            return ax
        rax = ax.twinx()
        rax.set_ylabel(f"seed, {SEED_DATASET}: {ylabel}", color="dimgray")
        rax.tick_params(axis="y", colors="dimgray")
        if log:
            rax.set_yscale("log")
        return rax

    def this_ylabel(self, ylabel: str) -> str:
        return f"this run: {ylabel}" if self.seed_own_axis else ylabel


def _canon(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


# =============================================================================================
# figures
# =============================================================================================

_RNG_SEED = 20240601


def _new_fig(w: float = 7.6, h: float = 5.0, ncols: int = 1):
    fig = Figure(figsize=(w, h), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def _num(df: pd.DataFrame, col: str) -> pd.Series:
    return pd.to_numeric(df[col], errors="coerce")


def _plot_trend(ax, rows: pd.DataFrame, xcol: str, metric: str, color: str, name: str,
                rng: np.random.Generator, xoffset, jitter, positive_only: bool = False) -> set:
    """Per-seed points (jittered), mean line and 95% t-interval, grouped by ``xcol``.
    Returns what was drawn: a subset of {"points", "mean"}."""
    xs = sorted({x for x in (_float(v) for v in rows[xcol]) if x is not None})
    means, xm, lo_hi = [], [], []
    drew: set = set()
    for x in xs:
        grp = rows[_num(rows, xcol) == x]
        st = _arm_stats(grp, metric)
        if st is None:
            continue
        vals = st["values"]
        if positive_only:
            vals = vals[vals > 0]
        xc = xoffset(x)
        if len(vals):
            ax.scatter(jitter(xc, len(vals), rng), vals, s=16, color=color, alpha=0.45,
                       linewidths=0, zorder=2)
            drew.add("points")
        if positive_only and st["mean"] <= 0:
            continue
        xm.append(xc)
        means.append(st["mean"])
        lo_hi.append(st["half"] if math.isfinite(st["half"]) else 0.0)
        drew.add("mean")
    if means:
        yerr = np.array(lo_hi)
        if positive_only:  # keep the lower whisker above 0 on a log axis
            yerr = np.vstack([np.minimum(yerr, np.array(means) * 0.999), yerr])
        ax.errorbar(xm, means, yerr=yerr, color=color, marker="o", ms=6, lw=1.8, capsize=4,
                    zorder=3)
    return drew


def _plot_seed_ref(ax, rows: pd.DataFrame, xcol: str, metric: str, color: str, xoffset,
                   positive_only: bool = False) -> bool:
    xs = sorted({x for x in (_float(v) for v in rows[xcol]) if x is not None})
    xm, ym, err = [], [], []
    for x in xs:
        st = _arm_stats(rows[_num(rows, xcol) == x], metric)
        if st is None or (positive_only and st["mean"] <= 0):
            continue
        xm.append(xoffset(x))
        ym.append(st["mean"])
        err.append(st["sd"] if (st["n"] >= 2 and math.isfinite(st["sd"])) else 0.0)
    if not xm:
        return False
    ax.errorbar(xm, ym, yerr=err if any(err) else None, color=color, marker="o", ms=7,
                mfc="white", mew=1.6, lw=1.3, ls="--", capsize=3, zorder=4)
    return True


def _lin_jitter(width: float):
    def f(xc, k, rng):
        return xc + rng.uniform(-width, width, size=k)
    return f


def _log_jitter(width: float):
    def f(xc, k, rng):
        return xc * 2 ** rng.uniform(-width, width, size=k)
    return f


def _legend_below(fig, handles, ncol):
    """The legend under the axes, so it never hides data."""
    fig.legend(handles=handles, loc="outside lower center", ncol=ncol, fontsize=8.5,
               frameon=False)


def _handles(series: list[tuple[str, str, set]], seed_desc: str, own_axis: bool) -> list:
    """Legend entries for (name, color, drawn parts) series: mean ± 95% CI, per seed, and the
    seed's published values; only the parts that were drawn."""
    hs = []
    for name, color, parts in series:
        if "mean" in parts:
            hs.append(Line2D([], [], color=color, marker="o", lw=1.8,
                             label=f"{name}: mean ± 95% CI"))
        if "points" in parts:
            hs.append(Line2D([], [], color=color, marker="o", lw=0, alpha=0.45, ms=4,
                             label=f"{name}: one seed"))
        if "seed" in parts:
            hs.append(Line2D([], [], color=color, marker="o", mfc="white", mew=1.6, ls="--",
                             label=f"{name}: seed ({SEED_DATASET}, {seed_desc})"
                                   + (", right axis" if own_axis else "")))
    return hs


_ACT_COLORS = {"relu": ("ReLU", "tab:blue"), "sigmoid": ("Sigmoid", "tab:red")}
_NORM_COLORS = {"batch": ("BatchNorm", "tab:blue"), "group": ("GroupNorm", "tab:green")}


def _fig_q4(ctx: _Context, metric: str, ylabel: str, title: str, log: bool):
    runs, seed = ctx.of("Q4"), ctx.of("Q4", seed=True)
    if not len(runs):
        return None
    fig, (ax,) = _new_fig(w=8.2, h=5.8)
    rax = ctx.seed_axis(ax, ylabel, log=log) if len(seed) else ax
    rng = np.random.default_rng(_RNG_SEED)
    series, depths = [], set()
    for i, (act, (name, color)) in enumerate(_ACT_COLORS.items()):
        off = (-0.09, 0.09)[i]
        shift = (lambda x, o=off: x + o)
        mine = runs[runs["activation"].astype(object) == act]
        ref = seed[seed["activation"].astype(object) == act] if len(seed) else seed
        drew = _plot_trend(ax, mine, "depth", metric, color, name, rng, shift, _lin_jitter(0.05),
                           positive_only=log)
        if len(ref) and _plot_seed_ref(rax, ref, "depth", metric, color, shift, positive_only=log):
            drew.add("seed")
        if drew:
            series.append((name, color, drew))
        for df in (mine, ref):
            if len(df):
                depths |= {int(d) for d in (_float(v) for v in df["depth"]) if d is not None}
    if not series:
        return None
    if log:
        ax.set_yscale("log")
    ax.set_xticks(sorted(depths))
    ax.set_xlabel("depth: conv blocks after the stem")
    ax.set_ylabel(ctx.this_ylabel(ylabel))
    ax.set_title(f"{title}\n{ctx.run_note()}", fontsize=10.5)
    ax.grid(True, which="major", alpha=0.3)
    _legend_below(fig, _handles(series, "1 run", rax is not ax), ncol=2)
    return fig


def _fig_q4_accuracy(ctx: _Context):
    return _fig_q4(ctx, "best_test_acc", "best-epoch test accuracy (%)",
                   "Q4: best-epoch test accuracy vs depth, ReLU and Sigmoid", log=False)


def _fig_q4_gradient(ctx: _Context):
    return _fig_q4(ctx, "grad_metric", "mean |grad| per parameter tensor (log scale)",
                   "Q4: mean gradient magnitude vs depth, ReLU and Sigmoid", log=True)


def _fig_q5(ctx: _Context):
    runs, seed = ctx.of("Q5"), ctx.of("Q5", seed=True)
    if not len(runs):
        return None
    fig, (ax,) = _new_fig(w=8.2, h=5.8)
    ylabel = "best-epoch test accuracy (%)"
    rax = ctx.seed_axis(ax, ylabel) if len(seed) else ax
    rng = np.random.default_rng(_RNG_SEED + 1)
    series, batches = [], set()
    for i, (norm, (name, color)) in enumerate(_NORM_COLORS.items()):
        f = 2 ** (-0.07, 0.07)[i]
        shift = (lambda x, f=f: x * f)
        mine = runs[runs["norm"].astype(object) == norm]
        ref = seed[seed["norm"].astype(object) == norm] if len(seed) else seed
        drew = _plot_trend(ax, mine, "batch_size", "best_test_acc", color, name, rng, shift,
                           _log_jitter(0.04))
        if len(ref) and _plot_seed_ref(rax, ref, "batch_size", "best_test_acc", color, shift):
            drew.add("seed")
        if drew:
            series.append((name, color, drew))
        for df in (mine, ref):
            if len(df):
                batches |= {int(b) for b in (_float(v) for v in df["batch_size"]) if b}
    if not series:
        return None
    ax.set_xscale("log", base=2)
    ticks = sorted(batches)
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(b) for b in ticks])
    ax.minorticks_off()
    if ticks:
        ax.set_xlim(ticks[0] / 2 ** 0.5, ticks[-1] * 2 ** 0.5)
    ax.set_xlabel("batch size (log2 scale; same learning rate at every size)")
    ax.set_ylabel(ctx.this_ylabel(ylabel))
    ax.set_title(f"Q5: best-epoch test accuracy vs batch size, BatchNorm and GroupNorm\n"
                 f"{ctx.run_note()}", fontsize=10.5)
    ax.grid(True, alpha=0.3)
    _legend_below(fig, _handles(series, "mean ± sd, n=5", rax is not ax), ncol=2)
    return fig


_BATCH_STYLES = ("-", "--", ":", "-.")


def _fig_q5_curves(ctx: _Context):
    """Q5 learning curves: mean test accuracy per epoch (left) and per optimizer step (right,
    log scale) for each norm and batch size. At equal epochs batch 2 takes 64x the steps of
    batch 128; the right panel shows whether a small batch leads only because it has taken
    more steps (its curve sits on the others at equal steps) or at convergence too."""
    runs = ctx.of("Q5")
    if not len(runs) or "test_acc" not in runs:
        return None
    curves = []
    for (norm, batch), g in runs.groupby(["norm", "batch_size"], sort=True):
        accs = [a for a in g["test_acc"] if isinstance(a, list) and a]
        if not accs or norm not in _NORM_COLORS:
            continue
        n_ep = min(len(a) for a in accs)
        mean = np.mean([a[:n_ep] for a in accs], axis=0)
        steps = _float(g["steps"].iloc[0])
        per_epoch = steps / len(accs[0]) if steps else None
        curves.append((norm, int(batch), mean, per_epoch, len(accs)))
    if not curves:
        return None
    fig, (ax_e, ax_s) = _new_fig(w=11.0, h=5.0, ncols=2)
    batches = sorted({c[1] for c in curves})
    for norm, batch, mean, per_epoch, n in curves:
        name, color = _NORM_COLORS[norm]
        style = _BATCH_STYLES[batches.index(batch) % len(_BATCH_STYLES)]
        epochs = np.arange(1, len(mean) + 1)
        label = f"{name}, batch {batch} (n={n})"
        ax_e.plot(epochs, mean, style, color=color, marker="o", ms=3, label=label)
        if per_epoch:
            ax_s.plot(epochs * per_epoch, mean, style, color=color, marker="o", ms=3, label=label)
    ax_e.set_xlabel("epoch")
    ax_s.set_xlabel("optimizer steps (log scale)")
    ax_s.set_xscale("log")
    for ax in (ax_e, ax_s):
        ax.set_ylabel("mean test accuracy (%)")
        ax.grid(True, alpha=0.3)
    ax_e.set_title(f"Q5 learning curves by epoch ({ctx.dataset}, {ctx.profile} profile)", fontsize=10.5)
    ax_s.set_title("the same curves by optimizer step", fontsize=10.5)
    handles, labels = ax_e.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(3, len(labels)), fontsize=8.5)
    return fig


def _fig_q6(ctx: _Context):
    runs, seed = ctx.of("Q6"), ctx.of("Q6", seed=True)
    if not len(runs):
        return None
    fig, axes = _new_fig(w=12.0, h=5.4, ncols=2)
    rng = np.random.default_rng(_RNG_SEED + 2)
    labels = list(ORDER_LABELS.values())
    drawn: set = set()
    for ax, arch, title in zip(axes, ("cnn", "mlp"), ("CNN (Q6 CNN, BatchNorm blocks)",
                                                       "MLP (only the first layer's order varies)")):
        mine = runs[runs["arch"].astype(object) == arch]
        ref = seed[seed["arch"].astype(object) == arch] if len(seed) else seed
        rax = ctx.seed_axis(ax, "final-epoch test acc. (%)") if len(ref) else ax
        mine_lab = mine.apply(_order_label, axis=1) if len(mine) else pd.Series([], dtype=object)
        ref_lab = ref.apply(_order_label, axis=1) if len(ref) else pd.Series([], dtype=object)
        extra = [lab for lab in list(mine_lab) + list(ref_lab) if lab not in labels]
        cats = labels + sorted(set(extra))
        mine_drawn = False
        for i, lab in enumerate(cats):
            color = _ORDER_COLORS.get(lab, "tab:gray")
            st = _arm_stats(mine[mine_lab == lab], "final_test_acc") if len(mine) else None
            if st is not None:
                mine_drawn = True
                if len(st["values"]):
                    ax.scatter(i - 0.24 + rng.uniform(-0.05, 0.05, len(st["values"])), st["values"],
                               s=24, color=color, alpha=0.6, linewidths=0, zorder=2)
                    drawn.add("points")
                ax.errorbar([i - 0.04], [st["mean"]],
                            yerr=[st["half"]] if math.isfinite(st["half"]) else None,
                            color="black", marker="D", ms=6, mfc=color, capsize=6, lw=1.8, zorder=3)
                drawn.add("mean")
            rs = _arm_stats(ref[ref_lab == lab], "final_test_acc") if len(ref) else None
            if rs is not None:
                if len(rs["values"]):
                    rax.scatter(i + 0.2 + rng.uniform(-0.04, 0.04, len(rs["values"])), rs["values"],
                               s=30, facecolors="white", edgecolors=color, linewidths=1.4, zorder=4)
                    drawn.add("seed")
                else:
                    rax.errorbar([i + 0.2], [rs["mean"]],
                                yerr=[rs["sd"]] if math.isfinite(rs["sd"]) else None, color=color,
                                marker="s", mfc="white", ls="none", capsize=3, zorder=4)
                    drawn.add("seed-summary")
        ax.set_xticks(range(len(cats)))
        ax.set_xticklabels([c.replace(" (", "\n(") for c in cats], fontsize=9)
        ax.set_xlim(-0.6, len(cats) - 0.4)
        ax.set_title(title if mine_drawn else f"{title}: no runs in this report", fontsize=10.5)
        ax.set_xlabel("layer order")
        ax.set_ylabel(ctx.this_ylabel("final-epoch test acc. (%)"))
        ax.grid(True, axis="y", alpha=0.3)
    handles = []
    if "points" in drawn:
        handles.append(Line2D([], [], color="gray", marker="o", lw=0, alpha=0.6,
                              label="one seed (this run)"))
    if "mean" in drawn:
        handles.append(Line2D([], [], color="black", marker="D", mfc="gray", lw=1.8,
                              label="mean ± 95% CI (this run)"))
    if "seed" in drawn:
        handles.append(Line2D([], [], color="gray", marker="o", mfc="white", lw=0,
                              label=f"seed ({SEED_DATASET}, each of its 5 runs)"
                                    + (", right axis" if ctx.seed_own_axis else "")))
    if "seed-summary" in drawn:
        handles.append(Line2D([], [], color="gray", marker="s", mfc="white", lw=1,
                              label=f"seed ({SEED_DATASET}, mean ± sd)"
                                    + (", right axis" if ctx.seed_own_axis else "")))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles) or 1, fontsize=9,
               frameon=False)
    fig.suptitle(f"Q6: final-epoch test accuracy by order of activation and BatchNorm\n"
                 f"{ctx.run_note()}", fontsize=11)
    return fig


# =============================================================================================
# markdown
# =============================================================================================

def _compact(v) -> str:
    if isinstance(v, list):
        return "(" + ", ".join(_compact(x) for x in v) + ")"
    if isinstance(v, Mapping):
        return json.dumps(v)
    return DASH if v is None else str(v)


def _fmt_wall(s) -> str:
    s = _float(s)
    if s is None:
        return DASH
    if s < 60:
        return f"{s:.1f} s"
    m, sec = divmod(int(round(s)), 60)
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min {sec:02d} s" if h else f"{m} min {sec:02d} s"


def _describe_source(src) -> str:
    src = _str(src)
    if src is None:
        return DASH
    if src == "fresh":
        return "fresh (trained or read from the run store in this session)"
    if src == "seed":
        return "seed (the seed's published numbers re-judged; nothing trained)"
    return f"`{src}` (runs re-read from an exported runs.csv; nothing trained)"


_HOW_TO_READ = """\
## How to read a verdict

Each claim of the seed is turned into one statistical test on this run's numbers, at
alpha = {alpha} (declared in the profile before any data). The verdict is one of:

- **supported**: significant in the direction the seed claims (one-sided p < alpha; for an
  equivalence claim, the {tost_pct} CI lies inside the margin, i.e. TOST).
- **refuted**: significant *against* the claim (the mirror test has p < alpha; for
  equivalence, the {tost_pct} CI lies entirely outside the margin).
- **inconclusive**: neither. The minimum detectable effect (MDE, 80% power) says how large a
  true effect these seeds could have found; "inconclusive" is not "no effect".
- **untestable**: the data cannot support the test (n < 2, only summaries, missing arms);
  the note says why.
- **smoke-unshowable**: the claim cannot be shown at smoke scale (too few epochs, a small
  dataset or network); the test still runs and reports its numbers, but the pytest outcome
  is not a failure. Rerun with `--profile full` to judge it.
- **xfailed**: the seed's *own* published numbers refute (or cannot support) its sentence, so
  the test is expected to fail; *xpassed* means this run supports it nevertheless.

Effects are signed so that **positive = as the seed claims** (except ratios, which are
unsigned). Intervals are 95% two-sided t-intervals unless marked ({tost_pct} CI for TOST).
"p" is the test's own p-value; "p (adjusted)" is adjusted over all claims of this run by the
profile's multiplicity rule (Holm unless the profile says otherwise). "seed's verdict" is the same test applied to the seed's published CIFAR-10 numbers.
"""


def _arms_compact(ev: Mapping | None) -> str:
    if not ev:
        return DASH
    parts = []
    for a in ev.get("arms") or []:
        a = a if isinstance(a, Mapping) else {}
        mean, sd = _float(a.get("mean")), _float(a.get("sd"))
        if mean is None:
            parts.append(f"{a.get('label', '?')}={DASH}")
            continue
        s = f"{a.get('label', '?')}={_fmt(mean)}"
        if sd is not None:
            s += f"±{_fmt(sd)}"
        parts.append(s)
    return "; ".join(parts) if parts else DASH


def _seed_verdict(result: Mapping) -> str:
    sev = _ev(result, "seed_evidence")
    if not sev:
        return DASH
    v = sev.get("verdict") or DASH
    p = _float(sev.get("p"))
    out = f"{v} (p={_fmt_p(p)})" if p is not None else v
    # issue 9: levels that are argmaxes of the seed's own table bias a verdict on that table
    return out + " ‡" if result.get("levels_from_seed_table") else out


def _adjusted_cell(result: Mapping) -> str:
    """issue 9: the session-end verdict under the profile's multiplicity rule."""
    v = _str(result.get("verdict_adjusted"))
    return f"{v} ({result.get('multiplicity')})" if v and result.get("multiplicity") else DASH


def _heldout_cell(result: Mapping) -> str:
    """issue 9: the verdict with the epoch chosen on test half A and scored on half B."""
    h = result.get("heldout")
    if not isinstance(h, Mapping):
        return DASH
    if h.get("status") != "judged":
        return _str(h.get("status")) or DASH
    cell = f"{h.get('verdict')} ({_fmt_p(_float(h.get('p')))})"
    return _bold("changes: " + cell) if h.get("changed") else "same: " + cell


def _question_key(result: Mapping) -> str:
    q = _str(result.get("question")) or "?"
    return q if q in SECTIONS else "other"


def _markdown(ctx: _Context, results: list[dict], figures: dict[str, bool],
              written_at: datetime) -> str:
    meta = ctx.meta
    alpha = _float(meta.get("alpha"))
    alpha_s = f"{alpha:g}" if alpha is not None else "the profile's alpha (not recorded)"
    tost_pct = f"{100 * (1 - 2 * alpha):g}%" if alpha is not None else "1-2*alpha"
    L: list[str] = []
    L.append(f"# Claim report: profile `{ctx.profile}`, dataset `{ctx.dataset}`, "
             f"{written_at.strftime('%Y-%m-%d')}")
    L.append("")
    L.append(f"- **device**: {meta.get('device', DASH)}")
    L.append(f"- **source of runs**: {_describe_source(meta.get('source'))}")
    L.append(f"- **started**: {meta.get('started', DASH)}; **written**: "
             f"{written_at.strftime('%Y-%m-%d %H:%M:%S UTC')}; **wall time**: {_fmt_wall(meta.get('wall_s'))}")
    L.append(f"- **alpha**: {alpha_s if alpha is not None else DASH}")
    if meta.get("store"):
        L.append(f"- **run store**: `{meta['store']}`")
    if meta.get("command"):
        L.append(f"- **command**: `{meta['command']}`")
    versions = meta.get("versions")
    if isinstance(versions, Mapping) and versions:
        L.append("- **versions**: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    elif versions:
        L.append(f"- **versions**: {versions}")
    known = {"profile", "dataset", "device", "source", "alpha", "started", "wall_s", "versions",
             "store", "command"}
    for k, v in meta.items():
        if k not in known:
            if isinstance(v, Mapping):
                v = ", ".join(f"{kk}={_compact(vv)}" for kk, vv in v.items())
            L.append(f"- **{k}**: {_compact(v)}")
    n_runs = int((ctx.runs["kind"].astype(object) != "summary").sum()) if len(ctx.runs) else 0
    L.append(f"- **runs**: {n_runs} runs in `runs.csv` ({len(ctx.runs)} rows); "
             "every claim's numbers are also in `report.json`")
    unassigned = int(ctx.q.isna().sum()) if len(ctx.q) else 0
    if unassigned:
        L.append(f"- **{unassigned} rows match no question** (see `question_of` in harness/report.py)")
    if ctx.seed_own_axis and len(ctx.runs):
        L.append(f"- The seed's numbers are on {SEED_DATASET}; this run is on `{ctx.dataset}`, so "
                 "absolute accuracies differ: compare directions and effects, not levels.")
    # verdict / outcome counts
    verdicts: dict[str, int] = {}
    outcomes: dict[str, int] = {}
    for r in results:
        ev = _ev(r)
        verdicts[(ev or {}).get("verdict") or "no evidence"] = verdicts.get((ev or {}).get("verdict") or "no evidence", 0) + 1
        o = _str(r.get("outcome")) or DASH
        outcomes[o] = outcomes.get(o, 0) + 1
    L.append(f"- **claims**: {len(results)}; verdicts: "
             + (", ".join(f"{v} {k}" for k, v in sorted(verdicts.items())) or DASH)
             + "; pytest: " + (", ".join(f"{v} {k}" for k, v in sorted(outcomes.items())) or DASH))
    L.append("")
    L.append(_HOW_TO_READ.format(alpha=alpha_s, tost_pct=tost_pct))

    # ---- the one table
    L.append("## Claims")
    L.append("")
    header = ["id", "the seed's sentence", "seed's verdict (p)", "this run: arms (mean±sd)",
              "effect [95% CI]", "test", "p", "p (adjusted)", "verdict", "verdict (adjusted)",
              "held-out epoch", "n", "pytest"]
    rows = []
    for r in results:
        ev = _ev(r)
        rows.append([
            f"`{r.get('id', '?')}`", r.get("sentence", ""), _seed_verdict(r), _arms_compact(ev),
            _effect_ci(ev, with_label=True), (ev or {}).get("test", DASH),
            _fmt_p((ev or {}).get("p")), _fmt_p(r.get("p_adjusted")),
            _bold(_verdict_text(r, ev)), _adjusted_cell(r), _heldout_cell(r),
            _fmt_n((ev or {}).get("n")), r.get("outcome", DASH),
        ])
    if rows:
        L += _md_table(header, rows, align="llllllrrlllrl")
    else:
        L.append("No claims were run.")
    L.append("")
    L += _issue9_notes(results)

    L += _sequential_section(meta, results)  # --seeds auto only

    # ---- sections
    by_q: dict[str, list[dict]] = {}
    for r in results:
        by_q.setdefault(_question_key(r), []).append(r)
    for q in SECTIONS:
        L += _section(ctx, q, by_q.get(q, []), figures)
    if by_q.get("other"):
        L.append("## Other claims")
        L.append("")
        L += _claim_notes(by_q["other"])
    return "\n".join(L).rstrip() + "\n"


def _issue9_notes(results: list[dict]) -> list[str]:
    """Footnotes for the columns added by the statistics audit (issue 9)."""
    L = ["- **p (adjusted)**, **verdict (adjusted)**: under the profile's multiplicity rule "
         "(harness/multiplicity.py), across this session's claims. Each pytest outcome is judged "
         "at alpha/m (m = claims collected), the first step of Holm and BH, so a passing test is "
         "supported under the rule; the step-down/step-up verdict here can support more."]
    L.append("- **held-out epoch**: the verdict when `best_test_acc` (epoch chosen on the test set, "
             "the seed's protocol) is replaced by `heldout_best_test_acc` (epoch chosen on test half A, "
             "accuracy on half B). *not used*: the claim does not read that metric; *n/a*: the source "
             "lacks it (the seed's table, runs trained before it was recorded).")
    marked = [r for r in results if r.get("levels_from_seed_table")]
    if marked:
        L.append("- **‡** on the seed's verdict: the claim's levels were chosen from the seed's own "
                 "table (" + "; ".join(f"`{r.get('id')}`: {r['levels_from_seed_table']}" for r in marked)
                 + "). Valid for fresh runs; on that table the verdict is biased toward support.")
    return L + [""]


def _sequential_section(meta: Mapping, results: list[dict]) -> list[str]:
    """--seeds auto (harness/sequential.py): where each claim stopped, and the session's cost
    against a fixed design at the last stage."""
    seq = [r for r in results if isinstance(r.get("sequential"), Mapping)]
    if not seq:
        return []
    summary = meta.get("sequential") if isinstance(meta.get("sequential"), Mapping) else {}
    design = summary.get("design") or {}
    L = ["## Seeds added in stages (`--seeds auto`)", ""]
    if design:
        levels = ", ".join(f"{n} seeds: {lv:.2g}"
                           for n, lv in zip(design.get("stages", []), design.get("levels", [])))
        L.append(f"Stages and nominal one-sided levels ({design.get('spending', DASH)} alpha spending, "
                 f"alpha {design.get('alpha', DASH)}): {levels}. A claim stops at the first stage "
                 "where it is supported or refuted at that stage's level, untestable, or futile "
                 "(docs/STATISTICS.md, \"Sequential seeds\").")
        L.append("")
    if summary:
        L.append(f"Runs used: **{summary.get('runs_used')}**, against "
                 f"**{summary.get('fixed_last_stage_runs')}** for the same grids at the last stage's "
                 f"seeds ({_fmt(summary.get('fraction_of_fixed'))} of it). Claims stopped at: "
                 + ", ".join(f"{k} seeds: {v}" for k, v in (summary.get("claims_stopped_at") or {}).items()))
        L.append("")
    rows = []
    for r in seq:
        q = r["sequential"]
        path = "; ".join(f"{h.get('seeds')}: {_fmt_p(h.get('p')).removeprefix('p=')} {h.get('verdict')}"
                         for h in q.get("history", []))
        rows.append([f"`{r.get('id', '?')}`", f"{q.get('stopped_at')} (stage {q.get('stage')})",
                     q.get("reason", DASH), f"{q['boundary']:.2g}" if _float(q.get("boundary")) else DASH,
                     _fmt_n(q.get("seeds_per_arm")), q.get("runs_used", DASH), path])
    L += _md_table(["id", "stopped at (seeds)", "why", "boundary (level)", "seeds per arm",
                    "runs of its configurations", "p and verdict per stage"], rows, align="lllrrrl")
    return L + [""]


def _claim_notes(results: list[dict]) -> list[str]:
    L = []
    for r in results:
        ev = _ev(r)
        line = f"- `{r.get('id', '?')}`: {_bold(_verdict_text(r, ev))}, pytest {r.get('outcome', DASH)}"
        if ev:
            eff = _effect_ci(ev, with_label=True)
            if eff != DASH:
                line += f"; {eff}"
            if _float(ev.get("mde")) is not None:
                line += f"; MDE(80%) {_fmt(ev['mde'])}"
        note = " ".join(x for x in (_str(r.get("status_note")), _str((ev or {}).get("note"))) if x)
        if note:
            line += f". Note: {note}"
        L.append(_cell(line).replace("\\|", "|"))
    return L + [""]


def _group_table(ctx: _Context, rows: pd.DataFrame, seed: pd.DataFrame, keys: list,
                 seed_metric: str, seed_desc: str, with_grad: bool = False) -> list[str]:
    """One row per arm: this run's best- and final-epoch accuracy, and the seed's value."""
    header = ["arm", "runs", "best-epoch acc (%)", "final-epoch acc (%)"]
    if with_grad:
        header.append("grad metric")
    header += ["diverged", f"seed, {SEED_DATASET}: {seed_desc}"]
    out = []
    for label, sel, sel_seed in keys:
        grp = rows[sel(rows)] if len(rows) else rows
        sgrp = seed[sel_seed(seed)] if len(seed) else seed
        if not len(grp) and not len(sgrp):
            continue
        n_rows = int((grp["kind"].astype(object) != "summary").sum()) if len(grp) else 0
        row = [label, str(n_rows) if n_rows else ("summary" if len(grp) else "0"),
               _stat_cell(_arm_stats(grp, "best_test_acc"), n_rows),
               _stat_cell(_arm_stats(grp, "final_test_acc"), n_rows)]
        if with_grad:
            row.append(_stat_cell(_arm_stats(grp, "grad_metric"), n_rows, digits=None))
        div = int(_num(grp, "diverged_epoch").notna().sum()) if len(grp) else 0
        row.append(str(div) if div else "")
        st = _arm_stats(sgrp, seed_metric)
        if with_grad and st is not None and st["n"] == 1:
            g = _arm_stats(sgrp, "grad_metric")
            row.append(_stat_cell(st) + (f"; grad {_fmt(g['mean'])}" if g else ""))
        else:
            row.append(_stat_cell(st))
        out.append(row)
    if not out:
        return []
    return _md_table(header, out, align="lr" + "l" * (len(header) - 2)) + [""]


def _eq(col: str, val):
    def f(df):
        if col in ("depth", "batch_size"):
            return _num(df, col) == val
        return df[col].astype(object) == val
    return f


def _and(*fs):
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


def _section(ctx: _Context, q: str, results: list[dict], figures: dict[str, bool]) -> list[str]:
    L = [f"## {QUESTION_TITLES[q]}", ""]
    if results:
        L.append("Claims:")
        L.append("")
        L += _claim_notes(results)
    else:
        L += ["No claims of this question were run.", ""]
    if q == "headline":
        return L + _headline_table(ctx)
    rows, seed = ctx.of(q), ctx.of(q, seed=True)
    if not len(rows):
        L += ["**No runs for this question** in this report; its figures are not drawn.", ""]
        return L
    keys = []
    if q == "Q4":
        for act in _distinct(pd.concat([rows, seed]), "activation"):
            for d in _distinct(pd.concat([rows, seed]), "depth", numeric=True):
                sel = _and(_eq("activation", act), _eq("depth", d))
                keys.append((f"{_ACT_COLORS.get(act, (act,))[0]}, depth {int(d)}", sel, sel))
        L.append("Arm means (mean ± sample sd over seeds). Q4's claims use the best epoch; "
                 "the gradient metric is the epoch-averaged mean |grad|.")
        L.append("")
        L += _group_table(ctx, rows, seed, keys, "best_test_acc", "best epoch, 1 run", with_grad=True)
    elif q == "Q5":
        for norm in _distinct(pd.concat([rows, seed]), "norm"):
            for b in _distinct(pd.concat([rows, seed]), "batch_size", numeric=True):
                sel = _and(_eq("norm", norm), _eq("batch_size", b))
                keys.append((f"{_NORM_COLORS.get(norm, (norm,))[0]}, batch {int(b)}", sel, sel))
        L.append("Arm means (mean ± sample sd over seeds). Q5's claims use the best epoch; "
                 "the seed published mean ± population sd of 5 runs.")
        L.append("")
        L += _group_table(ctx, rows, seed, keys, "best_test_acc", "best epoch")
    else:  # Q6
        for arch in ("cnn", "mlp"):
            for (order, act), lab in ORDER_LABELS.items():
                sel = _and(_eq("arch", arch), _eq("block_order", order), _eq("activation", act))
                keys.append((f"{arch.upper()}, {lab}", sel, sel))
        L.append("Arm means (mean ± sample sd over seeds). Q6's claims use the final epoch.")
        L.append("")
        L += _group_table(ctx, rows, seed, keys, "final_test_acc", "final epoch")
    for name, fq in FIGURES.items():
        if fq == q and figures.get(name):
            L += [f"![{name}]({name})", ""]
    return L


def _headline_table(ctx: _Context) -> list[str]:
    """The best configurations of this run by mean best-epoch accuracy."""
    rows = []
    for q in ("Q4", "Q5", "Q6"):
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
            best = _arm_stats(grp, "best_test_acc")
            if best is None:
                continue
            k = dict(zip(cols, key))
            label = f"{q}: {k.get('arch')}"
            if q == "Q6":
                label += f", {_order_label(k)}"
            else:
                label += f", {k.get('activation')}, {k.get('norm')} norm"
            if k.get("depth") is not None and k.get("arch") == "cnn":
                label += f", depth {int(_float(k['depth']) or 0)}"
            if q == "Q5":
                label += f", batch {int(_float(k.get('batch_size')) or 0)}"
            rows.append((best["mean"], [label, _stat_cell(best),
                                        _stat_cell(_arm_stats(grp, "final_test_acc"))]))
    if not rows:
        return ["**No runs for this question** in this report.", ""]
    rows.sort(key=lambda t: -t[0])
    L = ["The five configurations of this run with the highest mean best-epoch accuracy "
         f"(the seed's 80%+ is a {SEED_DATASET} figure):", ""]
    L += _md_table(["configuration", "best-epoch acc (%)", "final-epoch acc (%)"],
                   [r for _, r in rows[:5]])
    return L + [""]


# =============================================================================================
# terminal summary and JUnit
# =============================================================================================

_MAX_WIDTH = 120


def claims_table(results: Iterable[Mapping]) -> str:
    """Plain-text table for the pytest terminal summary: id, verdict, effect [CI], p, p_adj,
    n, outcome. Every line is at most 120 characters (long ids are shortened in the middle)."""
    results = [_plain(dict(r)) if not isinstance(r, dict) else r for r in results]
    header = ["id", "verdict", "effect [CI]", "p", "p_adj", "n", "outcome"]
    body = []
    marked = False
    for r in results:
        ev = _ev(r)
        eff = _effect_ci(ev, mark_level=False)
        if ev and ev.get("ci") and abs(_ci_level(ev) - 0.95) > 1e-9:
            eff += "*"
            marked = True
        verdict = (ev or {}).get("verdict") or DASH
        if r.get("smoke_unshowable"):
            verdict += " (smoke)"
        body.append([_str(r.get("id")) or "?", verdict, eff, _fmt_p((ev or {}).get("p")),
                     _fmt_p(r.get("p_adjusted")), _fmt_n((ev or {}).get("n"), terse=True),
                     _str(r.get("outcome")) or DASH])
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h)
              for i, h in enumerate(header)]
    # the id column takes what is left of 120 characters
    rest = sum(widths[1:]) + 2 * (len(header) - 1)
    widths[0] = max(12, min(widths[0], _MAX_WIDTH - rest))
    for row in body:
        row[0] = _shorten(row[0], widths[0])

    def line(cells):
        out = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            out.append(c.rjust(w) if header[i] in ("p", "p_adj") else c.ljust(w))
        return "  ".join(out).rstrip()[:_MAX_WIDTH]

    lines = [line(header), line(["-" * w for w in widths])] + [line(r) for r in body]
    if not body:
        lines.append("(no claims)")
    if marked:
        lines.append("* 90% CI (equivalence test, TOST); other intervals are 95%")
    return "\n".join(lines)


def _shorten(s: str, width: int) -> str:
    if len(s) <= width:
        return s
    keep = width - 3
    head = (keep + 1) // 2
    return s[:head] + "..." + s[len(s) - (keep - head):] if keep - head > 0 else s[:width]


def junit_properties(result: Mapping) -> list[tuple[str, str]]:
    """Flat (name, value) pairs for JUnit ``<property>`` elements. Missing values are ""."""
    result = result if isinstance(result, dict) else _plain(dict(result))
    ev = _ev(result) or {}
    sev = _ev(result, "seed_evidence") or {}
    ci = ev.get("ci") if isinstance(ev.get("ci"), (list, tuple)) and len(ev.get("ci")) == 2 else (None, None)

    def num(x) -> str:
        f = _float(x)
        return "" if f is None else repr(f)

    n = ev.get("n")
    pairs = [
        ("verdict", ev.get("verdict") or ""),
        ("effect", num(ev.get("effect"))),
        ("ci_low", num(ci[0])),
        ("ci_high", num(ci[1])),
        ("p", num(ev.get("p"))),
        ("n", ",".join(str(int(k)) for k in n if _float(k) is not None) if isinstance(n, list)
         else ("" if _float(n) is None else str(int(n)))),
        ("test", ev.get("test") or ""),
        ("seed_verdict", sev.get("verdict") or ""),
        ("p_adjusted", num(result.get("p_adjusted"))),
    ]
    seq = result.get("sequential") if isinstance(result.get("sequential"), Mapping) else None
    if seq:  # --seeds auto: where the claim stopped (harness/sequential.py)
        pairs += [("seq_stopped_at", str(seq.get("stopped_at", ""))), ("seq_reason", seq.get("reason") or ""),
                  ("seq_boundary", num(seq.get("boundary"))),
                  ("seq_seeds_per_arm", ",".join(str(k) for k in seq.get("seeds_per_arm") or []))]
    return [(k, re.sub(r"\s+", " ", str(v))) for k, v in pairs]
