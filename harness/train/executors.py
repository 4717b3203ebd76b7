"""Where a leased configuration trains: in this process (``local``) or on a Ray cluster (``ray``).

The engine (``harness.train.engine.Engine.ensure``) looks the specs up in the store, leases the
missing configurations and hands each one (all its seeds) to its executor with ``submit``;
``collect`` gives back the records, or a ``Failure`` of the configuration, as they finish; the
engine alone writes the store. An executor never sees a configuration that is in the store.

* ``LocalExecutor`` (the default) trains one configuration at a time, in this process, when
  the engine collects it: the engine as it always was (pytest-xdist workers share the grid
  through the store's leases).
* ``RayExecutor`` sends every leased configuration as one Ray task (``num_gpus`` /
  ``num_cpus`` per task from ``--ray-gpus-per-task`` / ``--ray-cpus-per-task``) and collects
  them with ``ray.wait`` as they finish, so a killed driver loses only the tasks in flight.
  The driver loads each dataset once and ships it through Ray's object store (workers need
  no data root and no download). The driver's code goes with the job (Ray's ``working_dir``)
  when it runs from a source checkout; a worker whose code differs (another store key
  fingerprint) fails its task instead of storing records under the driver's keys.
  A worker that dies mid-task is retried by Ray ``max_retries`` times (default
  ``RAY_MAX_RETRIES`` = 3, i.e. up to 4 attempts); then the configuration is reported as a
  ``Failure``. Exceptions raised by the training code itself are not retried (they would
  fail again).

Ray is an optional dependency: this module imports it only inside ``RayExecutor``.
"""
from __future__ import annotations

import dataclasses
import importlib
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:  # harness.declare.spec imports torch (via models): a source-only run loads neither
    from harness.declare.spec import DataSpec, RunSpec
    from harness.train.plan import Plan

EXECUTORS = ("local", "ray")
RAY_MAX_RETRIES = 3
RAY_MIN_VERSION = (2, 9)
RAY_INSTALL = "pip install -e '.[ray]' (or pip install 'ray>=2.9')"
REPO = Path(__file__).resolve().parents[2]
#: Not shipped with the job's code: history, run store, datasets, reports, caches.
RAY_EXCLUDES = [".git", ".runstore", ".data", "reports", ".pytest_cache", ".hypothesis",
                ".tox", ".venv", "__pycache__"]


class ExecutorError(RuntimeError):
    """The executor cannot start (Ray missing, cluster unreachable, no GPU on it). One line
    saying what to do."""


class TrainingFailed(RuntimeError):
    """Configurations that failed for good (after Ray's retries). Every other configuration
    of the call was trained and stored; ``keys`` are the store keys left missing."""

    def __init__(self, failures: list["Failure"]):
        self.failures = failures
        self.keys = {s.key() for f in failures for s in f.specs}
        super().__init__("; ".join(f.line() for f in failures))


@dataclass
class Failure:
    specs: list[RunSpec]
    reason: str

    def line(self) -> str:
        return f"training failed for {config_label(self.specs)}: {self.reason}"


def config_label(specs: list[RunSpec]) -> str:
    """A configuration's label: its runs' RunSpec.label without the seed, and the seeds."""
    return f"{specs[0].label().rsplit(' seed ', 1)[0]} seeds {','.join(str(s.seed) for s in specs)}"


def train_configuration(specs: list[RunSpec], data, device, *, plan: "Plan | None" = None,
                        progress=None, on_step=None) -> Iterator[dict]:
    """The records of one configuration's seeds, each as soon as it exists, from the one
    trainer (``harness.train.stacked``), laid out as ``plan`` says (None: ``harness.train.plan.choose``'s
    table). Every record names its plan (``engine``: the plan's name; ``plan``: its fields).
    Runs here or in a Ray task."""
    import torch

    from harness.train.plan import choose
    from harness.train.stacked import train_stacked

    plan = plan or choose(specs[0], torch.device(device).type)
    for group in plan.groups(specs):
        for rec in train_stacked(group, data, device, progress=progress, on_step=on_step,
                                 channels_last=plan.channels_last, compile=plan.compile):
            rec.update(engine=plan.name, plan=plan.to_dict())
            yield rec


class LocalExecutor:
    """In this process, one configuration at a time, trained when the engine collects it."""

    def __init__(self, engine):
        self.engine = engine  # its device, data cache (Engine.splits), stacking and progress
        self._queue: list[list[RunSpec]] = []

    def has_room(self) -> bool:
        return not self._queue  # lease one configuration, train it, then lease the next

    def submit(self, specs: list[RunSpec]) -> None:
        self._queue.append(specs)

    def collect(self, timeout: float | None = None) -> Iterator[dict | Failure]:
        while self._queue:
            specs = self._queue.pop(0)
            e = self.engine
            yield from train_configuration(specs, e.splits(specs[0].data), e.device,
                                           plan=e.plan, progress=e.epoch_progress,
                                           on_step=e.step_hook(specs))

    def close(self) -> None:
        pass


