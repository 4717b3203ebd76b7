"""The layout issue 8 asked for, kept: each concept in one home, imports that only run down.

Read from the source with ``ast`` (nothing imported), so a change that breaks the layout fails
here with the file and the import named.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports, at any depth."""
    out: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    pkg = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    return out


@pytest.mark.parametrize("path", sorted((REPO / "benchmarks").glob("*.py")), ids=lambda p: p.name)
def test_benchmarks_import_nothing_from_tests(path):
    assert not any(m == "tests" or m.startswith("tests.") for m in imported_modules(path))


# Lower layers never import upper ones: statistics and questions know nothing of the report,
# the plugin or the session; the report knows nothing of pytest.
NEVER = {
    "harness/statistics/stats.py": ("harness.report", "harness.pytest_plugin.plugin", "harness.pytest_plugin.session", "harness.pytest_plugin.judging", "pytest"),
    "harness/statistics/formatting.py": ("harness.report", "harness.pytest_plugin.plugin", "harness.statistics.stats", "pandas", "torch"),
    "harness/declare/questions.py": ("harness.report", "harness.pytest_plugin.plugin", "harness.runstore.runs", "torch", "pandas"),
    "harness/pytest_plugin/session.py": ("pytest", "harness.pytest_plugin.plugin"),
    "harness/pytest_plugin/judging.py": ("pytest", "harness.pytest_plugin.plugin", "harness.report"),
    # issue 21: the JUnit summary (pytest, the private _pytest.junitxml) lives in the plugin
    "harness/statistics/sequential.py": ("pytest", "_pytest", "harness.pytest_plugin.plugin", "harness.pytest_plugin.session", "harness.report"),
    "harness/statistics/epoch_check.py": ("pytest", "_pytest", "harness.pytest_plugin.plugin", "harness.report"),
    "harness/statistics/multiplicity.py": ("pytest", "_pytest", "harness.pytest_plugin.plugin", "harness.report"),
    "models/config.py": ("torch",),
}


@pytest.mark.parametrize("rel", sorted(NEVER))
def test_lower_layers_do_not_import_upper_ones(rel):
    mods = imported_modules(REPO / rel)
    bad = sorted(m for m in mods for banned in NEVER[rel] if m == banned or m.startswith(banned + "."))
    assert not bad, f"{rel} imports {bad}"


@pytest.mark.parametrize("path", sorted((REPO / "harness" / "report").glob("*.py")), ids=lambda p: p.name)
def test_the_report_knows_nothing_of_pytest(path):
    assert not any(m == "pytest" or m.startswith(("pytest.", "_pytest")) for m in imported_modules(path))


def test_one_trainer_and_one_question_table():
    """No second training loop in harness/ or models/ (the single-model reference lives in
    tests/): only harness/train/stacked.py builds an optimizer or calls backward. The Q6 orders are
    listed only in their declaration (claims/questions_01_seed.py)."""
    import re

    loop = re.compile(r"torch\.optim\.|\.backward\(")
    trainers = sorted(str(p.relative_to(REPO)) for d in ("harness", "models")
                      for p in (REPO / d).rglob("*.py") if loop.search(p.read_text()))
    assert trainers == ["harness/train/stacked.py"], trainers
    listing = '("act-norm", "leaky_relu")'
    where = [str(p.relative_to(REPO)) for p in REPO.glob("*/**/*.py")
             if listing in p.read_text() and not p.parts[-2] == "tests"]
    assert where == ["claims/questions_01_seed.py"], where


def test_judging_a_source_never_imports_torch():
    """Judging the paper's table (settings, questions, runs, stats, report) loads no torch."""
    code = ("import sys, harness.pytest_plugin.session, harness.pytest_plugin.judging, harness.declare.questions, harness.runstore.runs, "
            "harness.report; assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
