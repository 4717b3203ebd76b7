"""The report's figures (matplotlib, Agg canvas; no pyplot state): one per question view.

``draw(ctx)`` returns every figure of ``FIGURES`` that has runs to show (None otherwise);
``png(fig)`` is its file content. Statistics come from ``harness.report.data``.
"""
from __future__ import annotations

import io
import math
import re

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from harness.declare import questions as Q
from harness.report.classify import ORDER_LABELS, order_label
from harness.report.data import (ACTIVATIONS, NORMS, PAPER_DATASET, Context, arm_stats,
                                 declared_arms, num)
from harness.statistics.formatting import as_float as _float

__all__ = ["FIGURES", "draw", "png"]

#: figure file -> question section it belongs to: the seed paper's views, then one figure of
#: arm values per metric for every other declared question (``_fig_declared``)
FIGURES = {
    "q4_accuracy_vs_depth.png": "Q4",
    "q4_gradient_vs_depth.png": "Q4",
    "q5_accuracy_vs_batch.png": "Q5",
    "q5_learning_curves.png": "Q5",
    "q6_orders.png": "Q6",
}
_DECLARED = {f"{re.sub(r'[^a-z0-9]+', '_', q.name.lower())}_arms.png": q.name
             for q in Q.all_questions() if q.name not in FIGURES.values()}
FIGURES |= _DECLARED

_ORDER_COLORS = {"BN->ReLU (case1)": "tab:blue", "ReLU->BN (case2)": "tab:orange",
                 "LeakyReLU->BN (case3)": "tab:green"}


_RNG_SEED = 20240601


