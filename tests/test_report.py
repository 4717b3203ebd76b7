"""The report writer: folder + latest symlink, md/json/csv/png contents, terminal table.

Synthetic runs and claim results only (no training); the paper's published numbers are the
real ``harness.runstore.runs.published_runs()``.
"""
from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness import report
from harness.declare.profiles import PROFILES
from harness.report import ORDER_LABELS, claims_table, question_of, write_report
from harness.runstore.runs import LIST_COLUMNS, read_runs_csv, runs_frame, published_runs
from harness.statistics.stats import Arm, mean_greater

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ALL_FIGURES = ["q4_accuracy_vs_depth.png", "q4_gradient_vs_depth.png",
               "q5_accuracy_vs_batch.png", "q5_learning_curves.png", "q6_orders.png"]


# ---------------------------------------------------------------------------------------------
# synthetic data
# ---------------------------------------------------------------------------------------------

def _run(key, seed, rng, *, arch="cnn", depth=4, block_order="norm-act", norm="batch",
         activation="relu", stem="conv", batch_size=128, acc=80.0, grad=0.01):
    curve = [round(acc - 8 + 2 * e + rng.normal(0, 0.5), 2) for e in range(4)]
    best, final = max(curve), curve[-1]
    return {"key": key, "source": "fresh", "kind": "run", "seed": seed, "arch": arch, "width": 8,
            "depth": depth, "block_order": block_order, "norm": norm, "activation": activation,
            "stem": stem, "dataset": "fashion-mnist-subset", "image_size": 14, "train_size": 6400,
            "epochs": 4, "batch_size": batch_size, "lr": 1e-3, "best_test_acc": best,
            "final_test_acc": final, "grad_metric": grad * math.exp(rng.normal(0, 0.1)), "n": 1,
            "diverged_epoch": None, "dropped_samples": 0, "steps": 200, "wall_s": 1.5,
            "device": "cpu", "engine": "loop", "test_acc": curve,
            "train_loss": [round(2.0 / (e + 1), 4) for e in range(4)],
            "train_acc": [round(c - 1, 2) for c in curve],
            "grad_mean": [grad] * 4, "layer_grad_norm": {"conv0.weight": [0.1, 0.2, 0.3, 0.4]}}


def synthetic_runs(questions=("Q4", "Q5", "Q6"), seeds=3) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for s in range(seeds):
        if "Q4" in questions:
            for act in ("relu", "sigmoid"):
                for d in (1, 2, 4):
                    acc = 80 + 2 * d if act == "relu" else 80 - 5 * d
                    rows.append(_run(f"q4-{act}-{d}-{s}", s, rng, depth=d, activation=act,
                                     stem="block", acc=acc, grad=0.02 / d))
        if "Q5" in questions:
            for norm in ("batch", "group"):
                for b in (2, 16, 128):
                    acc = 70 + 3 * math.log2(b) if norm == "batch" else 82
                    rows.append(_run(f"q5-{norm}-{b}-{s}", s, rng, depth=4, norm=norm,
                                     batch_size=b, acc=acc))
        if "Q6" in questions:
            for (order, act), _ in ORDER_LABELS.items():
                rows.append(_run(f"q6-cnn-{order}-{act}-{s}", s, rng, depth=8, block_order=order,
                                 activation=act, acc=84 if order == "act-norm" else 80))
                rows.append(_run(f"q6-mlp-{order}-{act}-{s}", s, rng, arch="mlp", depth=0,
                                 block_order=order, activation=act, acc=82))
    df = runs_frame(rows)
    if len(df):
        df.loc[0, "best_test_acc"] = float("nan")  # a NaN metric
        df.loc[1, "diverged_epoch"] = 2  # a diverged run
    return df


def _ev(verdict, effect, ci, p, n, *, test="Welch t (one-sided)", label="mean difference (pp)",
        level=0.95, arms=None, note=""):
    return {"verdict": verdict, "test": test, "effect": effect, "effect_label": label, "ci": ci,
            "ci_level": level, "p": p, "n": n, "alpha": 0.05, "mde": 1.7,
            "arms": arms or [{"label": "A", "n": n[0], "mean": 81.2, "sd": 1.1},
                             {"label": "B", "n": n[-1], "mean": 78.9, "sd": 0.9}],
            "details": {"hedges_g": 1.9}, "note": note}


