"""--executor ray (harness/train/executors.py) on a local Ray cluster that this module starts (2 CPUs)
and always shuts down: records equal to the local executor's, a worker killed mid-task
retried with nothing lost, a configuration past its retries reported (not hung), a killed
driver leaving a consistent store that a rerun completes by training only what is missing.
Every Ray test skips, saying why, where Ray is not installed; the usage errors run anyway."""
from __future__ import annotations

import importlib.util
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from harness.declare import grids
from harness.declare.profiles import PROFILES
from harness.runstore.store import RunStore
from harness.train import executors
from harness.train.engine import Engine
from harness.train.executors import ExecutorError, RayExecutor, TrainingFailed

REPO = Path(__file__).resolve().parent.parent
HAVE_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="Ray is not installed (pip install -e '.[ray]')")
#: Record fields that differ between two trainings of the same run: timings and store time.
UNSTABLE = {"wall_s", "stored_at"}
THREADS = 1  # torch threads of the local reference and of every Ray task (--ray-cpus-per-task 1)


def tiny_specs(questions=("Q4", "Q5", "Q6")):
    p = PROFILES["tiny"]
    return [s for q in questions for s in grids.grid(q, p, p.dataset, p.seeds)]


def comparable(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if k not in UNSTABLE}


def run_pytest(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)


# -- usage errors (no cluster) ---------------------------------------------------------------
def test_ray_missing_is_one_clear_usage_error(tmp_path):
    """Without Ray, --executor ray stops at start with one line saying how to install it."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "ray.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hide), str(REPO)])}
    proc = run_pytest("claims", "--profile", "tiny", "--executor", "ray",
                      "--store", str(tmp_path / "s.sqlite"), env=env)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("ERROR")]
    assert "Ray is not installed" in line and "pip install -e '.[ray]'" in line
    assert "Traceback" not in proc.stderr and not (tmp_path / "s.sqlite").exists()


@pytest.mark.parametrize("args, expected", [
    (["--executor", "nope"], "valid: local, ray"),
    pytest.param(["--executor", "ray", "--ray-gpus-per-task", "2"], "--ray-gpus-per-task must be in (0, 1]",
                 marks=needs_ray),
    pytest.param(["--executor", "ray", "--ray-cpus-per-task", "0"], "--ray-cpus-per-task must be positive",
                 marks=needs_ray),
    pytest.param(["--executor", "ray", "-n", "2"], "drop -n", marks=needs_ray),
    pytest.param(["--executor", "ray", "--ray-address", "127.0.0.1:1"], "no Ray cluster answers there",
                 marks=needs_ray),
])
def test_bad_executor_option_is_one_clear_usage_error(tmp_path, args, expected):
    proc = run_pytest("claims", "--profile", "tiny", "-k", "no_such_claim",
                      "--store", str(tmp_path / "s.sqlite"), *args)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    (line,) = [ln for ln in proc.stderr.splitlines() if ln.startswith("ERROR")]
    assert expected in line, line
    assert "Traceback" not in proc.stderr


# -- on a local cluster ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def cluster():
    """One local Ray cluster (2 CPUs, no dashboard) for the module, joined by this process;
    its address for driver subprocesses. Shut down (all its processes) whatever happens."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]'): "
                                            "the --executor ray tests need it")
    if ray.is_initialized():
        pytest.skip("this process already joined a Ray cluster")
    # Short: Ray's socket paths under the temp dir must fit in 107 bytes.
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    try:
        for attempt in (1, 2, 3):
            try:
                ray.init(num_cpus=2, include_dashboard=False, _temp_dir=temp,
                         object_store_memory=100 * 1024 ** 2, log_to_driver=False,
                         logging_level="WARNING", runtime_env=executors.ray_runtime_env())
                break
            except Exception as exc:  # Ray gives a new node 30 s (fixed) to register
                ray.shutdown()
                if attempt == 3 or "timed out during startup" not in str(exc):
                    raise
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def local_records(tmp_path_factory):
    """The whole tiny profile trained by the local executor, THREADS torch threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        with RunStore(tmp_path_factory.mktemp("local") / "s.sqlite") as store:
            return Engine(store).ensure(tiny_specs())
    finally:
        torch.set_num_threads(before)


def _ancestors(pid: int) -> set[int]:
    out = set()
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
        out.add(pid)
    return out


def _running_tasks() -> dict[int, str]:
    """pid -> process title of this process's Ray workers now running a training task."""
    me, out = os.getpid(), {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            title = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, UnicodeDecodeError):
            continue
        if title.startswith("ray::train") and me in _ancestors(int(entry)):
            out[int(entry)] = title.strip()
    return out


@contextmanager
def worker_killer(times: int = 1):
    """SIGKILL the worker process running a training task, ``times`` times (one at a time),
    as soon as one shows up; yields the list of (pid, title) killed."""
    killed: list[tuple[int, str]] = []
    stop = threading.Event()

    def hunt():
        while not stop.is_set() and len(killed) < times:
            for pid, title in _running_tasks().items():
                if pid not in {p for p, _ in killed}:
                    os.kill(pid, signal.SIGKILL)
                    killed.append((pid, title))
                    break
            time.sleep(0.02)

    thread = threading.Thread(target=hunt, daemon=True)
    thread.start()
    try:
        yield killed
    finally:
        stop.set()
        thread.join()


pytestmark_linux = pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                      reason="finds Ray's worker processes in /proc (Linux)")


