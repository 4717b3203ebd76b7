"""--compare / --compare-fail (harness/report/compare.py) and report.json's schema."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness.report.compare import (COMPARE_FAILED_EXIT, Baseline, compare, load_baseline,
                                    parse_gate, BaselineError)
from harness.report.result import parse_results
from harness.report.schema import SchemaError, check_report

REPO = Path(__file__).resolve().parent.parent
CPU = REPO / "docs" / "results" / "fashion-mnist-cpu"
REPORTS = sorted(REPO.glob("docs/**/report.json"))
Q5_BN_SMALL = "q5-gn-beats-bn-small-batch"  # GN b2 vs BN b2: moves when BN's batch-2 arm does


def _result(cid, verdict, effect, ci, p=0.01, label="mean difference"):
    return {"id": cid, "question": "Q5", "sentence": "s", "outcome": "passed",
            "evidence": {"verdict": verdict, "effect": effect, "ci": ci, "p": p, "n": [5, 5],
                         "effect_label": label}}


def _baseline(*results):
    return Baseline("base", Path("report.json"), None, parse_results(list(results)))


def test_compare_lists_verdict_and_effect_changes_only():
    base = _baseline(_result("a", "supported", 2.0, [1.0, 3.0]),
                     _result("b", "inconclusive", 0.5, [-1.0, 2.0]),
                     _result("c", "supported", 2.0, [1.0, 3.0]),
                     _result("gone", "refuted", -1.0, [-2.0, -0.5]))
    now = [_result("a", "supported", 2.9, [2.0, 3.8]),      # inside the baseline's CI: no change
           _result("b", "supported", 2.5, [1.5, 3.5]),      # verdict and effect moved
           _result("c", "supported", 3.4, [2.4, 4.4]),      # effect left the CI, same verdict
           _result("new", "supported", 1.0, [0.5, 1.5])]
    cmp = compare(base, now)
    kinds = {c.id: c.kinds for c in cmp.changes}
    assert kinds == {"b": ("verdict", "effect"), "c": ("effect",), "gone": ("gone",), "new": ("new",)}
    assert cmp.compared == 3
    assert [c.id for c in parse_gate("verdict").failures(cmp)] == ["b"]
    assert [c.id for c in parse_gate("effect").failures(cmp)] == ["b", "c"]
    assert [c.id for c in parse_gate("effect:1.5").failures(cmp)] == ["b"]  # |2.5-0.5| > 1.5
    assert parse_gate("effect:5").failures(cmp) == []
    assert "verdict inconclusive -> supported" in "\n".join(cmp.lines())


def test_an_effect_on_another_measure_is_not_compared():
    base = _baseline(_result("a", "supported", 2.0, [1.0, 3.0], label="ratio"))
    assert compare(base, [_result("a", "supported", 9.0, [8.0, 10.0])]).changes == ()


@pytest.mark.parametrize("spec", ["verdicts", "effect:0", "effect:x", "effect:-1"])
def test_a_bad_gate_is_one_clear_error(spec):
    with pytest.raises(ValueError, match="--compare-fail"):
        parse_gate(spec)


@pytest.mark.parametrize("path", REPORTS, ids=[str(p.parent.relative_to(REPO)) for p in REPORTS])
def test_committed_reports_validate_against_the_schema(path):
    check_report(json.loads(path.read_text()))


def test_the_schema_rejects_what_is_not_a_report():
    doc = json.loads((CPU / "report.json").read_text())
    assert doc["schema_version"] == 1
    bad = json.loads(json.dumps(doc))
    bad["results"][0]["evidence"]["verdict"] = "probably"
    with pytest.raises(SchemaError, match="results/0/evidence"):
        check_report(bad)
    with pytest.raises(SchemaError, match="schema_version"):
        check_report({**doc, "schema_version": 2})
    with pytest.raises(SchemaError):
        check_report({k: v for k, v in doc.items() if k != "results"})


def test_a_baseline_that_is_not_a_report_is_one_clear_error(tmp_path):
    (tmp_path / "report.json").write_text('{"meta": {}}')
    with pytest.raises(BaselineError, match="not a claims report"):
        load_baseline(tmp_path / "report.json", "x")


# -- end to end: pytest claims --source ... --compare ... -----------------------------------------
def _claims(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0",
                           "-q", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_same_runs_compare_unchanged_and_the_gate_passes(tmp_path):
    """The issue's check: the committed runs against their own committed report."""
    plain = _claims("claims", "--source", str(CPU / "runs.csv"), "--reports-dir", str(tmp_path / "a"))
    proc = _claims("claims", "--source", str(CPU / "runs.csv"), "--compare", str(CPU / "report.json"),
                   "--compare-fail", "verdict", "--reports-dir", str(tmp_path / "b"))
    out = proc.stdout
    assert "17 claims judged in both; no verdict changed and no effect left the baseline's CI" in out
    assert "--compare-fail verdict: passed" in out
    # the gate adds nothing: the status is the claims' own (refuted claims fail their tests)
    assert proc.returncode == plain.returncode, out[-3000:]
    doc = json.loads((tmp_path / "b" / "latest" / "report.json").read_text())
    check_report(doc)
    assert doc["comparison"]["changes"] == [] and doc["comparison"]["failed"] == []
    assert "## Compared with a baseline" in (tmp_path / "b" / "latest" / "report.md").read_text()
    assert not Path(doc["meta"]["source"]).is_absolute()
    assert doc["meta"]["command"].startswith("python -m pytest -p no:cacheprovider")
    assert "--source docs/results/fashion-mnist-cpu/runs.csv" in doc["meta"]["command"]
    assert str(REPO) not in doc["meta"]["command"] and str(tmp_path) not in doc["meta"]["command"]


