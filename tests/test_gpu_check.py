"""The GPU check's rehearsal (benchmarks/gpu_check.sh --rehearse: both steps on the CPU at
tiny size) fits the GPU machine's limits: each step stays inside its time box and leaves at
most 8 plain files of at most 16 MiB in its output folder, the store is packed after a WAL
checkpoint, and the CPU parity lines pass. Takes at most two time boxes (2 x 240 s)."""
from __future__ import annotations

import os
import re
import subprocess
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BOX_S = 240  # the cap; on an idle 2-core CPU the rehearsal takes far less
MAX_FILES, MAX_BYTES = 8, 16 * 2 ** 20


def test_rehearsal_fits_the_gpu_machine(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path), STEP_S_REHEARSE=str(BOX_S), PYTHONPATH=str(REPO))
    proc = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--rehearse"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=2 * BOX_S + 60)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for step in (1, 2):
        out = tmp_path / f"step{step}"
        entries = list(out.iterdir())
        assert all(e.is_file() for e in entries), entries  # nothing nested: one tarball instead
        assert len(entries) <= MAX_FILES, sorted(e.name for e in entries)
        assert all(e.stat().st_size <= MAX_BYTES for e in entries)
        timing = (out / "timing.txt").read_text()
        m = re.search(rf"step {step}: exit (\d+) in (\d+) s of a {BOX_S} s box", timing)
        assert m, timing
        assert int(m.group(2)) <= BOX_S, timing
    parity = (tmp_path / "step1" / "parity.txt").read_text()
    assert parity.count("PASS") == 3 and "FAIL" not in parity, parity
    assert "| Q6 MLP" in (tmp_path / "step1" / "bench.md").read_text()
    with tarfile.open(tmp_path / "step2" / "step2.tar.gz") as tar:
        names = {Path(n).name for n in tar.getnames()}
    assert "runs.sqlite" in names and "runs.sqlite-wal" not in names, names
    assert "Whole protocol, extrapolated" in (tmp_path / "step2" / "slice.md").read_text()
