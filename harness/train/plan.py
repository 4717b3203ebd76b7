"""How one configuration's seeds are computed: its execution plan.

A plan never changes what a run is (its weights come from its seed, its batch order from its
seed's generator, ``harness.train.stacked``); it changes only how the arithmetic is laid out, so two
plans give the same run up to float reordering (tests/test_plan.py: one float64 equivalence
test per plan). Like the thread count, the plan is recorded with each run (the record's
``engine`` and ``plan`` fields, the report's ``plans`` line) and not keyed.

The choices:

* ``stacking``: ``"stacked"``, all seeds as one model (grouped convolutions: one step for the
  K seeds), or ``"per-seed"``, each seed as a stack of one, one after the other.
* ``channels_last``: NHWC activations (oneDNN's native convolution layout on the CPU).
* ``compile``: ``torch.compile`` (inductor) of the model; its artefacts are cached on disk
  beside the run store (``compile_cache_dir``), so a later session loads them instead of
  compiling again.

Which plan a configuration gets (``choose``) is a table measured on the 2-core x86 CPU
(docs/PERFORMANCE.md, "Execution plans"; ``benchmarks/bench_plan.py`` re-measures it on any
machine): stacking pays wherever a step is latency-bound (batch 2 and 16, the MLP) and costs
at batch 128, where the 5-group convolution is compute-bound and slower than 5 dense ones in
NHWC. Below batch 64 a BatchNorm CNN's stack also runs NHWC (1.02-1.21x); a GroupNorm CNN's
stack does not (0.89-0.96x at smoke width), nor do the MLPs, whose layout NHWC does not touch.
A per-seed BatchNorm CNN is also compiled (``torch.compile``, inductor) where its arithmetic
pays for the compiling (``COMPILE_MIN_MACS``) and a C++ compiler is found: in a cold
cpu-tier session that gave those configurations 1.17x, compiling included, and the session
1.11x (GroupNorm's compiled step was slower, 0.77x, so it stays eager; PERFORMANCE.md,
"Compile back in the table"). If compiling fails on a machine, that stack trains eager and
its records say why (``compile_fallback``). A session can force one plan for every
configuration (``Engine(plan=...)``, ``--plan``): ``"eager-stacked"`` is the engine before
plans existed.
"""
from __future__ import annotations

import functools
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

STACKINGS = ("stacked", "per-seed")
#: On the CPU, a CNN whose batch is at least this trains one seed at a time in NHWC.
PER_SEED_MIN_BATCH = 64
#: ... and, with BatchNorm, compiled when one run's convolutions hold at least this many
#: multiply-adds (``conv_macs``): compiling costs 2-14 s of one thread a configuration and
#: gains ~1.1x a run at batch 128 on the cpu tier, whose smallest such run holds 7e10; the
#: smoke and tiny profiles' batch-64/128 arms (~2e9) stay eager.
COMPILE_MIN_MACS = 5e10


class PlanError(ValueError):
    """A plan name that does not parse; the message says which names are valid."""


@dataclass(frozen=True)
class Plan:
    stacking: str = "stacked"
    channels_last: bool = False
    compile: bool = False

    def __post_init__(self):
        if self.stacking not in STACKINGS:
            raise PlanError(f"plan stacking {self.stacking!r}: valid are {', '.join(STACKINGS)}")

    @property
    def name(self) -> str:
        """``stacked``, ``per-seed+channels_last``, ``stacked+compile``...: what ``parse`` reads."""
        return "+".join([self.stacking] + [opt for opt in OPTIONS if getattr(self, opt)])

    def to_dict(self) -> dict:
        return asdict(self)

    def groups(self, specs: list) -> list[list]:
        """The stacks a configuration's specs train as: one, or one per seed."""
        return [list(specs)] if self.stacking == "stacked" else [[s] for s in specs]


OPTIONS = ("channels_last", "compile")
#: The engine as it was before plans: every configuration stacked, eager, NCHW.
EAGER_STACKED = Plan()
AUTO = "auto"


