"""Run specs in, run records out: store lookup, training of the misses, store write.

Knows nothing of claims. Several processes (pytest-xdist workers) may ask for overlapping
specs at once: each takes a lease on a whole configuration (all its seeds) before training
it, so no key is trained twice, and the biggest configurations are handed out first so the
workers finish together. A leased configuration trains in this process or on a Ray cluster
(``harness.train.executors``); either way the engine alone writes the store.
"""
from __future__ import annotations

import functools
import time
from collections import defaultdict
from typing import Callable

import pandas as pd
import torch

from harness.declare.spec import DataSpec, Execution, Protocol, RunSpec
from harness.runstore.runs import from_records
from harness.runstore.store import RunStore
from harness.runstore.validate import CONFIG_COLUMNS
from harness.train.data import Splits, load_splits
from harness.train.executors import Failure, LocalExecutor, TrainingFailed
from harness.train.plan import AUTO, Plan, choose, parse, use_compile_cache
from models import NetConfig

POLL_S = 0.5
WAIT_REPORT_S = 30  # while waiting on other processes' leases: who holds them, this often


def run_label(rec: dict) -> str:
    """RunSpec.label() of a stored record (one label format, defined in harness.declare.spec)."""
    d = rec["spec"]
    return RunSpec(NetConfig(**d["net"]), DataSpec(**d["data"]), Protocol(**d["protocol"]),
                   d["seed"]).label()


#: The cost model's two fitted constants, in estimated_cost's units (a CNN step's work is
#: batch x pixels x width^2 x (depth + 1)). Fitted by benchmarks/cost_model.py to the
#: per-configuration wall times of the committed sessions trained under execution plans
#: (``RATE_EVIDENCE``), as the values that make seconds per unit most alike across
#: configurations. Before (2e5 and 8, fitted to the sessions before plans) the batch-2 stacks
#: were underweighted about 1.7x and the MLPs overweighted about 4x, which made the time left
#: at half-way 1.3-1.4x too long.
#: Per-step overhead of one stack per (depth + 2) layers, shared by the stack's seeds.
STEP_LATENCY = 6e5
#: An MLP step's work per input pixel x width x batch.
MLP_WORK = 1.5


