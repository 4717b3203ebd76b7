"""RunSpec: everything that determines one training run, and its store key."""
from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from models import NetConfig
from models.config import KEY_AT_DEFAULT_OMITTED, keyed


@dataclass(frozen=True)
class DataSpec:
    """Which data a run sees. ``None`` sizes mean the whole split at native resolution."""

    name: str
    train_size: int | None = None
    test_size: int | None = None
    image_size: int | None = None


#: optimizer name -> (torch.optim class, the ``Protocol`` fields it takes as keyword arguments).
#: A new optimizer is ONE entry here, as data (torch-free, like ``models.config``'s building
#: blocks): validation, the runs.csv schema and the trainer (``harness.train.stacked``) read it.
#: Every entry must be elementwise in the parameters (one optimizer over K stacked replicas is
#: K optimizers; tests/test_stacked.py checks each entry against one model per seed).
OPTIMIZERS = {
    "adam": ("Adam", ("lr", "weight_decay")),
    "adamw": ("AdamW", ("lr", "weight_decay")),
    "sgd": ("SGD", ("lr", "momentum", "weight_decay")),
}


@dataclass(frozen=True)
class Protocol:
    """The training protocol: ``optimizer`` (the paper's Adam by default) at ``lr`` on
    cross-entropy, E epochs, batch size B. The optimizer fields came after the first runs were
    stored: at their defaults they are left out of the store key (``keyed``)."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: str = field(default="adam", metadata=KEY_AT_DEFAULT_OMITTED)
    momentum: float = field(default=0.0, metadata=KEY_AT_DEFAULT_OMITTED)  # SGD's only
    weight_decay: float = field(default=0.0, metadata=KEY_AT_DEFAULT_OMITTED)

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"Protocol.optimizer={self.optimizer!r} is not one of "
                             f"{', '.join(OPTIMIZERS)} (a new one is an entry in "
                             "harness.declare.spec.OPTIMIZERS)")
        if self.momentum and "momentum" not in OPTIMIZERS[self.optimizer][1]:
            raise ValueError(f"Protocol.momentum={self.momentum} but {self.optimizer} takes no "
                             "momentum; set it to 0 or use optimizer='sgd'")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"Protocol.{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"Protocol.lr must be > 0, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"Protocol.momentum must be in [0, 1), got {self.momentum}")
        if not self.weight_decay >= 0:
            raise ValueError(f"Protocol.weight_decay must be >= 0, got {self.weight_decay}")

    def optimizer_args(self) -> tuple[str, dict]:
        """(torch.optim class name, its keyword arguments) for this protocol."""
        cls, args = OPTIMIZERS[self.optimizer]
        return cls, {a: getattr(self, a) for a in args}


def added_field_defaults() -> dict:
    """Run fields added after the first runs were stored (``KEY_AT_DEFAULT_OMITTED``: the
    network's ``init``, the protocol's optimizer fields) -> their default: what a record or a
    runs table written before the field existed means by leaving it out."""
    return {f.name: f.default for cls in (NetConfig, Protocol) for f in fields(cls)
            if f.metadata.get("omit_default_from_key")}


@dataclass(frozen=True)
class Execution:
    """How a run is computed, as far as it changes the numbers: the device type, the CPU
    thread count (a CPU reduction split over more threads adds in another order, so numbers
    differ at rounding level; on a GPU the CPU threads do not enter the arithmetic: 0) and
    the precision ("float32", or "bf16" for bf16 autocast). Device type and precision are part
    of the store key, so one store never mixes runs computed on two devices or at two
    precisions; the thread count is recorded with each run but not keyed (see ``key``). The
    engine sets it (``Engine.execution``)."""

    device_type: str = "cpu"
    threads: int = 1
    precision: str = "float32"


@dataclass(frozen=True)
class RunSpec:
    net: NetConfig
    data: DataSpec
    protocol: Protocol = field(default_factory=Protocol)
    seed: int = 0
    execution: Execution = field(default_factory=Execution)

    def to_dict(self) -> dict:
        return {"net": self.net.to_dict(), "data": asdict(self.data),
                "protocol": asdict(self.protocol), "seed": self.seed,
                "execution": asdict(self.execution)}

    def on(self, execution: Execution) -> "RunSpec":
        """This run computed the given way (a different store key, the same config_key)."""
        return replace(self, execution=execution)

    def key(self) -> str:
        """Store key: the spec (what is trained, and how it is computed: ``Execution``) plus
        a fingerprint of the code that can change its results."""
        spec = self.to_dict()
        # Fields added since the first runs were stored are hashed only when set (models.config
        # KEY_AT_DEFAULT_OMITTED): a new field re-keys no older run.
        spec["net"], spec["protocol"] = keyed(self.net), keyed(self.protocol)
        # The thread count is recorded (the record's spec), not keyed: it changes numbers only
        # at rounding level, and each session chooses it from the cores free when it starts
        # (harness/train/threads.py), so keying it would make reuse depend on the machine's load.
        spec["execution"] = {k: v for k, v in spec["execution"].items() if k != "threads"}
        blob = json.dumps({"spec": spec, "code": code_fingerprint()}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:24]

    def config_key(self) -> tuple:
        """Runs that differ only in seed share this: they can be trained as one stack.
        (The execution is left out: one engine computes all its runs the same way.)"""
        return (self.net, self.data, self.protocol)

    def label(self) -> str:
        n = self.net
        parts = [n.arch, f"w{n.width}"]
        if n.arch == "cnn":
            parts.append(f"d{n.depth}")
        parts += [n.norm, n.block_order, n.activation, f"b{self.protocol.batch_size}",
                  f"e{self.protocol.epochs}", self.data.name]
        # fields a question may vary, named only when set (older labels unchanged)
        if n.init != "default":
            parts.append(f"init-{n.init}")
        pr, default = self.protocol, Protocol()
        if pr.lr != default.lr:
            parts.append(f"lr{pr.lr:g}")
        if pr.optimizer != default.optimizer:
            parts.append(pr.optimizer)
        if pr.momentum != default.momentum:
            parts.append(f"m{pr.momentum:g}")
        if pr.weight_decay != default.weight_decay:
            parts.append(f"wd{pr.weight_decay:g}")
        return "/".join(parts) + f" seed {self.seed}"


# --- the code fingerprint in every key -------------------------------------------------------
# A key hashes the files whose content can change a run's numbers: the trainer and every module
# of this repository it imports, directly or not, found by reading their import statements
# (nothing is executed), with the __init__.py of each package on the way (they run on import).
# Editing any of them changes every key, so stale runs are never reused; a module the trainer
# starts to import joins the fingerprint by itself. Claims, statistics, reports, the store and
# the scheduling are not on that path: editing them retrains nothing. (The scheduling decides
# which seeds of a configuration share a stack, which moves float32 numbers at rounding level
# only, like the thread count, and is not keyed either.) tests/test_fingerprint.py checks both
# directions, and that every repository module a training run loads is covered.
ROOT = Path(__file__).resolve().parents[2]  # the checkout (or site-packages) holding harness/
TRAINER = "harness.train.stacked"  # produces every stored number
PACKAGES = ("harness", "models")  # this repository's packages (pyproject.toml installs these)
#: Imports on the training path that bring in names, not arithmetic, and are not followed:
#: (importing file, module) -> the only names exempt. Any other import of the module is
#: followed, so the exemption cannot grow by accident.
NOT_RESULT_CODE = {
    # data.py checks a dataset name against the profiles' list; the profiles choose which
    # runs are asked for (their specs are keyed), never how a run is computed.
    ("harness/train/data.py", "harness.declare.profiles"): frozenset({"DATASETS"}),
}
_fingerprint: str | None = None


def result_files(root: Path | None = None) -> list[str]:
    """The files the fingerprint hashes, relative to ``root`` (default ``ROOT``), sorted."""
    root = ROOT if root is None else Path(root)
    found: set[str] = set()
    todo = _module_files(root, TRAINER)
    while todo:
        rel = todo.pop()
        if rel in found:
            continue
        found.add(rel)
        for module, names in _imports(root, rel):
            if names and set(names) <= NOT_RESULT_CODE.get((rel, module), frozenset()):
                continue
            todo += _module_files(root, module, names)
    return sorted(found)


def _imports(root: Path, rel: str):
    """(absolute module name, imported names) for every import statement in file ``rel``,
    at any depth (inside functions and ``if TYPE_CHECKING`` blocks too)."""
    package = rel[:-3].replace("/", ".").removesuffix(".__init__")
    if not rel.endswith("__init__.py"):
        package = package.rpartition(".")[0]
    for node in ast.walk(ast.parse((root / rel).read_bytes(), rel)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ()
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: from the importing file's package, level - 1 up
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([module] if module else []))
            yield module, tuple(alias.name for alias in node.names)


def _module_files(root: Path, module: str, names=()) -> list[str]:
    """The repository files importing ``module`` (and ``names`` from it) runs: each package's
    __init__.py on the way, the module, and any of ``names`` that is a submodule. Modules
    outside this repository's packages (torch, the standard library) give none."""
    parts = module.split(".")
    if parts[0] not in PACKAGES:  # an installed copy's ROOT is site-packages: not torch's files
        return []
    paths = [parts[:i] for i in range(1, len(parts) + 1)] + [parts + [n] for n in names]
    out = []
    for p in paths:
        base = root.joinpath(*p)
        for f in (base / "__init__.py", base.with_name(base.name + ".py")):
            if f.is_file():
                out.append(f.relative_to(root).as_posix())
    return out


def code_fingerprint(root: Path | None = None) -> str:
    """The hash of ``result_files``: their paths and contents (computed once per process for
    ``ROOT``; ``root`` points it at another copy of the code)."""
    global _fingerprint
    if root is None and _fingerprint is not None:
        return _fingerprint
    base = ROOT if root is None else Path(root)
    h = hashlib.sha256()
    for rel in result_files(base):
        h.update(rel.encode())
        h.update((base / rel).read_bytes())
    if root is not None:
        return h.hexdigest()[:16]
    _fingerprint = h.hexdigest()[:16]
    return _fingerprint