def _shifted_copy(folder: Path, points: float) -> Path:
    """The cpu report's runs with BatchNorm's batch-2 arm moved by ``points`` (every accuracy
    column of those runs), beside a copy of its report.json (its recorded profile)."""
    df = pd.read_csv(CPU / "runs.csv")
    arm = (df.norm == "batch") & (df.batch_size == 2)
    assert arm.sum() == 5
    for col in ("best_test_acc", "final_test_acc", "heldout_best_test_acc"):
        df.loc[arm, col] += points
    for col in ("test_acc", "test_acc_a", "test_acc_b"):
        df.loc[arm, col] = df.loc[arm, col].map(
            lambda s: json.dumps([round(v + points, 4) for v in json.loads(s)]))
    folder.mkdir()
    df.to_csv(folder / "runs.csv", index=False)
    shutil.copy(CPU / "report.json", folder / "report.json")
    return folder / "runs.csv"


def test_a_shifted_arm_lists_moved_verdicts_and_the_gate_fails(tmp_path):
    src = _shifted_copy(tmp_path / "shifted", -3.0)
    args = ["claims/test_q5_normalization_batch.py", "--source", str(src), "--compare",
            str(CPU / "report.json")]
    plain = _claims(*args, "--reports-dir", str(tmp_path / "a"))
    gated = _claims(*args, "--compare-fail", "verdict", "--reports-dir", str(tmp_path / "b"))
    for proc in (plain, gated):
        assert f"{Q5_BN_SMALL}: verdict inconclusive -> supported" in proc.stdout, proc.stdout[-3000:]
    assert plain.returncode in (0, 1)
    assert gated.returncode == COMPARE_FAILED_EXIT, gated.stdout[-3000:]
    assert f"--compare-fail verdict: FAILED on " in gated.stdout
    doc = json.loads((tmp_path / "b" / "latest" / "report.json").read_text())
    assert Q5_BN_SMALL in doc["comparison"]["failed"]
    assert "**failed**" in (tmp_path / "b" / "latest" / "report.md").read_text()
    page = (tmp_path / "b" / "latest" / "report.html").read_text()
    assert "Compared with a baseline" in page and Q5_BN_SMALL in page.split("Compared with")[1]


def test_compare_last_is_the_previous_report_and_a_missing_one_is_a_usage_error(tmp_path):
    q5 = ["claims/test_q5_normalization_batch.py", "--source", str(CPU / "runs.csv"),
          "--reports-dir", str(tmp_path)]
    first = _claims(*q5, "--compare", "last")
    assert first.returncode == 4 and "--compare last: no previous report" in first.stderr
    _claims(*q5)
    previous = (tmp_path / "latest").resolve().name
    second = _claims(*q5, "--compare", "last", "--compare-fail", "verdict")
    assert f"compared with last ({previous})" in second.stdout
    assert "no verdict changed" in second.stdout and second.returncode != COMPARE_FAILED_EXIT
    gate_alone = _claims(*q5, "--compare-fail", "verdict")
    assert gate_alone.returncode == 4 and "--compare-fail needs --compare" in gate_alone.stderr