# -- Ray -------------------------------------------------------------------------------------
def require_ray():
    """The ray module, or ExecutorError saying how to install it."""
    try:
        ray = importlib.import_module("ray")
        version = tuple(int(p) for p in ray.__version__.split(".")[:2])
    except ImportError:
        raise ExecutorError(f"--executor ray: Ray is not installed; install it with {RAY_INSTALL}") from None
    except (AttributeError, ValueError):
        version = RAY_MIN_VERSION  # a development build: trust it
    if version < RAY_MIN_VERSION:
        raise ExecutorError(f"--executor ray: Ray {ray.__version__} is too old (need >= 2.9); "
                            f"upgrade with {RAY_INSTALL}")
    return ray


def ray_runtime_env() -> dict:
    """The job's runtime environment: the driver's checkout as every worker's working dir (and
    first on its sys.path), so workers run the driver's code without installing it. An
    installed (non-checkout) harness is expected to be installed on every node as well."""
    if (REPO / "pyproject.toml").is_file() and (REPO / "harness").is_dir():
        return {"working_dir": str(REPO), "excludes": RAY_EXCLUDES}
    return {}


def _ray_task(specs: list[RunSpec], arrays: dict, name: str, device: str, threads: int,
              fingerprint: str, plan: "Plan | None" = None) -> list[dict]:
    """One Ray task: train one configuration on the worker and return its records."""
    import torch

    from harness.declare.spec import code_fingerprint
    from harness.train.data import Splits

    if code_fingerprint() != fingerprint:
        raise RuntimeError(f"this worker's result code (fingerprint {code_fingerprint()}) differs "
                           f"from the driver's ({fingerprint}); run the same commit on every node")
    torch.set_num_threads(threads)  # as the local run would, so the records are the same
    if device == "cpu":
        # The record says how it was computed: this task's thread count, not the driver's
        # (the driver keys the spec with its own; threads are recorded, never keyed).
        specs = [s.on(dataclasses.replace(s.execution, threads=threads)) for s in specs]
    data = Splits(name, *(torch.tensor(arrays[k]) for k in ("x_train", "y_train", "x_test", "y_test")))
    return list(train_configuration(specs, data.to(device), device, plan=plan))


