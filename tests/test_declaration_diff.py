"""benchmarks/declaration_diff.py: a change that adds claims by declaration touches only
claims/, docs/ and tests/ (issue 23). Checked on synthetic file lists (the rule) and on this
repository's history: every commit marked "bn2015:" (the second paper's claims)."""
import importlib.util
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("declaration_diff", REPO / "benchmarks" / "declaration_diff.py")
diff = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(diff)


def test_the_rule_names_every_file_outside_declarations_claims_docs_and_tests():
    assert diff.outside(["claims/test_bn2015.py", "docs/ADDING_A_CLAIM.md", "tests/x.py"]) == []
    assert diff.outside(["claims/a.py", "harness/statistics/stats.py", "models/build.py"]) == \
        ["harness/statistics/stats.py", "models/build.py"]


def test_the_bn2015_commits_touch_no_engine_file():
    try:
        commits = diff.marked_commits("bn2015:")
    except (subprocess.CalledProcessError, FileNotFoundError):
        pytest.skip("not a git checkout")
    if not commits:
        pytest.skip("no commit marked 'bn2015:' in this history (a squashed merge?)")
    files = {f for c in commits for f in diff.commit_files(c)}
    assert "claims/test_bn2015.py" in files
    assert diff.outside(sorted(files)) == []
