"""The committed evidence cannot silently change: every report under docs/results/ is
re-judged from its own runs (its runs.csv, or the paper's table for paper-published) with the
profile its report recorded, in seconds and without training, and every claim must get
exactly the committed verdict and p-value. A ``--seeds auto`` report is replayed stage by
stage from its runs.csv (harness/runstore/replay.py): the same stops, the same sequential p's.
A change to stats or claims that alters a committed verdict fails here until the report is
regenerated and the change is written in docs/RESULTS.md."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from harness.runstore import replay

REPO = Path(__file__).resolve().parent.parent
FOLDERS = sorted(p.parent for p in (REPO / "docs" / "results").glob("*/report.json"))


def _source(folder: Path, meta: dict) -> str:
    return "paper" if meta.get("source") in ("paper", "seed") else str(folder / "runs.csv")


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_committed_report_rejudges_to_the_same_verdicts(folder, tmp_path):
    committed = json.loads((folder / "report.json").read_text())
    meta = committed["meta"]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "claims", "-q",
         "--source", _source(folder, meta), "--reports-dir", str(tmp_path)] + replay.seed_args(meta),
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    fresh = json.loads((tmp_path / "latest" / "report.json").read_text())
    want = {r["id"]: r["evidence"] for r in committed["results"]}
    got = {r["id"]: r["evidence"] for r in fresh["results"]}
    assert got.keys() >= want.keys()
    # claims added since the report was made (another paper's) have no runs in it
    for cid in got.keys() - want.keys():
        assert got[cid]["verdict"] == "untestable", (cid, got[cid])
    for cid, ev in want.items():
        assert got[cid]["verdict"] == ev["verdict"], (cid, got[cid], ev)
        p_new, p_old = got[cid].get("p"), ev.get("p")
        assert (p_new is None) == (p_old is None), cid
        if p_old is not None:
            assert math.isclose(p_new, p_old, rel_tol=1e-9, abs_tol=1e-12), (cid, p_new, p_old)