class RayExecutor:
    """Every leased configuration as one Ray task; records come back as tasks finish."""

    def __init__(self, *, device: str = "auto", address: str | None = None,
                 gpus_per_task: float = 1.0, cpus_per_task: float = 1.0,
                 max_retries: int = RAY_MAX_RETRIES, data_root=None, download: bool = False,
                 threads: int | None = None, plan: "Plan | None" = None,
                 load: Callable[[DataSpec], object] | None = None):
        if not 0 < gpus_per_task <= 1:
            raise ExecutorError(f"--ray-gpus-per-task must be in (0, 1] (a task trains on one "
                                f"GPU; 0.25 packs four per GPU), got {gpus_per_task}")
        if cpus_per_task <= 0:
            raise ExecutorError(f"--ray-cpus-per-task must be positive, got {cpus_per_task}")
        self.requested_device, self.address = device, address
        self.gpus_per_task, self.cpus_per_task = gpus_per_task, cpus_per_task
        self.max_retries = max_retries
        # Torch threads in a CPU task: its CPU share, at least one.
        self.threads = threads or max(1, int(cpus_per_task))
        self.data_root, self.download = data_root, download
        self.plan = plan  # None: each task's table (harness.train.plan.choose) on its device
        self._load = load
        self.device: str | None = None  # resolved against the cluster by connect()
        self.cluster: str | None = None  # the address joined
        self._ray = None
        self._task = None  # _ray_task as a Ray remote function, made once
        self._owns_connection = False
        self._data: dict[DataSpec, object] = {}  # DataSpec -> ObjectRef of its arrays
        self._refs: dict = {}  # ObjectRef -> the configuration's specs
        self.sent = 0  # configurations sent, for tests and the session's record

    # -- connection --------------------------------------------------------------------------
    def connect(self) -> "RayExecutor":
        """Join the cluster (``address``, or Ray's own resolution: RAY_ADDRESS, a running
        local cluster, else a new local one), resolve the device, check the resources."""
        ray = self._ray = require_ray()
        if not ray.is_initialized():
            self._check_reachable()
            try:
                ray.init(address=self.address, runtime_env=ray_runtime_env(), log_to_driver=False,
                         logging_level="WARNING", configure_logging=True)
            except Exception as exc:  # ConnectionError, ValueError, RuntimeError: all one line
                where = self.address or "Ray's default address (RAY_ADDRESS or a local cluster)"
                raise ExecutorError(f"--executor ray: cannot connect to {where}: "
                                    f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; "
                                    f"start one with `ray start --head` or pass --ray-address") from None
            self._owns_connection = True
        self.cluster = ray.get_runtime_context().gcs_address
        resources = ray.cluster_resources()
        gpus, cpus = resources.get("GPU", 0), resources.get("CPU", 0)
        device = self.requested_device
        if device == "auto":
            device = "cuda" if gpus > 0 else "cpu"
        if device == "cuda" and gpus < self.gpus_per_task:
            raise ExecutorError(f"--device cuda: the Ray cluster has {gpus:g} GPUs, a task needs "
                                f"{self.gpus_per_task:g}; add GPU nodes or use --device cpu")
        if cpus < self.cpus_per_task:
            raise ExecutorError(f"--ray-cpus-per-task {self.cpus_per_task:g}: the Ray cluster has "
                                f"only {cpus:g} CPUs")
        self.device = device
        return self

    def _check_reachable(self, timeout_s: float = 10.0) -> None:
        """An explicit host:port that nothing answers on fails now: Ray itself would keep
        retrying the connection for minutes."""
        host, sep, port = (self.address or "").rpartition(":")
        if not sep or not port.isdigit() or "://" in host:
            return  # None, "auto", "local", ray://...: Ray's own resolution and errors
        try:
            socket.create_connection((host, int(port)), timeout=timeout_s).close()
        except OSError as exc:
            raise ExecutorError(f"--ray-address {self.address}: no Ray cluster answers there ({exc}); "
                                f"start one with `ray start --head` and pass the address it prints") from None

    def close(self) -> None:
        """Cancel what is in flight; leave the cluster if this executor joined it."""
        ray, self._ray = self._ray, None
        if ray is None:
            return
        for ref in self._refs:
            ray.cancel(ref, force=True)
        self._refs.clear()
        if self._owns_connection and ray.is_initialized():
            ray.shutdown()

    # -- the executor protocol -------------------------------------------------------------
    def has_room(self) -> bool:
        return True  # Ray queues the tasks; the cluster's resources decide what runs

    def submit(self, specs: list[RunSpec]) -> None:
        if self._ray is None:
            self.connect()
        ray = self._ray
        from harness.declare.spec import code_fingerprint

        gpu = self.device == "cuda"
        self._task = self._task or ray.remote(_ray_task)
        task = self._task.options(
            name=f"train {config_label(specs)}", max_retries=self.max_retries,
            num_cpus=self.cpus_per_task, num_gpus=self.gpus_per_task if gpu else 0)
        ref = task.remote(specs, self._arrays(specs[0].data), specs[0].data.name, self.device,
                          self.threads, code_fingerprint(), self.plan)
        self._refs[ref] = specs
        self.sent += 1

    def collect(self, timeout: float | None = None) -> Iterator[dict | Failure]:
        """Records of the tasks that finish within ``timeout`` (None: at least one)."""
        if not self._refs:
            return
        ray = self._ray
        ready, _ = ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        if ready:  # and whatever else is done by now
            ready, _ = ray.wait(list(self._refs), num_returns=len(self._refs), timeout=0)
        for ref in ready:
            specs = self._refs.pop(ref)
            try:
                records = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:  # the training code raised
                cause = getattr(exc, "cause", None) or exc
                yield Failure(specs, f"{type(cause).__name__}: {_first_line(cause)}")
                continue
            except ray.exceptions.RayError as exc:  # worker or node died, past the retries
                yield Failure(specs, f"{type(exc).__name__} after {self.max_retries} retries "
                                     f"(max_retries): {_first_line(exc)}")
                continue
            wrong = [r["key"] for r, s in zip(records, specs) if r["key"] != s.key()]
            if wrong or len(records) != len(specs):
                yield Failure(specs, "the task returned records for other keys than it was sent")
                continue
            yield from records

    # -- data ----------------------------------------------------------------------------------
    def _arrays(self, data: DataSpec):
        """The dataset's splits as numpy arrays in the object store, put once per DataSpec;
        each node fetches them once (zero-copy reads of numpy arrays)."""
        if data not in self._data:
            if self._load is not None:
                splits = self._load(data)
            else:
                from harness.train.data import load_splits

                splits = load_splits(data, root=self.data_root, download=self.download)
            arrays = {k: getattr(splits, k).cpu().numpy()
                      for k in ("x_train", "y_train", "x_test", "y_test")}
            self._data[data] = self._ray.put(arrays)
        return self._data[data]


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__