def synthetic_results(runs: pd.DataFrame) -> list[dict]:
    keys = list(runs["key"])
    real_ev = mean_greater(Arm.from_values("ReLU d4", [88.0, 87.5, 88.3]),
                           Arm.from_values("ReLU d1", [82.0, 82.4, 81.7]), alpha=0.05, unit="pp")
    return [
        {"id": "q4-relu-improves-with-depth", "question": "Q4",
         "sentence": "ReLU accuracy improves as blocks are added | (pipe in text)",
         "outcome": "passed", "status_note": "", "evidence": real_ev,  # an Evidence object
         "paper_evidence": _ev("untestable", None, None, None, [1, 1], note="1 run per depth"),
         "p_adjusted": 0.004, "run_keys": keys[:6], "smoke_unshowable": False},
        {"id": "q4-sigmoid-gradient-falls-more[" + "x" * 90 + "]", "question": "Q4",
         "sentence": "The mean gradient magnitude falls with depth for both; Sigmoid's falls more.",
         "outcome": "passed", "status_note": "not shown at smoke scale: 4 epochs",
         "evidence": _ev("inconclusive", float("nan"), [float("nan"), 2.0], float("nan"), [3, 3],
                         label="SD ratio"),
         "paper_evidence": None, "p_adjusted": float("nan"), "run_keys": keys[6:9],
         "smoke_unshowable": True},
        {"id": "q5-gn-beats-bn-small-batch[2]", "question": "Q5",
         "sentence": "BatchNorm is very sensitive to batch size.", "outcome": "failed",
         "status_note": "", "evidence": _ev("untestable", None, None, None, [0, 0],
                                            note="no runs for Q5"),
         "paper_evidence": _ev("supported", 4.1, [2.0, 6.2], 0.002, [5, 5]),
         "p_adjusted": None, "run_keys": ["q5-missing-1", "q5-missing-2"],
         "smoke_unshowable": False},
        {"id": "q6-mlp-order-equivalent", "question": "Q6",
         "sentence": "In the MLP the order makes almost no difference.", "outcome": "xfailed",
         "status_note": "the paper's own numbers refute it",
         "evidence": _ev("supported", 0.3, [-0.5, 1.1], 0.01, [3, 3], test="TOST", level=0.9),
         "paper_evidence": _ev("refuted", 3.0, [2.5, 3.5], 0.001, [5, 5], test="TOST", level=0.9),
         "p_adjusted": 0.02, "run_keys": keys[-3:], "smoke_unshowable": False},
        {"id": "q6-cnn-case3-best", "question": "Q6", "sentence": "LeakyReLU->BN is the best.",
         "outcome": "skipped", "status_note": "skipped: no CNN arms", "evidence": None,
         "paper_evidence": None, "p_adjusted": None, "run_keys": [], "smoke_unshowable": False},
        {"id": "headline-80-percent", "question": "headline", "sentence": "Best accuracy 80%+",
         "outcome": "passed", "status_note": "",
         "evidence": _ev("supported", 4.0, [2.0, 6.0], 0.003, [3],
                         arms=[{"label": "best", "n": 3, "mean": 84.0, "sd": 0.5}]),
         "paper_evidence": _ev("supported", 1.7, [0.9, 2.5], 0.004, [5]),
         "p_adjusted": 0.006, "run_keys": keys[-6:-3], "smoke_unshowable": False},
    ]


META = {"profile": "smoke", "dataset": "fashion-mnist-subset", "device": "cpu", "source": "fresh",
        "alpha": 0.05, "started": "2026-01-01T00:00:00+00:00", "wall_s": 754.2,
        "versions": {"python": "3.11", "torch": "2.5"}, "store": ".runstore/runs.sqlite",
        "command": "pytest --profile smoke", "extra": "kept", "seeds": 3,
        "profile_settings": {"q4_depths": (1, 2, 4), "alpha": 0.05, "q4_batch_size": 128,
                             "q6_batch_size": 128}}


@pytest.fixture(scope="module")
def paper():
    return published_runs()


