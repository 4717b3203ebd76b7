"""The layout issue 8 asked for, kept: each concept in one home, imports that only run down;
and issue 23's: harness/ is subpackages in layers, and the torch-free ones never reach torch.

Read from the source with ``ast`` (nothing imported; one subprocess per torch-free subpackage
checks what importing it loads), so a change that breaks the layout fails here with the file
and the import named.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def imported_modules(path: Path, root: Path = REPO) -> set[str]:
    """Absolute names of every module ``path`` imports, at any depth (and, for ``from m import
    n``, ``m.n``: n may be a submodule)."""
    out: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    pkg = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
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
    "harness/statistics/stats.py": ("harness.report", "harness.pytest_plugin", "pytest"),
    "harness/statistics/formatting.py": ("harness.report", "harness.pytest_plugin",
                                         "harness.statistics.stats", "pandas", "torch"),
    "harness/declare/questions.py": ("harness.report", "harness.pytest_plugin", "harness.runstore", "torch",
                                     "pandas"),
    "harness/pytest_plugin/session.py": ("pytest", "harness.pytest_plugin.plugin"),
    "harness/pytest_plugin/judging.py": ("pytest", "harness.pytest_plugin.plugin", "harness.report"),
    # issue 21: the JUnit summary (pytest, the private _pytest.junitxml) lives in the plugin
    "harness/statistics/sequential.py": ("pytest", "_pytest", "harness.pytest_plugin", "harness.report"),
    "harness/statistics/epoch_check.py": ("pytest", "_pytest", "harness.pytest_plugin", "harness.report"),
    "harness/statistics/multiplicity.py": ("pytest", "_pytest", "harness.pytest_plugin", "harness.report"),
    "models/config.py": ("torch",),
}


@pytest.mark.parametrize("rel", sorted(NEVER))
def test_lower_layers_do_not_import_upper_ones(rel):
    mods = imported_modules(REPO / rel)
    bad = sorted(m for m in mods for banned in NEVER[rel] if m == banned or m.startswith(banned + "."))
    assert not bad, f"{rel} imports {bad}"


# --- the layout (issue 23 item 4): harness/ is its subpackages, and torch stays on one side ------
#: Each subpackage of harness/ and the other subpackages it may import: imports run down.
LAYERS = {
    "declare": set(),  # the questions, profiles, grids and RunSpec: the bottom
    # runstore: aa_calibration groups runs by the configuration columns and its command line
    # (python -m ...) reads a runs.csv
    "statistics": {"declare", "runstore"},
    "runstore": {"declare", "statistics"},
    "report": {"declare", "statistics", "runstore"},
    "train": {"declare", "runstore"},  # the torch side: the engine reads and writes the store
    "pytest_plugin": {"declare", "statistics", "runstore", "report", "train"},  # on top of both sides
}
#: The subpackages that never load torch, whatever is imported or called in them.
TORCH_FREE = ("declare", "statistics", "runstore", "report")
#: Names that load torch: torch, torchvision, the torch side of harness and the models' builder
#: (``models`` itself is torch-free: it imports ``models.build`` only when a network is built).
TORCH_SIDE = ("torch", "torchvision", "harness.train", "models.build", "models.build_network",
              "models.count_parameters")


def harness_modules(root: Path = REPO) -> dict[str, Path]:
    """Every module of the harness package by dotted name (a package by its __init__.py)."""
    out = {}
    for p in sorted((root / "harness").rglob("*.py")):
        parts = p.relative_to(root).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


def layer(module: str) -> str | None:
    """The subpackage of harness a module belongs to (None: harness/__init__.py)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "harness" else None


def _torch_side(name: str) -> bool:
    return any(name == t or name.startswith(t + ".") for t in TORCH_SIDE)