def test_tiny_profile_on_ray_gives_the_local_records(cluster, local_records, tmp_path):
    specs = tiny_specs()
    ex = RayExecutor(device="cpu", cpus_per_task=THREADS).connect()
    lines: list[str] = []
    with RunStore(tmp_path / "s.sqlite") as store:
        remote = Engine(store, executor=ex, progress=lines.append).ensure(specs)
        assert ex.sent == len({s.config_key() for s in specs}), "one task per configuration"
        assert remote.keys() == local_records.keys()
        for key, rec in remote.items():
            assert comparable(rec) == comparable(local_records[key]), rec["spec"]
        assert sorted(store.keys()) == sorted(local_records)
        assert len([ln for ln in lines if ln.startswith("trained ")]) == len(specs)
        # Configurations already in the store are never sent.
        Engine(store, executor=ex).ensure(specs)
        assert ex.sent == len({s.config_key() for s in specs})


def test_cuda_on_a_cluster_without_gpus_is_one_clear_error(cluster):
    with pytest.raises(ExecutorError, match="the Ray cluster has 0 GPUs"):
        RayExecutor(device="cuda").connect()
    assert RayExecutor(device="auto").connect().device == "cpu"


@pytestmark_linux
def test_worker_killed_mid_task_is_retried_and_nothing_is_lost(cluster, local_records, tmp_path):
    specs = tiny_specs(("Q6",))
    ex = RayExecutor(device="cpu", cpus_per_task=THREADS, max_retries=2).connect()
    with RunStore(tmp_path / "s.sqlite") as store:
        with worker_killer(times=1) as killed:
            remote = Engine(store, executor=ex).ensure(specs)
        assert len(killed) == 1, "a worker was killed while it trained a configuration"
        # Every run exactly once, each the record the local executor made.
        assert sorted(store.keys()) == sorted(s.key() for s in specs)
        for key, rec in store.get_many(store.keys()).items():
            assert comparable(rec) == comparable(local_records[key])
        assert set(remote) == set(store.keys())


@pytestmark_linux
def test_worker_killed_past_its_retries_fails_that_configuration_clearly(cluster, tmp_path):
    specs = tiny_specs(("Q6",))
    ex = RayExecutor(device="cpu", cpus_per_task=THREADS, max_retries=0).connect()
    lines: list[str] = []
    with RunStore(tmp_path / "s.sqlite") as store:
        with worker_killer(times=1) as killed, pytest.raises(TrainingFailed) as info:
            Engine(store, executor=ex, progress=lines.append).ensure(specs)
        (failure,) = info.value.failures
        assert len(killed) == 1 and executors.config_label(failure.specs) in killed[0][1]
        assert "after 0 retries (max_retries)" in str(info.value)
        assert [ln for ln in lines if ln.startswith("FAILED")] == [f"FAILED {failure.line()}"]
        # The other configurations were stored; the failed one left nothing and no lease.
        lost = {s.key() for s in failure.specs}
        assert sorted(store.keys()) == sorted(s.key() for s in specs if s.key() not in lost)
        assert sorted(store.claim_many(sorted(lost))) == sorted(lost)
        for key in lost:
            store.release(key)
        # A rerun trains exactly that configuration.
        sent = ex.sent
        Engine(store, executor=ex).ensure(specs)
        assert ex.sent == sent + 1 and sorted(store.keys()) == sorted(s.key() for s in specs)


def _trained_labels(text: str) -> list[str]:
    return [ln.split("trained ", 1)[1].split(":")[0] for ln in text.splitlines()
            if ln.strip().startswith("trained ")]


def test_killed_driver_leaves_a_consistent_store_and_a_rerun_trains_only_the_missing(
        cluster, local_records, tmp_path):
    """`pytest claims --executor ray` killed (SIGKILL) after its first stored run: the store
    holds only whole records; a second session trains exactly the runs still missing."""
    store_path = tmp_path / "s.sqlite"
    # Q6 only: 6 configurations, enough to kill the driver mid-grid, half the time of all 14.
    opts = ["claims", "-k", "q6", "--profile", "tiny", "--executor", "ray", "--ray-address", cluster,
            "--ray-cpus-per-task", str(THREADS), "--store", str(store_path),
            "--reports-dir", str(tmp_path / "reports")]
    driver = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *opts],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(ln) for ln in driver.stderr], daemon=True).start()
    deadline, seen = time.time() + 400, []  # generous: 2 shared cores
    try:
        while time.time() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                assert driver.poll() is None, "the driver ended before training anything:\n" + "".join(seen)
                continue
            seen.append(line)
            if line.strip().startswith("trained "):
                break
        else:
            pytest.fail("no run was stored within 400 s:\n" + "".join(seen))
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=60)
    expected = {s.key(): s for s in tiny_specs(("Q6",))}
    with RunStore(store_path) as store:
        kept = store.get_many(store.keys())
    assert set(kept) <= set(expected) and 1 <= len(kept) < len(expected), len(kept)
    for key, rec in kept.items():
        assert rec["key"] == key and len(rec["test_acc"]) == expected[key].protocol.epochs

    rerun = run_pytest(*opts)
    assert rerun.returncode in (0, 1), rerun.stdout + rerun.stderr
    trained = _trained_labels(rerun.stderr)
    assert sorted(trained) == sorted(s.label() for k, s in expected.items() if k not in kept)
    with RunStore(store_path) as store:
        final = store.get_many(store.keys())
    assert set(final) == set(expected)
    # Whole configurations (all seeds stacked, as the local run) equal the local records;
    # one the kill split (some seeds stored) was completed by a smaller stack: rounding.
    split = {s.config_key() for k, s in expected.items() if k in kept} & \
        {s.config_key() for k, s in expected.items() if k not in kept}
    for key, rec in final.items():
        if expected[key].config_key() not in split:
            assert comparable(rec) == comparable(local_records[key]), rec["spec"]
