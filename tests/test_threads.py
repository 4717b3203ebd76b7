"""Thread layout for CPU training on a shared machine (harness/train/threads.py)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.train.threads import one_process_hint, threads_for

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("workers, cores, busy, expected", [
    (1, 2, 0, 2),   # alone on an idle machine: every core
    (2, 2, 1, 1),   # xdist -n 2 starting together: each sees its sibling, one core each
    (1, 2, 2, 1),   # a second session while another's two workers run: what is left, >= 1
    (2, 2, 3, 1),
    (1, 16, 4, 12),
    (4, 16, 3, 4),  # the three siblings are not outsiders
    (3, 2, 0, 1),   # more workers than cores: never zero threads
])
def test_threads_share_the_free_cores(workers, cores, busy, expected):
    assert threads_for(workers, cores=cores, busy=busy) == expected


@pytest.mark.parametrize("preset, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_the_plugin_makes_openmp_waits_sleep_before_torch_starts(preset, expected):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    code = ("import sys, harness.pytest_plugin.plugin, os; assert 'torch' not in sys.modules; "
            "print(os.environ['OMP_WAIT_POLICY'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


@pytest.mark.parametrize("threads, workers, to_train, says", [
    (2, 1, 130, True),    # `pytest claims` alone on 2 free cores: say -n 2
    (4, 1, 1, True),
    (1, 1, 130, False),   # one thread already: nothing to gain
    (1, 2, 130, False),   # an xdist worker
    (2, 2, 130, False),
    (2, 1, 0, False),     # a warm store: nothing to train
])
def test_a_one_process_session_on_several_threads_is_told_about_xdist(threads, workers, to_train, says):
    line = one_process_hint(threads, workers, to_train)
    assert (line is not None) == says
    if says:
        assert f"pytest -n {threads}" in line and f"{to_train} runs" in line and "\n" not in line