def estimated_cost(spec: RunSpec, stack: int = 1, *, latency: float = STEP_LATENCY,
                   mlp_work: float = MLP_WORK) -> float:
    """Relative training cost of one run, for scheduling, progress and --max-hours: steps x
    per-step work, plus the per-step overhead shared by the ``stack`` seeds trained together.
    (``latency`` and ``mlp_work``: the fitted constants, overridable for their fit.)"""
    n = spec.data.train_size or 50_000
    steps = spec.protocol.epochs * -(-n // spec.protocol.batch_size)
    net = spec.net
    px = net.image_size ** 2
    work = spec.protocol.batch_size * px * net.width ** 2 * (net.depth + 1) if net.arch == "cnn" \
        else spec.protocol.batch_size * net.image_size ** 2 * net.width * mlp_work
    return steps * (work + latency * (net.depth + 2) / max(stack, 1))


def stack_sizes(specs: list[RunSpec], device_type: str = "cpu", plan: Plan | None = None) -> dict:
    """Run key -> how many seeds train in its stack under ``plan`` (None: the measured table)."""
    groups: dict[tuple, list[RunSpec]] = defaultdict(list)
    for s in specs:
        groups[s.config_key()].append(s)
    out = {}
    for g in groups.values():
        for stack in (plan or choose(g[0], device_type)).groups(g):
            out |= {s.key(): len(stack) for s in stack}
    return out


def host_pid_since(owner: str, taken: float, now: float) -> str:
    """'host pid 123 since 14:02:11 UTC (12 min ago)' for a lease owner ``host:pid[:start]``."""
    parts = owner.split(":")  # host:pid:start (start may be empty), or the older host:pid
    host, pid = (":".join(parts[:-2]), parts[-2]) if len(parts) >= 3 else (parts[0], parts[-1])
    since = time.strftime("%H:%M:%S UTC", time.gmtime(taken))
    return f"{host} pid {pid} since {since} ({(now - taken) / 60:.0f} min ago)"


#: Committed CPU sessions trained under execution plans, whose recorded wall times set the
#: cost model's constants (benchmarks/cost_model.py) and the CPU rate of ``estimated_hours``.
RATE_EVIDENCE = ("docs/results/fashion-mnist-cpu-plans/runs.csv",
                 "docs/results/fashion-mnist-cpu2/runs.csv")


def recorded_costs(df: pd.DataFrame, **model) -> pd.DataFrame:
    """Per configuration of a recorded runs table: its label, its runs' summed ``wall_s`` and
    their summed ``estimated_cost`` (``model``: its constants) at the stack each run trained in.
    A per-seed plan trains stacks of one; the runs of one stack (``engine`` "stacked") carry the
    same ``wall_s``, the stack's wall time / K (harness.train.stacked), which is how a stack is
    told apart from the next stage's stack of the same configuration."""
    out = []
    for _, g in df.groupby([c for c in CONFIG_COLUMNS if c in df], dropna=False, sort=False):
        r = g.iloc[0]
        net = NetConfig(arch=r.arch, width=int(r.width), depth=int(r.depth), block_order=r.block_order,
                        norm=r.norm, activation=r.activation, stem=r.stem, image_size=int(r.image_size))
        data = DataSpec(r.dataset, train_size=None if pd.isna(r.train_size) else int(r.train_size),
                        image_size=int(r.image_size))
        spec = RunSpec(net, data, Protocol(int(r.epochs), int(r.batch_size), float(r.lr)), 0)
        stacked = g["engine"].fillna("stacked").astype(str).str.startswith("stacked") \
            if "engine" in g else pd.Series(True, index=g.index)
        stacks = g.groupby("wall_s")["seed"].transform("count").where(stacked, 1)
        out.append({"config": spec.label().rsplit(" seed ", 1)[0], "seconds": float(g.wall_s.sum()),
                    "cost": sum(estimated_cost(spec, int(k), **model) for k in stacks)})
    return pd.DataFrame(out)


@functools.lru_cache(maxsize=1)
def cpu_seconds_per_cost() -> float:
    """Seconds of one CPU thread per unit of ``estimated_cost``: the committed plan-era CPU
    sessions' total recorded wall over their total estimated cost (2-core Xeon, 2026-12;
    benchmarks/cost_model.py prints it)."""
    from harness.runstore.runs import REPO

    tabs = [recorded_costs(pd.read_csv(REPO / rel)) for rel in RATE_EVIDENCE]
    return sum(t.seconds.sum() for t in tabs) / sum(t.cost.sum() for t in tabs)


def estimated_hours(specs: list[RunSpec], plan: Plan | None = None) -> float:
    """Hours of one CPU thread to train ``specs``: an order-of-magnitude guard (--max-hours),
    not a schedule."""
    stacks = stack_sizes(specs, "cpu", plan)
    return sum(estimated_cost(s, stacks[s.key()]) for s in specs) * cpu_seconds_per_cost() / 3600


def config_plan(specs: list[RunSpec], device_type: str = "cpu",
                plan: Plan | None = None) -> list[tuple[tuple, list[str], float, int]]:
    """(config key, run keys, estimated cost, stacked steps) per configuration of ``specs``
    under ``plan`` (None: the measured table): what harness.pytest_plugin.progress weighs the work by."""
    groups: dict[tuple, list[RunSpec]] = defaultdict(list)
    for s in specs:
        groups[s.config_key()].append(s)
    stacks = stack_sizes(specs, device_type, plan)
    out = []
    for ck, g in groups.items():
        p, n = g[0].protocol, g[0].data.train_size or 50_000
        out.append((ck, [s.key() for s in g], sum(estimated_cost(s, stacks[s.key()]) for s in g),
                    p.epochs * max(n // p.batch_size, 1)))
    return out


class Engine:
    def __init__(self, store: RunStore, *, device: str = "cpu", data_root=None,
                 download: bool = False, fresh_since: float | None = None,
                 progress: Callable[[str], None] | None = None,
                 epoch_progress: Callable[[str], None] | None = None, executor=None,
                 plan: str = AUTO, steal_leases: bool = False, tracker=None):
        self.store = store
        self.steal_leases = steal_leases  # --steal-leases: take other processes' leases
        self.device = torch.device(device)
        self.data_root, self.download = data_root, download
        # --fresh: records written before this session started count as missing.
        self.fresh_since = fresh_since
        # How each configuration's seeds are laid out (harness.train.plan): "auto", the measured
        # table per configuration (stacked where steps are latency-bound, one seed at a time
        # in NHWC for batch-128 CNNs on the CPU, BatchNorm ones compiled where it pays; the
        # table is harness.train.plan.choose), or one plan forced for all ("eager-stacked":
        # the engine before plans). None of them changes a run beyond float reordering.
        self.plan: Plan | None = parse(plan)
        if self.plan is None or self.plan.compile:  # the table (auto) may compile, too
            use_compile_cache(store.path)  # inductor's artefacts beside the store: compiled once
        self.progress = progress  # one line per finished run
        self.epoch_progress = epoch_progress  # one line per epoch (pytest -v), for long runs
        self.tracker = tracker  # harness.pytest_plugin.progress.Tracker: counts and time left, or None
        self._splits: dict[DataSpec, Splits] = {}
        self.trained = 0
        # Where leased configurations train (harness.train.executors): here, or a Ray cluster.
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

    def missing(self, specs: list[RunSpec]) -> list[RunSpec]:
        """The specs (on this engine's execution) the store does not hold: what ``ensure``
        would train."""
        specs = [s.on(self.execution) for s in specs]
        have = self._lookup([s.key() for s in specs])
        return [s for s in specs if s.key() not in have]

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
            self.tracker.plan(config_plan(specs, self.device.type, self.plan), done=have)
        flying: set[str] = set()  # keys handed to the executor, records not back yet
        # A configuration's records are stored together, in one transaction, once all are
        # back: a process killed between two of them would split its stack across the store
        # (a stack's float rounding depends on how many replicas share it).
        config_of: dict[str, str] = {}  # key in flight -> its configuration's key
        back: dict[str, list[dict]] = defaultdict(list)  # configuration -> records not stored yet
        size: dict[str, int] = {}  # configuration -> runs submitted
        failures: list[Failure] = []
        failed: set[str] = set()
        waited_since = None
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
                    claimed = set(self.store.claim_many([s.key() for s in todo], self.steal_leases))
                    mine = [s for s in todo if s.key() in claimed]
                    if mine:
                        self.executor.submit(mine)
                        flying.update(s.key() for s in mine)
                        config_of.update((s.key(), s.config_key()) for s in mine)
                        size[mine[0].config_key()] = len(mine)
                        progressed = True
                # Block for a result only when no other process holds configurations we wait on.
                for out in self.executor.collect(timeout=None if not pending else POLL_S):
                    if isinstance(out, Failure):
                        back.pop(out.specs[0].config_key(), None)
                        self._fail(out, flying, failed)
                        failures.append(out)
                        continue
                    config = config_of[out["key"]]
                    back[config].append(out)
                    if len(back[config]) == size[config]:
                        for rec in self._store(back.pop(config)):
                            have[rec["key"]] = rec
                            flying.discard(rec["key"])
                if pending and not progressed and not flying:
                    waited_since = waited_since or time.time()
                    if time.time() - waited_since >= WAIT_REPORT_S:
                        self._say_who_holds(pending)
                        waited_since = time.time()
                    time.sleep(POLL_S)  # others hold the rest; wait for their records
                else:
                    waited_since = None
        except BaseException:
            for key in flying:  # interrupted: what is in flight is lost, its leases freed
                self.store.release(key)
            raise
        if failures:
            raise TrainingFailed(failures)
        return {k: have[k] for k in by_key}

    def _say_who_holds(self, pending: list[list[RunSpec]]) -> None:
        """One line: whose leases this session waits on, since when, and how to take them."""
        if not self.progress:
            return
        holders = self.store.holders(s.key() for g in pending for s in g)
        if not holders:
            return
        now = time.time()
        who = "; ".join(f"{host_pid_since(owner, taken, now)}" for owner, taken in sorted(holders.items()))
        self.progress(f"waiting for runs leased by another process: {who}; they are trained "
                      f"there. If it is gone (another host's session killed), rerun with "
                      f"--steal-leases to take them over")

    def step_hook(self, specs: list[RunSpec]) -> Callable[[], None] | None:
        """What the trainer calls after each step of ``specs``' configuration (progress), with
        its step count from the loaded training set (the ragged last batch included), times the
        stacks its plan trains one after another (one per seed under a per-seed plan)."""
        if self.tracker is None:
            return None
        data, p = specs[0].data, specs[0].protocol
        n = len(self._splits[data].x_train) if data in self._splits else data.train_size
        stacks = len((self.plan or choose(specs[0], self.device.type)).groups(specs))
        return self.tracker.stepper(specs[0].config_key(),
                                    steps=p.epochs * -(-n // p.batch_size) * stacks if n else None)

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

    def _store(self, records: list[dict]) -> list[dict]:
        """A configuration's records, written in one transaction."""
        now = time.time()
        for rec in records:
            rec["stored_at"] = now
        self.store.put_many([(rec["key"], rec) for rec in records])
        self.trained += len(records)
        for rec in records:
            if self.progress:
                status = f"diverged at epoch {rec['diverged_epoch']}" if rec["diverged_epoch"] else \
                    f"best {rec['best_test_acc']:.2f}% final {rec['final_test_acc']:.2f}%"
                self.progress(f"trained {run_label(rec)}: {len(rec['test_acc'])} epochs, "
                              f"{status} ({rec['wall_s']:.1f} s)")
        if self.tracker is not None:  # after the runs' lines: the status stays the last line
            self.tracker.finished([rec["key"] for rec in records])
        return records

    def runs(self, specs: list[RunSpec], source: str = "fresh") -> pd.DataFrame:
        records = self.ensure(specs)
        return from_records(list(records.values()), source)
