"""Seed-style training loop vs our engine: same configurations, same seeds, fixed steps.

One process. For each configuration and scale it builds

* ``seed``: the notebooks' loop. A ``torch.utils.data.DataLoader`` over a ``TensorDataset`` of
  the same tensors (shuffle=True, batch_size B), one model at a time, fp32, NCHW, each batch
  moved to the device, ``loss.item()`` and the correct count read every step (and, for the Q4
  net, the paper's gradient metric with one ``.item()`` per parameter tensor, as Q4 did). It is
  written out here (``SeedLoop``) because it is what is measured: the original study's
  per-model loop, whose habits (DataLoader, per-step host reads) are the cost the engine
  removes. It is not the tests' reference loop (tests/reference_trainer.py, which benchmarks
  do not import) and produces no stored number;
* ``engine``: our path for the device, the trainer (``harness.train.stacked``). CPU: one model (a
  ``Stack`` of one replica, the trainer's own path for a lone seed: data resident, batches by
  indexing, metrics kept on the device, fused Adam), fp32 NCHW; variants ``channels_last``, ``bf16`` (autocast), ``stack xK`` (K seeds
  as one stacked model, time per replica-step) and ``compile`` (torch.compile, opt-in).
  The compile row compiles the model (inductor) with channels_last on CNNs; its compile time
  is in the "first step(s)" column (use --warmup 2: forward and backward compile separately).
  CUDA: ``Stack`` of K seeds (CUDA graph, fused Adam), time per replica-step.

Every path trains from the weights ``harness.train.stacked.init_model`` gives seed 0 (the stack: seeds
0..K-1, accuracy of replica 0) on the first (warmup + steps) * B training samples for one
pass, then is evaluated on the same eval set. The batch ORDER differs between the DataLoader
and the engine (each has its own shuffle), so accuracies differ by that noise.

Timing. CPU: the paths of one configuration are stepped round-robin (one step each in turn)
and the MEDIAN step time is reported, so that load from other processes on a shared machine
hits every path alike. CUDA: each path runs its steps back to back between two
synchronisations; time / steps (the stack: / K).

The full protocol's wall time is estimated from the measured full-scale step times (see
``estimate_protocol``). Prints markdown tables.

    python3 benchmarks/bench_engine.py                    # CPU default, ~3 minutes
    python3 benchmarks/bench_engine.py --device cuda      # GPU rows
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from harness.declare.spec import DataSpec, Protocol, RunSpec  # noqa: E402
from harness.train.data import DatasetUnavailable, Splits, load_splits  # noqa: E402
from harness.train.stacked import EVAL_BATCH, Stack, device_name, init_model  # noqa: E402
from models import q4_depth_net, q5_norm_net, q6_order_mlp  # noqa: E402

# name -> (config builder(width, channels, size), batch size, label)
CONFIGS = {
    "q4": (lambda **kw: q4_depth_net(8, "relu", **kw), 128, "Q4 8 blocks ReLU, B=128"),
    "q5gn": (lambda **kw: q5_norm_net("group", **kw), 2, "Q5 GN, B=2"),
    "q5bn": (lambda **kw: q5_norm_net("batch", **kw), 128, "Q5 BN, B=128"),
    "mlp": (lambda **kw: q6_order_mlp("norm-act", "relu", **kw), 128, "Q6 MLP, B=128"),
}
# scale -> (width, channels, image size)
SCALES = {"smoke": (8, 1, 14), "full": (64, 3, 32)}


# --- data ---------------------------------------------------------------------------------

def bench_data(scale: str, n_train: int, n_eval: int, seed: int = 0) -> Splits:
    """Fashion-MNIST-subset images shaped for the scale (full: 32x32, grey copied to 3
    channels), cycled to ``n_train``; random tensors when the fixture is absent."""
    _, c, s = SCALES[scale]
    try:
        d = load_splits(DataSpec("fashion-mnist-subset", image_size=14 if scale == "smoke" else None))
        xtr, ytr, xte, yte = d.x_train, d.y_train, d.x_test[:n_eval], d.y_test[:n_eval]
        if scale == "full":
            up = lambda x: F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False).repeat(1, c, 1, 1)
            xtr, xte = up(xtr[:n_train]), up(xte)
        reps = -(-n_train // len(xtr))
        xtr, ytr = xtr.repeat(reps, 1, 1, 1)[:n_train], ytr.repeat(reps)[:n_train]
        return Splits("fashion-mnist-subset", xtr.contiguous(), ytr, xte.contiguous(), yte)
    except DatasetUnavailable:
        g = torch.Generator().manual_seed(seed)
        return Splits("random", torch.randn(n_train, c, s, s, generator=g),
                      torch.randint(0, 10, (n_train,), generator=g),
                      torch.randn(n_eval, c, s, s, generator=g), torch.randint(0, 10, (n_eval,), generator=g))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- the paths ----------------------------------------------------------------------------

class SeedLoop:
    """The notebooks' loop: DataLoader, one model, fp32 NCHW, per-step host reads."""

    def __init__(self, spec: RunSpec, data: Splits, device, grad_metric: bool, threads: int):
        self.device, self.grad_metric, self.threads = device, grad_metric, threads
        self.model = init_model(spec, device)
        self.model.train()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=spec.protocol.lr)
        loader = DataLoader(TensorDataset(data.x_train, data.y_train), shuffle=True,
                            batch_size=spec.protocol.batch_size,
                            generator=torch.Generator().manual_seed(spec.seed))
        self.it = iter(loader)
        self.data, self.k = data, 1
        self.running_loss, self.correct, self.grad_avg = 0.0, 0, 0.0

    def step(self) -> None:
        xb, yb = next(self.it)
        xb, yb = xb.to(self.device), yb.to(self.device)
        self.opt.zero_grad()
        out = self.model(xb)
        loss = F.cross_entropy(out, yb)
        loss.backward()
        if self.grad_metric:  # Q4's notebook: mean |grad| per tensor, averaged, every step
            vals = [p.grad.abs().mean().item() for p in self.model.parameters() if p.grad is not None]
            self.grad_avg += sum(vals) / len(vals)
        self.opt.step()
        self.running_loss += loss.item()
        self.correct += (out.argmax(1) == yb).sum().item()

    @torch.no_grad()
    def accuracy(self) -> float:
        """Test accuracy in percent: eval mode, EVAL_BATCH images a pass, as the trainer."""
        x, y = self.data.x_test.to(self.device), self.data.y_test.to(self.device)
        self.model.eval()
        hits = sum((self.model(x[i:i + EVAL_BATCH]).argmax(1) == y[i:i + EVAL_BATCH]).sum().item()
                   for i in range(0, len(x), EVAL_BATCH))
        self.model.train()
        return 100.0 * hits / len(x)