def _new_fig(w: float = 7.6, h: float = 5.0, ncols: int = 1):
    fig = Figure(figsize=(w, h), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def _plot_trend(ax, rows: pd.DataFrame, xcol: str, metric: str, color: str, name: str,
                rng: np.random.Generator, xoffset, jitter, positive_only: bool = False) -> set:
    """Per-seed points (jittered), mean line and 95% t-interval, grouped by ``xcol``.
    Returns what was drawn: a subset of {"points", "mean"}."""
    xs = sorted({x for x in (_float(v) for v in rows[xcol]) if x is not None})
    means, xm, lo_hi = [], [], []
    drew: set = set()
    for x in xs:
        grp = rows[num(rows, xcol) == x]
        st = arm_stats(grp, metric)
        if st is None:
            continue
        vals = st.values
        if positive_only:
            vals = vals[vals > 0]
        xc = xoffset(x)
        if len(vals):
            ax.scatter(jitter(xc, len(vals), rng), vals, s=16, color=color, alpha=0.45,
                       linewidths=0, zorder=2)
            drew.add("points")
        if positive_only and st.mean <= 0:
            continue
        xm.append(xc)
        means.append(st.mean)
        lo_hi.append(st.half if math.isfinite(st.half) else 0.0)
        drew.add("mean")
    if means:
        yerr = np.array(lo_hi)
        if positive_only:  # keep the lower whisker above 0 on a log axis
            yerr = np.vstack([np.minimum(yerr, np.array(means) * 0.999), yerr])
        ax.errorbar(xm, means, yerr=yerr, color=color, marker="o", ms=6, lw=1.8, capsize=4,
                    zorder=3)
    return drew


def _plot_paper_ref(ax, rows: pd.DataFrame, xcol: str, metric: str, color: str, xoffset,
                   positive_only: bool = False) -> bool:
    xs = sorted({x for x in (_float(v) for v in rows[xcol]) if x is not None})
    xm, ym, err = [], [], []
    for x in xs:
        st = arm_stats(rows[num(rows, xcol) == x], metric)
        if st is None or (positive_only and st.mean <= 0):
            continue
        xm.append(xoffset(x))
        ym.append(st.mean)
        err.append(st.sd if (st.n >= 2 and math.isfinite(st.sd)) else 0.0)
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


def _handles(series: list[tuple[str, str, set]], paper_desc: str, own_axis: bool) -> list:
    """Legend entries for (name, color, drawn parts) series: mean ± 95% CI, per seed, and the
    paper's published values; only the parts that were drawn."""
    hs = []
    for name, color, parts in series:
        if "mean" in parts:
            hs.append(Line2D([], [], color=color, marker="o", lw=1.8,
                             label=f"{name}: mean ± 95% CI"))
        if "points" in parts:
            hs.append(Line2D([], [], color=color, marker="o", lw=0, alpha=0.45, ms=4,
                             label=f"{name}: one seed"))
        if "paper" in parts:
            hs.append(Line2D([], [], color=color, marker="o", mfc="white", mew=1.6, ls="--",
                             label=f"{name}: paper ({PAPER_DATASET}, {paper_desc})"
                                   + (", right axis" if own_axis else "")))
    return hs


def _fig_q4(ctx: Context, metric: str, ylabel: str, title: str, log: bool):
    runs, paper = ctx.of("Q4"), ctx.of("Q4", paper=True)
    if not len(runs):
        return None
    fig, (ax,) = _new_fig(w=8.2, h=5.8)
    rax = ctx.paper_axis(ax, ylabel, log=log) if len(paper) else ax
    rng = np.random.default_rng(_RNG_SEED)
    series, depths = [], set()
    for i, (act, (name, color)) in enumerate(ACTIVATIONS.items()):
        off = (-0.09, 0.09)[i]
        shift = (lambda x, o=off: x + o)
        mine = runs[runs["activation"].astype(object) == act]
        ref = paper[paper["activation"].astype(object) == act] if len(paper) else paper
        drew = _plot_trend(ax, mine, "depth", metric, color, name, rng, shift, _lin_jitter(0.05),
                           positive_only=log)
        if len(ref) and _plot_paper_ref(rax, ref, "depth", metric, color, shift, positive_only=log):
            drew.add("paper")
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


def _fig_q4_accuracy(ctx: Context):
    return _fig_q4(ctx, "best_test_acc", "best-epoch test accuracy (%)",
                   "Q4: best-epoch test accuracy vs depth, ReLU and Sigmoid", log=False)


def _fig_q4_gradient(ctx: Context):
    return _fig_q4(ctx, "grad_metric", "mean |grad| per parameter tensor (log scale)",
                   "Q4: mean gradient magnitude vs depth, ReLU and Sigmoid", log=True)


def _fig_q5(ctx: Context):
    runs, paper = ctx.of("Q5"), ctx.of("Q5", paper=True)
    if not len(runs):
        return None
    fig, (ax,) = _new_fig(w=8.2, h=5.8)
    ylabel = "best-epoch test accuracy (%)"
    rax = ctx.paper_axis(ax, ylabel) if len(paper) else ax
    rng = np.random.default_rng(_RNG_SEED + 1)
    series, batches = [], set()
    for i, (norm, (name, color)) in enumerate(NORMS.items()):
        f = 2 ** (-0.07, 0.07)[i]
        shift = (lambda x, f=f: x * f)
        mine = runs[runs["norm"].astype(object) == norm]
        ref = paper[paper["norm"].astype(object) == norm] if len(paper) else paper
        drew = _plot_trend(ax, mine, "batch_size", "best_test_acc", color, name, rng, shift,
                           _log_jitter(0.04))
        if len(ref) and _plot_paper_ref(rax, ref, "batch_size", "best_test_acc", color, shift):
            drew.add("paper")
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


def _fig_q5_curves(ctx: Context):
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
        if not accs or norm not in NORMS:
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
        name, color = NORMS[norm]
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


def _fig_q6(ctx: Context):
    runs, paper = ctx.of("Q6"), ctx.of("Q6", paper=True)
    if not len(runs):
        return None
    fig, axes = _new_fig(w=12.0, h=5.4, ncols=2)
    rng = np.random.default_rng(_RNG_SEED + 2)
    labels = list(ORDER_LABELS.values())
    drawn: set = set()
    for ax, arch, title in zip(axes, ("cnn", "mlp"), ("CNN (Q6 CNN, BatchNorm blocks)",
                                                       "MLP (only the first layer's order varies)")):
        mine = runs[runs["arch"].astype(object) == arch]
        ref = paper[paper["arch"].astype(object) == arch] if len(paper) else paper
        rax = ctx.paper_axis(ax, "final-epoch test acc. (%)") if len(ref) else ax
        mine_lab = mine.apply(order_label, axis=1) if len(mine) else pd.Series([], dtype=object)
        ref_lab = ref.apply(order_label, axis=1) if len(ref) else pd.Series([], dtype=object)
        extra = [lab for lab in list(mine_lab) + list(ref_lab) if lab not in labels]
        cats = labels + sorted(set(extra))
        mine_drawn = False
        for i, lab in enumerate(cats):
            color = _ORDER_COLORS.get(lab, "tab:gray")
            st = arm_stats(mine[mine_lab == lab], "final_test_acc") if len(mine) else None
            if st is not None:
                mine_drawn = True
                if len(st.values):
                    ax.scatter(i - 0.24 + rng.uniform(-0.05, 0.05, len(st.values)), st.values,
                               s=24, color=color, alpha=0.6, linewidths=0, zorder=2)
                    drawn.add("points")
                ax.errorbar([i - 0.04], [st.mean],
                            yerr=[st.half] if math.isfinite(st.half) else None,
                            color="black", marker="D", ms=6, mfc=color, capsize=6, lw=1.8, zorder=3)
                drawn.add("mean")
            rs = arm_stats(ref[ref_lab == lab], "final_test_acc") if len(ref) else None
            if rs is not None:
                if len(rs.values):
                    rax.scatter(i + 0.2 + rng.uniform(-0.04, 0.04, len(rs.values)), rs.values,
                               s=30, facecolors="white", edgecolors=color, linewidths=1.4, zorder=4)
                    drawn.add("paper")
                else:
                    rax.errorbar([i + 0.2], [rs.mean],
                                yerr=[rs.sd] if math.isfinite(rs.sd) else None, color=color,
                                marker="s", mfc="white", ls="none", capsize=3, zorder=4)
                    drawn.add("paper-summary")
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
    if "paper" in drawn:
        handles.append(Line2D([], [], color="gray", marker="o", mfc="white", lw=0,
                              label=f"paper ({PAPER_DATASET}, each of its 5 runs)"
                                    + (", right axis" if ctx.paper_own_axis else "")))
    if "paper-summary" in drawn:
        handles.append(Line2D([], [], color="gray", marker="s", mfc="white", lw=1,
                              label=f"paper ({PAPER_DATASET}, mean ± sd)"
                                    + (", right axis" if ctx.paper_own_axis else "")))
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles) or 1, fontsize=9,
               frameon=False)
    fig.suptitle(f"Q6: final-epoch test accuracy by order of activation and BatchNorm\n"
                 f"{ctx.run_note()}", fontsize=11)
    return fig