def torch_chain(module: str, root: Path = REPO) -> list[str]:
    """The shortest chain of imports (at any depth, inside functions too) from ``module`` to a
    name that loads torch, following the harness modules each import runs (with the packages on
    the way); [] when there is none."""
    mods = harness_modules(root)
    parent: dict[str, str | None] = {module: None}
    todo = [module]
    while todo:
        m = todo.pop(0)
        for name in sorted(imported_modules(mods[m], root)):
            if _torch_side(name):
                chain = [name, m]
                while parent[chain[-1]] is not None:
                    chain.append(parent[chain[-1]])
                return chain[::-1]
            parts = name.split(".")
            for run in (".".join(parts[:i]) for i in range(1, len(parts) + 1)):
                if run in mods and run not in parent:
                    parent[run] = m
                    todo.append(run)
    return []


MODULES = harness_modules()


def test_every_module_lives_in_a_declared_subpackage():
    """harness/ holds its __init__.py and the subpackages of LAYERS, nothing else: a new module
    or subpackage is placed (and, if torch-free, held to it) here."""
    stray = sorted(m for m in MODULES if m != "harness" and layer(m) not in LAYERS)
    assert not stray, f"modules outside the declared subpackages: {stray}"
    assert set(LAYERS) == {p.name for p in (REPO / "harness").iterdir() if (p / "__init__.py").is_file()}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer(m)))
def test_imports_run_down(module):
    own = layer(module)
    bad = sorted(m for m in imported_modules(MODULES[module])
                 if m.startswith("harness.") and layer(m) not in {own, *LAYERS[own]})
    assert not bad, f"{MODULES[module].relative_to(REPO)} ({own}) imports {bad}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer(m) != "pytest_plugin"))
def test_only_the_pytest_side_knows_pytest(module):
    """The report, the statistics, the declarations, the store and the trainer import neither
    pytest nor its private _pytest: the plugin turns their results and errors into pytest's."""
    bad = sorted(m for m in imported_modules(MODULES[module]) if m.split(".")[0] in ("pytest", "_pytest"))
    assert not bad, f"{MODULES[module].relative_to(REPO)} imports {bad}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer(m) in TORCH_FREE))
def test_the_torch_free_side_never_reaches_torch(module):
    """Transitively, at any depth: calling any function of a torch-free module loads no torch."""
    chain = torch_chain(module)
    assert not chain, f"{MODULES[module].relative_to(REPO)} reaches torch: {' -> '.join(chain)}"


@pytest.mark.parametrize("package", TORCH_FREE)
def test_importing_a_torch_free_package_loads_no_torch(package):
    """Every module of the subpackage imported in a fresh interpreter: no torch in sys.modules."""
    mods = sorted(m for m in MODULES if layer(m) == package)
    code = ("import importlib, sys\n"
            f"for m in {mods!r}: importlib.import_module(m)\n"
            "assert importlib.import_module('harness').__file__.startswith(sys.argv[1]), 'another checkout'\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision'))\n"
            "assert not bad, bad[:5]")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", code, str(REPO)], cwd=REPO, env=env, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_the_torch_boundary_check_names_the_chain(tmp_path):
    """The check can fail: a statistics module that reaches torch through a lazy import of
    the run store, which imports the torch side, is named with the whole chain."""
    files = {
        "harness/__init__.py": "",
        "harness/statistics/__init__.py": "",
        "harness/statistics/fine.py": "from harness.runstore.runs import table\n",
        "harness/statistics/bad.py": "def later():\n    from harness.runstore import feed\n",
        "harness/runstore/__init__.py": "",
        "harness/runstore/runs.py": "table = None\n",
        "harness/runstore/feed.py": "from harness.train.data import Splits\n",
        "harness/train/__init__.py": "",
        "harness/train/data.py": "import torch\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert torch_chain("harness.statistics.fine", tmp_path) == []
    assert torch_chain("harness.statistics.bad", tmp_path) == [
        "harness.statistics.bad", "harness.runstore.feed", "harness.train.data"]


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
    code = ("import sys, harness.pytest_plugin.session, harness.pytest_plugin.judging, "
            "harness.declare.questions, harness.runstore.runs, harness.report; "
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