class Engine:
    """Our engine: a ``Stack`` of K replicas (K=1: the single-model CPU path)."""

    def __init__(self, specs: list[RunSpec], data: Splits, device, threads: int, compile_model=False, **opts):
        self.threads = threads
        self.stack = Stack(specs, data, device, **opts)
        if compile_model:
            self.stack.model = torch.compile(self.stack.model)
        self.k = len(specs)
        self.idx, self.sizes, _ = self.stack.epoch_indices()
        self.i, self.off = 0, 0

    def step(self) -> None:
        size = self.sizes[self.i]
        self.stack.train_batch(self.idx[self.off:self.off + size])
        self.i, self.off = self.i + 1, self.off + size

    def accuracy(self) -> float:
        return self.stack.evaluate()[0]  # replica 0: seed 0, the seed loop's initial weights


@dataclass
class Row:
    config: str
    scale: str
    path: str
    ms: float = float("nan")  # per (replica-)step
    acc: float = float("nan")
    ref: str = "seed"  # which row the speed-up and accuracy difference are against
    note: str = ""
    first_ms: float = float("nan")  # warm-up step(s), e.g. compile time
    peak_mib: float = float("nan")
    speedup: float = float("nan")
    dacc: float = float("nan")


def make_paths(name: str, scale: str, args, device) -> tuple[list[tuple[Row, object]], int]:
    """(row, factory) per path: on CUDA each path is built just before it is measured and
    freed after, so its peak memory is its own (issue 12)."""
    build, batch, _ = CONFIGS[name]
    width, c, s = SCALES[scale]
    net = build(width=width, in_channels=c, image_size=s)
    steps = args.steps_smoke if scale == "smoke" else args.steps_full
    n_steps = args.warmup + steps
    data = bench_data(scale, n_steps * batch, args.eval_smoke if scale == "smoke" else args.eval_full)
    proto = Protocol(epochs=1, batch_size=batch)
    specs = [RunSpec(net, DataSpec(data.name), proto, seed=k) for k in range(max(1, args.stack_k))]
    cuda = device.type == "cuda"
    paths: list[tuple[Row, object]] = []
    row = lambda path, **kw: Row(CONFIGS[name][2], scale, path, **kw)
    st, et = args.seed_threads, args.threads
    paths.append((row(f"seed-style loop (DataLoader, fp32, NCHW{'' if cuda else f', {st} thr'})"),
                  lambda: SeedLoop(specs[0], data, device, name == "q4", st)))
    if not cuda and et != st:  # control: the notebooks' loop at the engine's thread count
        paths.append((row(f"seed-style loop, {et} thr (control)"), lambda: SeedLoop(specs[0], data, device, name == "q4", et)))
    variants = set(args.variants_smoke if scale == "smoke" else args.variants_full)
    conv = net.arch == "cnn"
    if cuda:
        k = max(1, args.stack_k)
        graph = not args.no_graph
        paths.append((row(f"engine: stack x{k}, CUDA graph, fused Adam (per replica)", ref="seed"),
                      lambda: Engine(specs[:k], data, device, et, cuda_graph=graph)))
        if "cl" in variants and conv:
            paths.append((row(f"engine: stack x{k}, channels_last"),
                          lambda: Engine(specs[:k], data, device, et, channels_last=True, cuda_graph=graph)))
        if "bf16" in variants:
            paths.append((row(f"engine: stack x{k}, bf16 autocast", ref="engine"),
                          lambda: Engine(specs[:k], data, device, et, bf16=True, cuda_graph=graph)))
    else:
        tag = f"{et} thr"
        paths.append((row(f"engine: single model, fp32, NCHW, {tag}"), lambda: Engine(specs[:1], data, device, et)))
        if "cl" in variants and conv:
            paths.append((row(f"engine: single model, channels_last, {tag}"),
                          lambda: Engine(specs[:1], data, device, et, channels_last=True)))
        if "bf16" in variants:
            paths.append((row(f"engine: single model, bf16 autocast, {tag}", ref="engine"),
                          lambda: Engine(specs[:1], data, device, et, bf16=True)))
        if "stack" in variants and args.stack_k > 1:
            paths.append((row(f"engine: stack x{args.stack_k} (per replica), {tag}", ref="engine"),
                          lambda: Engine(specs[:args.stack_k], data, device, et)))
        if "compile" in variants:
            paths.append((row(f"engine: single model, torch.compile{' + channels_last' if conv else ''}, {tag}",
                              ref="engine"),
                          lambda: Engine(specs[:1], data, device, et, compile_model=True, channels_last=conv)))
    return paths, steps