def _fig_declared(ctx: Context, q: str):
    """Any declared question: per metric its claims read, every arm's per-seed values
    (jittered points), mean and 95% t-interval, arms in ascending level order."""
    arms = declared_arms(ctx, q)
    if arms is None:
        return None
    decl, rows, levels, keys = arms
    metrics = [m for m in list(decl.metrics) + [d.name for d in decl.derived]
               if m != "final_test_acc" and m in rows.columns]
    fig, axes = _new_fig(w=4.2 * len(metrics), h=4.4, ncols=len(metrics))
    rng = np.random.default_rng(_RNG_SEED)
    names = [Q.label(q, **dict(zip((lv.name for lv in decl.levels), k))) for k in keys]
    for ax, metric in zip(axes, metrics):
        for i, key in enumerate(keys):
            st = arm_stats(rows[[lv == key for lv in levels]], metric)
            if st is None:
                continue
            ax.scatter(i + rng.uniform(-0.12, 0.12, len(st.values)), st.values, s=14, alpha=0.6,
                       color="tab:blue")
            ax.errorbar([i], [st.mean], yerr=[st.half if math.isfinite(st.half) else 0],
                        fmt="o", color="black", capsize=4)
        ax.set_xticks(range(len(keys)), names, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel(metric)
    fig.suptitle(f"{decl.title}\n(points: seeds; black: mean and 95% CI; {ctx.dataset}, "
                 f"{ctx.profile} profile)", fontsize=9.5)
    return fig


def draw(ctx: Context) -> dict[str, Figure | None]:
    """Every figure of ``FIGURES``, None where its question has nothing to draw."""
    makers = {"q4_accuracy_vs_depth.png": _fig_q4_accuracy, "q4_gradient_vs_depth.png": _fig_q4_gradient,
              "q5_accuracy_vs_batch.png": _fig_q5, "q5_learning_curves.png": _fig_q5_curves,
              "q6_orders.png": _fig_q6}
    return {name: makers[name](ctx) if name in makers else _fig_declared(ctx, FIGURES[name])
            for name in FIGURES}


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes (110 dpi)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()
