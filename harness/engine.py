"""Run specs in, run records out: store lookup, training of the misses, store write.

Knows nothing of claims. Several processes (pytest-xdist workers) may ask for overlapping
specs at once: each takes a lease on a whole configuration (all its seeds) before training
it, so no key is trained twice, and the biggest configurations are handed out first so the
workers finish together. A leased configuration trains in this process or on a Ray cluster
(``harness.executors``); either way the engine alone writes the store.
"""
from __future__ import annotations

import time
from collections import defaultdict
from typing import Callable

import pandas as pd
import torch

from harness.data import Splits, load_splits
from harness.executors import Failure, LocalExecutor, TrainingFailed
from harness.runs import from_records
from harness.spec import DataSpec, Execution, Protocol, RunSpec
from models import NetConfig
from harness.store import RunStore

POLL_S = 0.5


def run_label(rec: dict) -> str:
    """RunSpec.label() of a stored record (one label format, defined in harness.spec)."""
    d = rec["spec"]
    return RunSpec(NetConfig(**d["net"]), DataSpec(**d["data"]), Protocol(**d["protocol"]),
                   d["seed"]).label()


def estimated_cost(spec: RunSpec) -> float:
    """Relative training cost, for scheduling only: steps x per-step work plus step latency."""
    n = spec.data.train_size or 50_000
    steps = spec.protocol.epochs * -(-n // spec.protocol.batch_size)
    net = spec.net
    px = net.image_size ** 2
    work = spec.protocol.batch_size * px * net.width ** 2 * (net.depth + 1) if net.arch == "cnn" \
        else spec.protocol.batch_size * net.image_size ** 2 * net.width * 8
    latency = 2e6 * (net.depth + 2)  # per-step overhead, in the same made-up units
    return steps * (work + latency)


def config_plan(specs: list[RunSpec]) -> list[tuple[tuple, list[str], float, int]]:
    """(config key, run keys, estimated cost, stacked steps) per configuration of ``specs``:
    what harness.progress weighs the session's work by."""
    groups: dict[tuple, list[RunSpec]] = defaultdict(list)
    for s in specs:
        groups[s.config_key()].append(s)
    out = []
    for ck, g in groups.items():
        p, n = g[0].protocol, g[0].data.train_size or 50_000
        out.append((ck, [s.key() for s in g], sum(estimated_cost(s) for s in g),
                    p.epochs * max(n // p.batch_size, 1)))
    return out


class Engine:
    def __init__(self, store: RunStore, *, device: str = "cpu", data_root=None,
                 download: bool = False, fresh_since: float | None = None,
                 progress: Callable[[str], None] | None = None,
                 epoch_progress: Callable[[str], None] | None = None, executor=None,
                 tracker=None):
        self.store = store
        self.device = torch.device(device)
        self.data_root, self.download = data_root, download
        # --fresh: records written before this session started count as missing.
        self.fresh_since = fresh_since
        # All seeds of a configuration train as one stacked model (harness.stacked). Measured
        # in docs/PERFORMANCE.md: on this 2-core CPU, per replica, 4.2x faster at batch 2,
        # 1.6x at batch 128 and 3.3x on the MLP at smoke scale (about 1x at full scale); on
        # a GPU it is the point of the engine.
        self.progress = progress  # one line per finished run
        self.epoch_progress = epoch_progress  # one line per epoch (pytest -v), for long runs
        self.tracker = tracker  # harness.progress.Tracker: counts and time left, or None
        self._splits: dict[DataSpec, Splits] = {}
        self.trained = 0
        # Where leased configurations train (harness.executors): here, or a Ray cluster.
        self.executor = executor or LocalExecutor(self)
        self.precision = "float32"  # what train_stacked computes in (no bf16 here)

    @property
    def execution(self) -> Execution:
        """How this engine computes runs; part of every key it looks up or trains (read when
        asked: the plugin pins the thread count before training starts)."""
        cpu = self.device.type == "cpu"
        return Execution(self.device.type, torch.get_num_threads() if cpu else 0, self.precision)

    def splits(self, data: DataSpec) -> Splits:
        if data not in self._splits:
            self._splits[data] = load_splits(data, root=self.data_root,
                                             download=self.download).to(self.device)
        return self._splits[data]

    def _lookup(self, keys) -> dict[str, dict]:
        found = self.store.get_many(keys)
        if self.fresh_since is not None:
            found = {k: r for k, r in found.items() if r.get("stored_at", 0) >= self.fresh_since}
        return found

    def ensure(self, specs: list[RunSpec]) -> dict[str, dict]:
        """Every spec's record, training what the store lacks. Returns key -> record."""
        execution = self.execution
        specs = [s.on(execution) for s in specs]
        by_key = {s.key(): s for s in specs}
        have = self._lookup(by_key)
        groups: dict[tuple, list[RunSpec]] = defaultdict(list)
        for key, spec in by_key.items():
            if key not in have:
                groups[spec.config_key()].append(spec)
        pending = sorted(groups.values(), key=lambda g: -sum(estimated_cost(s) for s in g))
        if self.tracker is not None:
            self.tracker.plan(config_plan(specs), done=have)
        flying: set[str] = set()  # keys handed to the executor, records not back yet
        failures: list[Failure] = []
        failed: set[str] = set()
        try:
            while pending or flying:
                progressed = False
                for group in list(pending):
                    if not self.executor.has_room():
                        break
                    keys = [s.key() for s in group]
                    have.update(self._lookup(keys))
                    todo = [s for s in group
                            if s.key() not in have and s.key() not in flying and s.key() not in failed]
                    if not todo:
                        if all(k in have or k in failed for k in keys):
                            pending.remove(group)
                            progressed = True
                        continue
                    self._drop_stale([s.key() for s in todo])
                    claimed = set(self.store.claim_many([s.key() for s in todo]))
                    mine = [s for s in todo if s.key() in claimed]
                    if mine:
                        self.executor.submit(mine)
                        flying.update(s.key() for s in mine)
                        progressed = True
                # Block for a result only when no other process holds configurations we wait on.
                for out in self.executor.collect(timeout=None if not pending else POLL_S):
                    if isinstance(out, Failure):
                        self._fail(out, flying, failed)
                        failures.append(out)
                    else:
                        have[out["key"]] = self._store(out)
                        flying.discard(out["key"])
                if pending and not progressed and not flying:
                    time.sleep(POLL_S)  # others hold the rest; wait for their records
        except BaseException:
            for key in flying:  # interrupted: what is in flight is lost, its leases freed
                self.store.release(key)
            raise
        if failures:
            raise TrainingFailed(failures)
        return {k: have[k] for k in by_key}

    def step_hook(self, specs: list[RunSpec]) -> Callable[[], None] | None:
        """What the trainer calls after each step of ``specs``' configuration (progress), with
        its step count from the loaded training set (the ragged last batch included)."""
        if self.tracker is None:
            return None
        data, p = specs[0].data, specs[0].protocol
        n = len(self._splits[data].x_train) if data in self._splits else data.train_size
        return self.tracker.stepper(specs[0].config_key(),
                                    steps=p.epochs * -(-n // p.batch_size) if n else None)

    def _fail(self, failure: Failure, flying: set[str], failed: set[str]) -> None:
        """A configuration failed for good: free its leases; it is not retried this call."""
        for s in failure.specs:
            self.store.release(s.key())
            flying.discard(s.key())
            failed.add(s.key())
        if self.progress:
            self.progress(f"FAILED {failure.line()}")

    def _drop_stale(self, keys: list[str]) -> None:
        """--fresh: records stored before this session started are deleted, to be retrained."""
        if self.fresh_since is None:
            return
        stale = [k for k, r in self.store.get_many(keys).items()
                 if r.get("stored_at", 0) < self.fresh_since]
        if stale:
            self.store.delete(stale)

    def _store(self, rec: dict) -> dict:
        rec["stored_at"] = time.time()
        self.store.put(rec["key"], rec)
        self.trained += 1
        if self.progress:
            status = f"diverged at epoch {rec['diverged_epoch']}" if rec["diverged_epoch"] else \
                f"best {rec['best_test_acc']:.2f}% final {rec['final_test_acc']:.2f}%"
            self.progress(f"trained {run_label(rec)}: {len(rec['test_acc'])} epochs, "
                          f"{status} ({rec['wall_s']:.1f} s)")
        if self.tracker is not None:  # after the run's line: the status stays the last line
            self.tracker.finished([rec["key"]])
        return rec

    def runs(self, specs: list[RunSpec], source: str = "fresh") -> pd.DataFrame:
        records = self.ensure(specs)
        return from_records(list(records.values()), source)