def run_config(name: str, scale: str, args, device) -> list[Row]:
    factories, steps = make_paths(name, scale, args, device)
    if device.type == "cpu":
        paths = [(r, make()) for r, make in factories]
        # Round-robin: one step of each path in turn; median step time.
        times = {id(p): [] for _, p in paths}
        for i in range(args.warmup + steps):
            for _, p in paths:
                torch.set_num_threads(p.threads)
                t = time.perf_counter()
                p.step()
                times[id(p)].append(time.perf_counter() - t)
        for r, p in paths:
            ts = times[id(p)]
            r.first_ms = 1000 * sum(ts[:args.warmup])
            r.ms = 1000 * statistics.median(ts[args.warmup:]) / p.k
            torch.set_num_threads(p.threads)
            r.acc = p.accuracy()
    else:
        for r, make in factories:
            sync(device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)  # what earlier paths left (data: none)
            p = make()
            sync(device)
            t0 = time.perf_counter()
            for _ in range(args.warmup):
                p.step()
            sync(device)
            t1 = time.perf_counter()
            for _ in range(steps):
                p.step()
            sync(device)
            r.first_ms = 1000 * (t1 - t0)
            r.ms = 1000 * (time.perf_counter() - t1) / steps / p.k
            r.peak_mib = (torch.cuda.max_memory_allocated(device) - base) / 2 ** 20
            if isinstance(p, Engine):
                fb = p.stack.graph_fallback
                r.note = "graph" if p.stack.graph_captured else (f"eager ({fb})" if fb else "eager")
            r.acc = p.accuracy()
            del p  # the next path's peak is its own
    by_path = {}
    for r, _ in factories:
        # References: the first seed-style row (default threads) and the first engine row.
        by_path.setdefault("seed" if r.path.startswith("seed") else "engine", r)
    for r, _ in factories:
        ref = by_path.get(r.ref)
        if ref is not None and ref is not r:
            r.speedup = ref.ms / r.ms
            r.dacc = r.acc - ref.acc
    return [r for r, _ in factories]


