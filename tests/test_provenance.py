"""Reports travel: no committed file and no report names a path of the machine it ran on."""
import re
from pathlib import Path

import pytest

from harness.train.provenance import portable_command, portable_path

REPO = Path(__file__).resolve().parent.parent
#: a home folder, /work (this machine's checkouts) or a pyenv interpreter: what the issue found
MACHINE_PATH = re.compile(r"/(root|home|work)/|\.pyenv")


@pytest.mark.parametrize("path, want", [
    ("/proj/.runstore/runs.sqlite", ".runstore/runs.sqlite"),   # inside the project: relative
    ("/proj", "."),
    ("/me/stores/cpu.sqlite", "~/stores/cpu.sqlite"),           # under the home folder
    ("/tmp/tmp.X1/smoke-cpu", ".../smoke-cpu"),                 # elsewhere: its name only
    ("/projector/x.csv", ".../x.csv"),                          # a prefix is not a parent
    ("docs/results/smoke-cpu/runs.csv", "docs/results/smoke-cpu/runs.csv"),  # relative: as typed
    ("paper", "paper"),
])
def test_portable_path(path, want):
    assert portable_path(path, "/proj", home="/me") == want


def test_portable_command_names_no_interpreter_and_no_absolute_path():
    argv = ["/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/pytest/__main__.py",
            "claims", "-n", "2", "--store", "/proj/.runstore/a.sqlite", "--reports-dir=/tmp/r1",
            "--source", "docs/x/runs.csv"]
    got = portable_command(argv, "/proj", home="/root")
    assert got == ("python -m pytest claims -n 2 --store .runstore/a.sqlite --reports-dir=.../r1 "
                   "--source docs/x/runs.csv")
    assert portable_command(["/usr/local/bin/pytest", "claims"], "/proj", home="/me") == "pytest claims"


def test_no_committed_doc_names_a_machine_path():
    """The issue's check, kept: `grep -rE "/(root|home|work)/|\\.pyenv" docs/` finds nothing."""
    hits = []
    for f in sorted((REPO / "docs").rglob("*")):
        if not f.is_file():
            continue
        try:
            text = f.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # figures
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if MACHINE_PATH.search(line):
                hits.append(f"{f.relative_to(REPO)}:{n}: {line[:120]}")
    assert not hits, "machine paths in docs/ (make them portable):\n" + "\n".join(hits[:20])


def test_the_machine_path_check_can_fail():
    assert MACHINE_PATH.search('"store": "/work/main/.runstore/runs.sqlite"')
    assert MACHINE_PATH.search("/root/.pyenv/versions/3.11.7/bin/python")
    assert not MACHINE_PATH.search('"store": ".runstore/runs.sqlite"')