@pytest.fixture(scope="module")
def written(tmp_path_factory, paper):
    """Q5 missing entirely; everything else present."""
    runs = synthetic_runs(questions=("Q4", "Q6"))
    results = synthetic_results(runs)
    reports = tmp_path_factory.mktemp("reports")
    folder = write_report(reports, results, runs, paper, META)
    return reports, folder, results, runs


# ---------------------------------------------------------------------------------------------
# tests
# ---------------------------------------------------------------------------------------------

def test_folder_and_latest_symlink(written):
    reports, folder, _, _ = written
    assert folder.is_dir() and folder.parent == reports
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ(-\d+)?", folder.name)
    latest = reports / "latest"
    assert latest.is_symlink()
    assert latest.resolve() == folder.resolve()
    assert not [p for p in folder.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]
    assert not [p for p in reports.iterdir() if p.name.startswith(".")]


def test_markdown_table_and_sections(written):
    _, folder, results, _ = written
    md = (folder / "report.md").read_text()
    assert "smoke" in md and "fashion-mnist-subset" in md and "12 min 34 s" in md
    assert "kept" in md and "q4_depths=(1, 2, 4)" in md  # unknown meta keys are printed too
    assert "this run is on `fashion-mnist-subset`" in md
    for word in ("supported", "refuted", "inconclusive", "untestable", "smoke-unshowable", "xfail"):
        assert word in md
    claims = md.split("## Claims", 1)[1].split("\n## ", 1)[0]
    table_rows = [ln for ln in claims.splitlines() if ln.startswith("| `")]
    assert len(table_rows) == len(results)
    n_cols = claims.splitlines()[2].count(" | ")
    for r, ln in zip(results, table_rows):
        assert r["id"] in ln
        assert ln.replace("\\|", "").count(" | ") == n_cols  # pipes in sentences are escaped
    assert "(90% CI)" in claims  # TOST interval marked
    for title in report.QUESTION_TITLES.values():
        assert f"## {title}" in md
    q5 = md.split(report.QUESTION_TITLES["Q5"], 1)[1].split("\n## ", 1)[0]
    assert "no runs for this question" in q5.lower()
    assert "q5_accuracy_vs_batch.png" not in md
    for name in ("q4_accuracy_vs_depth.png", "q4_gradient_vs_depth.png", "q6_orders.png"):
        assert f"]({name})" in md
    q6 = md.split(report.QUESTION_TITLES["Q6"], 1)[1].split("\n## ", 1)[0]
    for lab in ORDER_LABELS.values():
        assert lab in q6
    assert "best-epoch acc" in q6 and "final-epoch acc" in q6


def test_json_round_trips_and_holds_every_key(written):
    _, folder, results, runs = written
    doc = json.loads((folder / "report.json").read_text())  # strict JSON: NaN became null
    assert doc["meta"]["profile"] == "smoke" and doc["meta"]["extra"] == "kept"
    assert [r["id"] for r in doc["results"]] == [r["id"] for r in results]
    assert set(runs["key"]) <= set(doc["run_keys"])
    assert {"q5-missing-1", "q5-missing-2"} <= set(doc["run_keys"])
    first = doc["results"][0]["evidence"]  # the Evidence object was serialised
    assert first["verdict"] == "supported" and first["arms"][0]["label"] == "ReLU d4"
    assert doc["results"][1]["evidence"]["effect"] is None
    assert doc["results"][1]["p_adjusted"] is None
    assert doc["results"][4]["evidence"] is None
    assert doc["results"][3]["evidence"]["ci"] == [-0.5, 1.1]


