"""RunSpec: everything that determines one training run, and its store key."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from models import NetConfig


@dataclass(frozen=True)
class DataSpec:
    """Which data a run sees. ``None`` sizes mean the whole split at native resolution."""

    name: str
    train_size: int | None = None
    test_size: int | None = None
    image_size: int | None = None


@dataclass(frozen=True)
class Protocol:
    """The seed's training protocol: Adam(lr) on cross-entropy, E epochs, batch size B."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3


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
        # The thread count is recorded (the record's spec), not keyed: it changes numbers only
        # at rounding level, and each session chooses it from the cores free when it starts
        # (harness/threads.py), so keying it would make reuse depend on the machine's load.
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
        return "/".join(parts) + f" seed {self.seed}"


# Files whose content can change a run's numbers. Editing any of them changes every key, so
# stale runs are never reused; editing claims, stats or reports does not retrain anything.
# The trainer (harness/stacked.py) produces every stored number.
_RESULT_CODE = ("models/__init__.py", "harness/data.py", "harness/stacked.py", "harness/spec.py")
_fingerprint: str | None = None


def code_fingerprint() -> str:
    global _fingerprint
    if _fingerprint is None:
        root = Path(__file__).resolve().parent.parent
        h = hashlib.sha256()
        for rel in _RESULT_CODE:
            path = root / rel
            h.update(rel.encode())
            h.update(path.read_bytes() if path.exists() else b"<missing>")
        _fingerprint = h.hexdigest()[:16]
    return _fingerprint
