"""The suite as an installable pytest plugin: the pytest11 entry point, the example project
that uses it from outside this repository, and no double registration here."""
import json
import os
import subprocess
import sys
import tomllib
from importlib.metadata import entry_points
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "minimal"


def test_the_package_declares_the_plugin_entry_point():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"seed_claims": "harness.pytest_plugin.plugin"}
    # the report validates baselines against its schema: the file ships with the package
    data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "report.schema.json" in data["harness.report"]
    assert any(d.startswith("jsonschema") for d in project["dependencies"])


def _plugin_args() -> list[str]:
    """As the installed entry point would: when this environment has the entry point (pip
    install -e . of this version), pytest loads it itself; else name the plugin with -p."""
    installed = any(ep.value == "harness.pytest_plugin.plugin" for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "harness.pytest_plugin.plugin"]


def test_the_example_project_runs_on_the_plugin_alone(tmp_path):
    """examples/minimal is its own rootdir (its pytest.ini): this repo's conftest.py is never
    read, so the claim marker, the judge fixture, the options and the report all come from
    the plugin."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    # --reports-dir=PATH in one word: a bare existing path would count among the paths pytest
    # looks for an ini file from, and the example's pytest.ini would then be missed
    proc = subprocess.run([sys.executable, "-m", "pytest", *_plugin_args(), "-q",
                           f"--reports-dir={tmp_path}"],
                          cwd=EXAMPLE, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout
    doc = json.loads((tmp_path / "latest" / "report.json").read_text())
    [result] = doc["results"]
    assert result["id"] == "bn-small-batch-worse" and result["evidence"]["verdict"] == "supported"
    assert doc["meta"]["source"] == "runs.csv"  # relative to the example project


def test_the_plugin_registered_before_the_conftest_is_not_registered_twice():
    """-p harness.pytest_plugin.plugin registers the module before this repo's conftest.py is read, as the
    pytest11 entry point does; the conftest must then leave it alone."""
    if _plugin_args() == []:  # the entry point is installed: it is already the case here
        args = []
    else:
        args = ["-p", "harness.pytest_plugin.plugin"]
    proc = subprocess.run([sys.executable, "-m", "pytest", *args, "--collect-only", "-q",
                           "tests/test_provenance.py"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "already registered" not in proc.stdout + proc.stderr
