"""The CI recipe: the workflow parses, runs what the README's CI section documents, and keeps
the steps the issue asks for (install, cached store, xdist smoke claims, compare with main,
the example project, report.html uploaded)."""
import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")  # pip install -e '.[dev]'

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / ".github" / "workflows" / "claims.yml"


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _commands(steps) -> list[str]:
    """Every shell line the workflow runs (comments and blank lines dropped)."""
    lines = []
    for step in steps:
        for line in (step.get("run") or "").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def _readme_ci_block() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("\n## CI\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.strip() for line in block.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def test_the_workflow_parses_and_triggers_on_main_and_pull_requests():
    wf = _workflow()
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` key as true
    assert on["push"]["branches"] == ["main"] and "pull_request" in on
    assert list(wf["jobs"]) == ["claims"]


def test_the_workflow_runs_the_readme_commands_and_nothing_else():
    runs = _commands(_workflow()["jobs"]["claims"]["steps"])
    readme = _readme_ci_block()
    assert runs, "the workflow runs no command"
    assert [c for c in runs if c not in readme] == []
    assert [c for c in readme if c not in runs] == []


def test_the_workflow_has_each_step_of_the_recipe():
    steps = _workflow()["jobs"]["claims"]["steps"]
    uses = [s.get("uses", "") for s in steps]
    runs = "\n".join(_commands(steps))
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache@"))
    assert cache["with"]["path"] == ".runstore"  # the run store, restored and saved
    assert "pip install -e ." in runs
    assert re.search(r"pytest claims -n \d", runs)  # the smoke claims under xdist
    assert "--compare baseline/report.json --compare-fail verdict" in runs
    assert "cd examples/minimal && python -m pytest" in runs
    upload = steps[uses.index("actions/upload-artifact@v4")]
    assert upload["with"]["path"].split()[0] == "reports/latest/report.html"
    assert upload.get("if") == "always()"  # a failed claim still publishes its evidence
    save = next(s for s in steps if s.get("uses", "").startswith("actions/cache/save@"))
    assert save["with"]["path"] == "baseline" and "main" in save["if"]
