"""CPU threads for a training process: how many, and how they wait; and each xdist worker's
share of the machine (``pin_worker_resources``: threads, and its GPU).

Shared machines are the norm for CPU users. Two measured failure modes (docs/PERFORMANCE.md):
each process taking every core (two sessions at two threads each on two cores), and OpenMP
threads that spin while they wait, so an oversubscribed core burns its time slice spinning
instead of handing it to the thread that has work. The fixes live here, in one place:

* ``quiet_waiting()`` asks OpenMP to put waiting threads to sleep (``OMP_WAIT_POLICY=PASSIVE``).
  It only works before the OpenMP runtime starts, i.e. before torch is imported, so the pytest
  plugin calls it at import time; a value the user set is kept.
* ``threads_for(workers)`` gives each of ``workers`` processes its share of the cores that are
  free now: allowed cores minus the runnable tasks of other processes (sampled from
  /proc/loadavg), never less than one.
* ``one_process_hint(...)``: a one-process session about to train on several threads is told
  that ``pytest -n N`` (one thread per process) trains these small networks faster.
"""
from __future__ import annotations

import os
import statistics
import time

#: Environment names OpenMP (libgomp, Intel's runtime) reads once, at start-up.
WAIT_POLICY_ENV = "OMP_WAIT_POLICY"


def quiet_waiting() -> str:
    """Sleeping, not spinning, waits for OpenMP threads; returns the policy in force."""
    return os.environ.setdefault(WAIT_POLICY_ENV, "PASSIVE")


def allowed_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def runnable_others(samples: int = 5, interval_s: float = 0.02) -> int:
    """Runnable tasks on the machine besides this one (median of a few samples of the
    instantaneous count in /proc/loadavg); 0 where the file does not exist."""
    counts = []
    for i in range(samples):
        try:
            with open("/proc/loadavg") as f:
                running = int(f.read().split()[3].split("/")[0])
        except (OSError, ValueError, IndexError):
            return 0
        counts.append(max(0, running - 1))  # the reading process is itself running
        if i + 1 < samples:
            time.sleep(interval_s)
    return int(statistics.median(counts))


def threads_for(workers: int = 1, *, cores: int | None = None, busy: int | None = None) -> int:
    """Intra-op threads for one of ``workers`` sibling processes: the free cores shared out.

    ``busy`` counts runnable tasks outside this session; sibling workers starting at the same
    moment count themselves in it, so they are taken off first (they are in ``workers``)."""
    cores = allowed_cores() if cores is None else cores
    busy = runnable_others() if busy is None else busy
    outsiders = max(0, busy - (workers - 1))
    free = max(1, cores - outsiders)
    return max(1, free // max(1, workers))


def pin_worker_resources(settings) -> None:
    """Each xdist worker gets its share of the CPU threads and, on CUDA, one GPU (before CUDA
    initialises). Two workers each using all cores made 15 ms steps take over a second."""
    import torch

    n_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    # The cores free now, shared among this session's workers: a second session on a busy
    # machine takes what is left instead of doubling the threads (harness/train/threads.py).
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(threads_for(n_workers))
    if settings.device == "cuda" and n_workers > 1 and torch.cuda.device_count() > 1:
        index = int(worker.removeprefix("gw") or 0) % torch.cuda.device_count()
        settings.device = f"cuda:{index}"
        # The string alone is not enough: torch.cuda.graph captures on the CURRENT device's
        # stream, so a worker left on GPU 0 would capture empty graphs for cuda:i (issue 12).
        torch.cuda.set_device(index)


def one_process_hint(threads: int, workers: int, to_train: int) -> str | None:
    """One line for a one-process CPU session about to train on several threads: the
    networks here are small, so their steps hardly use a second thread, while
    ``pytest -n N`` trains N configurations side by side at one thread each (the smoke
    profile's 130 runs: 180 s in one process, 60 s with ``-n 2`` on the README's 2-core
    machine). None when there is nothing to say: xdist workers, one thread, nothing to train."""
    if workers > 1 or threads < 2 or to_train == 0:
        return None
    return (f"note: {to_train} runs to train in one process at {threads} threads; these small "
            f"networks train faster as `pytest -n {threads}` (pytest-xdist: {threads} processes "
            f"at one thread each; 3x on the README's 2-core machine)")