def _same(a, b) -> bool:
    if isinstance(a, (list, dict)) or isinstance(b, (list, dict)):
        return a == b
    na = a is None or (isinstance(a, float) and math.isnan(a))
    nb = b is None or (isinstance(b, float) and math.isnan(b))
    if na or nb:
        return na and nb
    if isinstance(a, (int, float, np.number)) and isinstance(b, (int, float, np.number)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return str(a) == str(b)


def test_runs_csv_reads_back(written):
    _, folder, _, runs = written
    back = read_runs_csv(folder / "runs.csv", source="fresh")
    assert len(back) == len(runs)
    for col in runs.columns:
        for i, (a, b) in enumerate(zip(runs[col], back[col])):
            assert _same(a, b), (col, i, a, b)
    assert back.loc[2, "layer_grad_norm"] == {"conv0.weight": [0.1, 0.2, 0.3, 0.4]}
    assert all(col in back.columns for col in LIST_COLUMNS)


def _check_png(path: Path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    assert 20_000 < len(data) < 2_000_000, (path, len(data))
    import matplotlib.image as mpimg
    img = mpimg.imread(path)
    assert img.shape[0] >= 400 and img.shape[1] >= 600


def test_figures_of_present_questions(written):
    _, folder, _, _ = written
    for name in ("q4_accuracy_vs_depth.png", "q4_gradient_vs_depth.png", "q6_orders.png"):
        _check_png(folder / name)
    assert not (folder / "q5_accuracy_vs_batch.png").exists()
    assert not (folder / "q5_learning_curves.png").exists()


def test_all_figures_when_all_questions_present(tmp_path, paper):
    runs = synthetic_runs()
    folder = write_report(tmp_path, synthetic_results(runs), runs, paper, {"profile": "full"})
    for name in ALL_FIGURES:
        _check_png(folder / name)
    md = (folder / "report.md").read_text()
    # every section of the seed paper's questions has runs; other declared questions (another
    # paper's, e.g. bn2015) have none in these synthetic runs and say so
    others = [q for q in report.SECTIONS if q not in ("Q4", "Q5", "Q6", "headline")]
    assert md.lower().count("no runs for this question") == len(others)
    for q in ("Q4", "Q5", "Q6"):
        section = md.split(report.QUESTION_TITLES[q], 1)[1].split("\n## ", 1)[0]
        assert "no runs for this question" not in section.lower()


def test_empty_inputs_do_not_crash(tmp_path, paper):
    folder = write_report(tmp_path, [], runs_frame([]), paper, {})
    assert not [p for p in folder.glob("*.png")]
    md = (folder / "report.md").read_text()
    assert md.lower().count("no runs for this question") == len(report.SECTIONS)
    assert json.loads((folder / "report.json").read_text())["results"] == []


def test_paper_as_source(tmp_path, paper):
    """source=paper: the runs table is the paper's own (summary rows for Q5)."""
    folder = write_report(tmp_path, [], paper, paper, {"source": "paper", "dataset": "(from source)"})
    for name in ALL_FIGURES:
        if name != "q5_learning_curves.png":
            _check_png(folder / name)
    assert not (folder / "q5_learning_curves.png").exists()  # the paper published no curves
    md = (folder / "report.md").read_text()
    assert "pop. sd" in md and "dataset `cifar10`" in md
    assert "this run is on" not in md  # same dataset as the paper: one shared axis


def test_two_reports_in_the_same_second(tmp_path, paper, monkeypatch):
    from harness.report import storage

    monkeypatch.setattr(storage, "utc_stamp", lambda now=None: "2026-11-26T14-30-05Z")
    runs = runs_frame([])
    first = write_report(tmp_path, [], runs, paper, {})
    second = write_report(tmp_path, [], runs, paper, {})
    assert first != second and first.is_dir() and second.is_dir()
    assert first.name == "2026-11-26T14-30-05Z" and second.name == "2026-11-26T14-30-05Z-2"
    assert (tmp_path / "latest").resolve() == second.resolve()
    assert os.readlink(tmp_path / "latest") == second.name  # relative link


def test_claims_table_width(written):
    _, _, results, _ = written
    text = claims_table(results)
    lines = text.splitlines()
    assert len(lines) >= len(results) + 2
    assert all(len(ln) <= 120 for ln in lines), max(map(len, lines))
    assert "q4-relu-improves-with-depth" in text and "..." in text  # long id shortened
    assert "90% CI" in text
    assert claims_table([]).splitlines()[0].startswith("id")


def test_question_of(paper):
    """The report files runs through harness.declare.questions, under the profile they were judged with."""
    full, tiny = PROFILES["full"], PROFILES["tiny"]
    assert {question_of(r, full) for r in paper.to_dict("records")} == {"Q4", "Q5", "Q6"}
    base = {"stem": "conv", "block_order": "norm-act", "activation": "relu", "batch_size": 128}
    assert question_of(base | {"arch": "cnn", "stem": "block", "norm": "batch", "depth": 8}, full) == "Q4"
    assert question_of(base | {"arch": "cnn", "norm": "group", "depth": 4, "batch_size": 2}, full) == "Q5"
    assert question_of(base | {"arch": "cnn", "norm": "batch", "depth": 4}, full) == "Q5"
    assert question_of(base | {"arch": "cnn", "norm": "batch", "depth": 8}, full) == "Q6"
    assert question_of(base | {"arch": "mlp", "norm": "batch", "depth": 0}, full) == "Q6"
    # tiny's Q6 CNN has 2 blocks: the old guess filed it under no question
    assert question_of(base | {"arch": "cnn", "norm": "batch", "depth": 2, "batch_size": 32}, tiny) == "Q6"
    assert question_of(base | {"arch": "cnn", "norm": "batch", "depth": 2}, full) is None
    assert question_of({"arch": float("nan")}, full) is None


def test_issue9_columns_multiplicity_heldout_and_seed_levels():
    from harness.report import markdown

    r = {"id": "c", "verdict_adjusted": "inconclusive", "multiplicity": "holm",
         "heldout": {"status": "judged", "verdict": "inconclusive", "p": 0.2, "changed": True},
         "levels_from_paper_table": "BN's peak batch 16",
         "paper_evidence": {"verdict": "supported", "p": 0.01}}
    assert report.adjusted_cell(r) == "inconclusive (holm)"
    assert "changes" in report.heldout_cell(r) and "inconclusive" in report.heldout_cell(r)
    assert report.paper_verdict(r).endswith("‡")
    same = dict(r, heldout={"status": "judged", "verdict": "supported", "p": 0.01, "changed": False},
                levels_from_paper_table="")
    assert report.heldout_cell(same).startswith("same") and not report.paper_verdict(same).endswith("‡")
    assert report.heldout_cell(dict(r, heldout={"status": "n/a"})) == "n/a"
    assert report.adjusted_cell({}) == report.DASH
    notes = "\n".join(markdown.issue9_notes([report.ClaimResult.parse(r)]))
    assert "alpha/m" in notes and "`c`: BN's peak batch 16" in notes


def test_claim_result_parsed_once_typed(written):
    """The typed result every writer reads: Evidence objects, NaN and missing values resolved
    once; ``data`` is exactly the report.json entry."""
    from harness.report import ClaimResult
    from harness.report.result import EvidenceRecord

    _, folder, results, _ = written
    doc = json.loads((folder / "report.json").read_text())
    parsed = [ClaimResult.parse(r) for r in results]
    assert [p.data for p in parsed] == doc["results"]
    assert [ClaimResult.parse(r) for r in doc["results"]] == parsed  # report.json reads back the same
    first, nan, untestable, tost, none = parsed[:5]
    assert isinstance(first.evidence, EvidenceRecord) and first.evidence.arms[0].label == "ReLU d4"
    assert first.verdict == "supported" and first.evidence.n == (3, 3) and first.paper_evidence.note
    assert nan.evidence.effect is None and nan.evidence.ci == (None, 2.0) and nan.p_adjusted is None
    assert not nan.evidence.signed and nan.smoke_unshowable and nan.status_note
    assert untestable.run_keys == ("q5-missing-1", "q5-missing-2") and untestable.p_adjusted is None
    assert tost.evidence.ci_not_95 and tost.evidence.ci_level == 0.9 and tost.outcome == "xfailed"
    assert none.evidence is None and none.verdict is None and none.paper_evidence is None
    assert ClaimResult.parse(first) is first
    with pytest.raises(TypeError):
        ClaimResult.parse(["not", "a", "mapping"])


def test_write_report_takes_typed_results(tmp_path, paper):
    from harness.report import ClaimResult

    runs = synthetic_runs(questions=("Q4",))
    results = synthetic_results(runs)
    a = write_report(tmp_path / "a", results, runs, paper, META)
    b = write_report(tmp_path / "b", [ClaimResult.parse(r) for r in results], runs, paper, META)
    for name in ("report.md", "report.html"):
        strip = lambda s: re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d", "T", s)  # noqa: E731
        assert strip((a / name).read_text()) == strip((b / name).read_text())
    ja, jb = (json.loads((f / "report.json").read_text()) for f in (a, b))
    assert ja["results"] == jb["results"] and ja["figures"] == jb["figures"]