# --- the full protocol's estimate ---------------------------------------------------------

def protocol_runs(train_size: int = 50_000, epochs: int = 10, seeds: int = 5):
    """The paper's grid as (kind, blocks, batch, steps) with 5 seeds each."""
    steps = lambda b: epochs * math.ceil(train_size / b)
    grid = []
    for depth in (1, 2, 4, 6, 8):
        for _ in ("relu", "sigmoid"):
            grid.append(("cnn", depth, 128, steps(128)))
    for _ in ("batch", "group"):
        for b in (2, 4, 8, 16, 32, 64, 128):
            grid.append(("cnn", 4, b, steps(b)))
    for _ in range(3):  # the three orders
        grid.append(("cnn", 8, 128, steps(128)))
        grid.append(("mlp", 0, 128, steps(128)))
    return [(kind, blocks, b, n) for kind, blocks, b, n in grid for _ in range(seeds)]


def estimate_protocol(t: dict) -> float | None:
    """Seconds for the whole grid from the four measured full-scale step times.

    Model (stated, not fitted beyond these four points): at batch 128 a CNN step is linear in
    its number of blocks through the Q5 (4 blocks) and Q4 (8 blocks) measurements; a 4-block
    CNN at batch b is linear in b between the B=2 (Q5 GN) and B=128 (Q5 BN) measurements
    (BN vs GN cost differences ignored); the MLP is its measured step. Training steps only:
    evaluation, start-up and data loading are not counted.
    """
    if not all(k in t for k in CONFIGS):
        return None
    per_block = (t["q4"] - t["q5bn"]) / 4
    total = 0.0
    for kind, blocks, b, n in protocol_runs():
        if kind == "mlp":
            step = t["mlp"]
        elif b == 128:
            step = t["q5bn"] + (blocks - 4) * per_block
        else:
            step = t["q5gn"] + (t["q5bn"] - t["q5gn"]) * (b - 2) / 126
        total += n * max(step, 0.0)
    return total


# --- output -------------------------------------------------------------------------------

