"""GPU check, step 1: the stacked trainer on the device against the CPU float64 reference, and
the latency-bound sweep run one configuration at a time vs interleaved on streams.

Parity (one line each, PASS/FAIL with the largest relative difference):
* float64 on the device (CUDA graph: warm-up, capture, replays, eager ragged batch, 2 epochs)
  against each seed trained alone on the CPU in float64 (a stack of one, eager, no graph):
  1e-6 relative, as the CPU test (tests/test_stacked.py) asks of the stack. The CPU side is
  the trainer itself, not the tests' reference loop (benchmarks do not import tests/): the
  chain is GPU stack of K == CPU stack of one (here) and CPU stacks of K and of one ==
  the independent reference loop (tests/test_stacked.py);
* the same through ``harness.train.concurrent`` (two configurations on two streams);
* float32 (TF32 as torch defaults) and bf16: the difference after the same steps, reported,
  not judged (float32 runs drift apart; see docs/PERFORMANCE.md).
Concurrency timing: Q5's batch-2/-4 BN/GN stacks at full size (5 seeds), N steps each, one
configuration after the other vs interleaved on four streams.

    python3 benchmarks/gpu_parity.py --device cuda
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import torch  # noqa: E402

from harness.declare.spec import DataSpec, Protocol, RunSpec  # noqa: E402
from harness.train.concurrent import train_concurrent  # noqa: E402
from harness.train.data import Splits  # noqa: E402
from harness.train.stacked import Stack, device_name, train_stacked  # noqa: E402
from models import q5_norm_net  # noqa: E402

REL = 1e-6


def rand_splits(n, c, s, seed=0) -> Splits:
    g = torch.Generator().manual_seed(seed)
    return Splits("random", torch.randn(n, c, s, s, generator=g), torch.randint(0, 10, (n,), generator=g),
                  torch.randn(64, c, s, s, generator=g), torch.randint(0, 10, (64,), generator=g))


def max_rel(model_a, model_b) -> float:
    worst = 0.0
    for name, a in model_a.state_dict().items():
        if a.is_floating_point():
            b = model_b.state_dict()[name].to(a.device, a.dtype)
            scale = b.abs().max().item() or 1.0
            worst = max(worst, (a - b).abs().max().item() / scale)
    return worst


def reference(spec, data):
    """The seed trained alone on the CPU in float64: its record and trained model."""
    (rec,), (model,) = train_stacked([spec], data, "cpu", dtype=torch.float64, return_models=True)
    return rec, model


def parity(device, out) -> bool:
    ok = True
    data = rand_splits(6 * 8 + 5, 1, 8)
    nets = {"bn": q5_norm_net("batch", width=8, in_channels=1, image_size=8).with_(depth=2),
            "gn": q5_norm_net("group", width=8, in_channels=1, image_size=8).with_(depth=2)}
    specs = {n: [RunSpec(net, DataSpec("random"), Protocol(epochs=2, batch_size=8), seed=s)
                 for s in range(3)] for n, net in nets.items()}
    refs = {n: [reference(s, data) for s in ss] for n, ss in specs.items()}
    for n, ss in specs.items():
        recs, models = train_stacked(ss, data, device, dtype=torch.float64, return_models=True)
        err = max(max_rel(m, r[1]) for m, r in zip(models, refs[n]))
        loss = max(abs(a - b) / abs(b) for rec, r in zip(recs, refs[n])
                   for a, b in zip(rec["train_loss"], r[0]["train_loss"]))
        good = err <= REL and loss <= REL
        ok &= good
        out(f"{'PASS' if good else 'FAIL'} float64 stack {n} on {device}: weights max rel {err:.1e}, "
            f"train loss max rel {loss:.1e}; cuda_graph={recs[0]['cuda_graph']} "
            f"fallback={recs[0]['graph_fallback']}")
    together = train_concurrent(list(specs.values()), lambda d: data, device, dtype=torch.float64)
    loss = max(abs(a - b) / abs(b) for recs, n in zip(together, specs) for rec, r in zip(recs, refs[n])
               for a, b in zip(rec["train_loss"], r[0]["train_loss"]))
    good = loss <= REL
    ok &= good
    out(f"{'PASS' if good else 'FAIL'} float64 concurrent (2 configurations, own streams) on {device}: "
        f"train loss max rel {loss:.1e}")
    for label, kw in (("float32", {}), ("bf16 autocast", {"bf16": True})):
        recs, models = train_stacked(specs["bn"], data, device, return_models=True, **kw)
        err = max(max_rel(m, r[1]) for m, r in zip(models, refs["bn"]))
        out(f"INFO {label} stack bn on {device} vs CPU float64 after 14 steps: weights max rel {err:.1e} "
            f"(backend {recs[0]['backend']})")
    return ok


def concurrency_timing(device, steps, out) -> None:
    full = dict(width=64, in_channels=3, image_size=32) if device.type == "cuda" else \
        dict(width=4, in_channels=1, image_size=8)
    c, s = full["in_channels"], full["image_size"]
    groups = [[RunSpec(q5_norm_net(norm, **full), DataSpec("random"), Protocol(1, b), seed=k)
               for k in range(5)] for norm in ("batch", "group") for b in (2, 4)]
    data = rand_splits(max(64, 4 * (steps + 8)), c, s).to(device)
    stacks = [Stack(g, data, device) for g in groups]
    batches = [st.epoch_indices()[0] for st in stacks]
    b = [g[0].protocol.batch_size for g in groups]

    def run(i, j):
        stacks[i].train_batch(batches[i][j * b[i]:(j + 1) * b[i]])

    for i in range(len(stacks)):  # warm-up and capture, outside the timing
        for j in range(4):
            run(i, j)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    sync()
    t = time.perf_counter()
    for i in range(len(stacks)):
        for j in range(4, 4 + steps):
            run(i, j)
    sync()
    seq = time.perf_counter() - t
    streams = [torch.cuda.Stream(device) for _ in stacks] if device.type == "cuda" else [None] * 4
    for st in streams:
        if st is not None:
            st.wait_stream(torch.cuda.current_stream(device))
    t = time.perf_counter()
    for j in range(4, 4 + steps):
        for i in range(len(stacks)):
            with (torch.cuda.stream(streams[i]) if streams[i] is not None else contextlib.nullcontext()):
                run(i, j)
    sync()
    inter = time.perf_counter() - t
    n = steps * len(stacks)
    out(f"INFO concurrency, Q5 BN/GN x B=2/4 stacks of 5, {steps} steps each, graph="
        f"{[st.graph_captured for st in stacks]}: one after another {1000 * seq / n:.3f} ms/step, "
        f"interleaved on {len(stacks)} streams {1000 * inter / n:.3f} ms/step "
        f"({seq / inter:.2f}x)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=500, help="timed steps per configuration")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    out = lambda line: print(line, flush=True)
    out(f"# gpu_parity: {device_name(device)}, torch {torch.__version__}")
    ok = parity(device, out)
    concurrency_timing(device, args.steps, out)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
