"""Claims name levels by meaning ("deepest", "smallest batch", "the paper's peak"), never by
their position in a profile's list: judging the committed cpu evidence with every level list
of Q4 and Q5 reordered gives every claim exactly the committed verdict and p. (Before the
declarations, ``--set q4_depths=[8,4,2,1]`` silently inverted q4-gap-widens and
q4-sigmoid-gradient-falls-more, which read the list's last element as the deepest.)"""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EVIDENCE = REPO / "docs" / "results" / "fashion-mnist-cpu"


@pytest.mark.parametrize("sets", [
    ["Q4.depth=[8, 4, 2, 1]", "Q5.batch_size=[128, 16, 2]"],
    ["q4_depths=[2, 8, 1, 4]", "q5_batch_sizes=[16, 2, 128]"],  # the old keys, shuffled
], ids=["reversed", "shuffled-old-keys"])
def test_reordering_level_lists_changes_no_verdict(sets, tmp_path):
    committed = {r["id"]: r["evidence"] for r in
                 json.loads((EVIDENCE / "report.json").read_text())["results"]}
    args = [a for s in sets for a in ("--set", s)]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "claims/test_q4_activation_depth.py", "claims/test_q5_normalization_batch.py",
         "--source", str(EVIDENCE / "runs.csv"), "--reports-dir", str(tmp_path), *args],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / "latest" / "report.json").read_text())
    settings = report["meta"]["profile_settings"]["sizes"]
    assert list(settings["Q4"]["depth"]) != sorted(settings["Q4"]["depth"])  # the order was taken
    got = {r["id"]: r["evidence"] for r in report["results"]}
    assert {c for c in got} == {c for c in committed if c.startswith(("q4-", "q5-"))}
    for cid, ev in got.items():
        assert ev["verdict"] == committed[cid]["verdict"], (cid, ev, committed[cid])
        if committed[cid].get("p") is not None:
            assert math.isclose(ev["p"], committed[cid]["p"], rel_tol=1e-9, abs_tol=1e-12), cid