def fmt(v: float, spec: str) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def print_table(rows: list[Row], cuda: bool, header: bool = True) -> None:
    head = ["configuration", "scale", "path", "ms/step", "speed-up", "acc %", "Δacc (pts)", "first step(s) ms"]
    if cuda:
        head += ["peak MiB", "note"]
    if header:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        cells = [r.config, r.scale, r.path, fmt(r.ms, ".1f"),
                 (fmt(r.speedup, ".2f") + f"x vs {r.ref}") if not math.isnan(r.speedup) else "",
                 fmt(r.acc, ".2f"), fmt(r.dacc, "+.2f"), fmt(r.first_ms, ".0f")]
        if cuda:
            cells += [fmt(r.peak_mib, ".0f"), r.note]
        print("| " + " | ".join(cells) + " |", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--configs", default=",".join(CONFIGS), help=f"comma list of {', '.join(CONFIGS)}")
    ap.add_argument("--scales", default="smoke,full", help="comma list of smoke, full")
    ap.add_argument("--steps-smoke", type=int, default=None, help="timed steps at smoke scale (cpu 30, cuda 200)")
    ap.add_argument("--steps-full", type=int, default=None, help="timed steps at full scale (cpu 2, cuda 100)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed first steps (cpu 1, cuda 8)")
    ap.add_argument("--eval-smoke", type=int, default=2000, help="eval images at smoke scale")
    ap.add_argument("--eval-full", type=int, default=128, help="eval images at full scale")
    ap.add_argument("--stack-k", type=int, default=5, help="replicas in a stack (the seed count)")
    ap.add_argument("--variants-smoke", default=None,
                    help="extra engine rows at smoke scale: cl,bf16,stack,compile (default cl,bf16,stack)")
    ap.add_argument("--variants-full", default=None,
                    help="extra engine rows at full scale (default: cpu cl; cuda cl,bf16)")
    ap.add_argument("--bf16", action="store_true", help="add the bf16 row at every scale")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads for the engine rows (default: torch's default)")
    ap.add_argument("--seed-threads", type=int, default=None,
                    help="torch threads for the seed-style loop (default: torch's default, as the notebooks ran)")
    ap.add_argument("--no-graph", action="store_true", help="cuda: run the stack eagerly")
    ap.add_argument("--cudnn-benchmark", action="store_true")
    args = ap.parse_args(argv)

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    default_threads = torch.get_num_threads()
    args.threads = args.threads or default_threads
    args.seed_threads = args.seed_threads or default_threads
    if args.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    args.steps_smoke = args.steps_smoke or (200 if cuda else 30)
    args.steps_full = args.steps_full or (100 if cuda else 2)
    args.warmup = args.warmup if args.warmup is not None else (8 if cuda else 1)
    split = lambda s: [v for v in s.split(",") if v]
    args.variants_smoke = split(args.variants_smoke if args.variants_smoke is not None else "cl,bf16,stack")
    args.variants_full = split(args.variants_full if args.variants_full is not None else ("cl,bf16" if cuda else "cl"))
    if args.bf16:
        args.variants_smoke.append("bf16")
        args.variants_full.append("bf16")
    configs, scales = split(args.configs), split(args.scales)

    t_start = time.perf_counter()
    load = "load average {:.2f} {:.2f} {:.2f}; ".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    print(f"# bench_engine: {device_name(device)}; {load}python {platform.python_version()}, "
          f"torch {torch.__version__}; threads: seed-style {args.seed_threads}, engine {args.threads}; "
          f"warmup {args.warmup}, steps smoke {args.steps_smoke} / full {args.steps_full}; "
          f"stack K={args.stack_k}\n", flush=True)
    rows: list[Row] = []
    print_table([], cuda)  # the header now, each configuration's rows as soon as they exist,
    for scale in scales:   # so a run cut short by a timeout still leaves what it measured
        for name in configs:
            t = time.perf_counter()
            got = run_config(name, scale, args, device)
            rows += got
            print_table(got, cuda, header=False)
            times = ", ".join(f"{r.path} {r.ms:.1f} ms" for r in got)
            print(f"  {CONFIGS[name][2]} [{scale}] ({time.perf_counter() - t:.0f} s): {times}",
                  file=sys.stderr, flush=True)

    if "full" in scales:
        print("\n## Full protocol, estimated from the full-scale step times\n")
        print("150 runs: Q4 depths 1,2,4,6,8 x ReLU/Sigmoid (B=128); Q5 BN/GN x B=2..128; Q6 3 orders x "
              "CNN+MLP (B=128); 5 seeds, 10 epochs, 50,000 images. Training steps only.\n")
        print("| path | estimated wall time |")
        print("|---|---|")
        full = [r for r in rows if r.scale == "full"]
        paths = list(dict.fromkeys(r.path for r in full))
        name_of = {CONFIGS[n][2]: n for n in CONFIGS}
        # A path with no row for a configuration (channels_last has no MLP row) takes the
        # engine's fp32 row there (footnoted).
        first_engine = next(p for p in paths if p.startswith("engine"))
        engine_t = {name_of[r.config]: r.ms / 1000 for r in full if r.path == first_engine}
        for path in paths:
            t = {name_of[r.config]: r.ms / 1000 for r in full if r.path == path}
            filled = [n for n in CONFIGS if n not in t and n in engine_t and path.startswith("engine")]
            est = estimate_protocol({**{n: engine_t[n] for n in filled}, **t})
            if est is not None:
                note = f" (engine fp32 row for {', '.join(filled)})" if filled else ""
                print(f"| {path}{note} | {est / 3600:.1f} h |")
    load = "; load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()) if hasattr(os, "getloadavg") else ""
    print(f"\n(benchmark wall time {time.perf_counter() - t_start:.0f} s{load})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