def parse(name: str) -> Plan | None:
    """``"auto"`` -> None (the table decides per configuration); ``"eager-stacked"`` ->
    ``EAGER_STACKED``; otherwise a stacking followed by ``+option``s, e.g.
    ``per-seed+channels_last``."""
    if name == AUTO:
        return None
    if name == "eager-stacked":
        return EAGER_STACKED
    stacking, *opts = name.split("+")
    bad = [o for o in opts if o not in OPTIONS]
    if stacking not in STACKINGS or bad or len(set(opts)) != len(opts):
        raise PlanError(f"--plan {name!r}: give auto, eager-stacked, or one of "
                        f"{'/'.join(STACKINGS)} followed by +{' +'.join(OPTIONS)} (e.g. "
                        "per-seed+channels_last)")
    return Plan(stacking, **{o: True for o in opts})


def choose(spec, device_type: str = "cpu") -> Plan:
    """The measured table: the plan a configuration (any of its RunSpecs) gets by default."""
    if device_type != "cpu":
        return EAGER_STACKED  # on a GPU the stack (and its CUDA graph) is the point
    if spec.net.arch != "cnn":
        return EAGER_STACKED
    if spec.protocol.batch_size >= PER_SEED_MIN_BATCH:
        compiled = (spec.net.norm == "batch" and conv_macs(spec) >= COMPILE_MIN_MACS
                    and cxx_compiler() is not None)
        return Plan("per-seed", channels_last=True, compile=compiled)
    if spec.net.norm == "batch":
        return Plan("stacked", channels_last=True)  # 1.02-1.21x; GroupNorm's stack lost (0.89-0.96x)
    return EAGER_STACKED


def conv_macs(spec) -> float:
    """Multiply-adds of one run's training forward convolutions (3x3, width in and out, the
    stem counted as a block; the whole split when the data size is not set: 50,000): the
    arithmetic a compiled step speeds up."""
    n = spec.data.train_size or 50_000
    steps = spec.protocol.epochs * -(-n // spec.protocol.batch_size)
    net = spec.net
    return steps * spec.protocol.batch_size * net.image_size ** 2 * 9 * net.width ** 2 * (net.depth + 1)


@functools.lru_cache(maxsize=1)
def cxx_compiler() -> str | None:
    """The C++ compiler inductor would build its CPU kernels with, or None (then the table
    compiles nothing: the session trains eager)."""
    return next((c for c in (os.environ.get("CXX"), "g++", "c++", "clang++")
                 if c and shutil.which(c)), None)


def compile_cache_dir(store_path: str | os.PathLike) -> Path:
    """Where inductor keeps its compiled artefacts: beside the run store, one folder per torch
    version and result-code fingerprint (a new torch or new trainer code starts a new one)."""
    import torch

    from harness.declare.spec import code_fingerprint

    return Path(store_path).parent / ".compile-cache" / f"torch-{torch.__version__}-{code_fingerprint()}"


def use_compile_cache(store_path: str | os.PathLike) -> Path:
    """Point inductor's on-disk caches at ``compile_cache_dir`` (unless the user set one).

    Inductor writes its default folder into ``TORCHINDUCTOR_CACHE_DIR`` the first time it asks
    for it, and in a pytest session something has asked before the engine starts: a value
    equal to that default is inductor's own, not the user's, and is replaced (before, every
    session compiled into and loaded from the machine-wide default folder)."""
    path = compile_cache_dir(store_path)
    current = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if current is None or os.path.abspath(current) == os.path.abspath(_inductor_default_dir()):
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(path)
    return Path(os.environ["TORCHINDUCTOR_CACHE_DIR"])


def _inductor_default_dir() -> str:
    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir
    except ImportError:  # an older torch: the default it has used since 2.0
        import getpass
        import tempfile

        return os.path.join(tempfile.gettempdir(), f"torchinductor_{getpass.getuser()}")
    return default_cache_dir()
