"""A profile's whole grid: today's engine ("eager-stacked") against the planned engine
(``harness.train.plan``'s table), and the fraction of this CPU's measured fp32 peak each reaches.
One process, one run: the peak and every ratio are measured together.

* Peak: fp32 GEMM (a 2048^3 ``torch.mm``) and a dense 3x3 convolution's forward+backward at the
  tier's own shape (batch 128, 16 -> 16 channels, 14x14), in GFLOP/s at ``--threads``.
* Per configuration, round-robin (one step of each path in turn, so background load hits both
  alike), the median time of one step of ALL the configuration's seeds: ``eager-stacked`` is one
  ``harness.train.stacked.Stack`` of all seeds in NCHW (the engine before plans); ``planned`` is what
  ``harness.train.plan.choose`` gives it (for a per-seed plan, one step of each seed's stack of one;
  where the table keeps eager-stacked, the same timing serves both: speed-up 1.00x).
* Each path's time for the grid: median step time x steps per epoch x epochs, training steps
  only. GFLOP/s: the convolutions' and linear layers' multiply-adds of one step (forward x 3
  for forward + backward), counted from the network's layer shapes, over the step time.
* The bare minimum of every configuration: the planned nets' forward + backward alone (no
  optimizer, no metrics), timed in the same round-robin; planned / bare is the share of a step
  that is that (printed for batch <= 16, the latency-bound steps).
* Where a batch-128 CNN's planned step goes (``torch.profiler``, a few steps after the timed
  ones): the time inside its convolution operators (forward and both backward passes, eager
  or called from a compiled graph) and their own rate: the convolutions' multiply-adds
  (forward, weight gradient, and input gradient except the stem's, whose input is data) over
  that time, as a share of the measured peak, beside the whole step's.
* The ceiling: what no engine can beat on this CPU. The grid's time if every step were only
  its bare forward + backward (today's kernels, every engine cost removed), and if every
  multiply-add of a step ran at the measured peak (the dense convolution's, and the GEMM's:
  the fastest fp32 rate this CPU reached) with nothing else costing anything. The speed-up
  over the engine before plans that each allows is the most any plan could show here.

    PYTHONPATH=. python3 benchmarks/bench_plan.py --profile cpu --threads 1
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in (ROOT, os.path.join(ROOT, "benchmarks")):
    if p not in sys.path:
        sys.path.insert(0, p)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from bench_profile import configurations  # noqa: E402
from harness.declare.profiles import resolve_profile  # noqa: E402
from harness.train.data import load_splits  # noqa: E402
from harness.train.plan import EAGER_STACKED, choose, parse  # noqa: E402
from harness.train.stacked import Stack, init_model  # noqa: E402


SMALL_BATCH = 16  # latency-bound: compared with the bare forward + backward


def best_rate(fn, flop: float, reps: int) -> float:
    """GFLOP/s of ``fn`` (best of ``reps`` after one warm-up: the peak, not the typical)."""
    fn()
    best = math.inf
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return flop / best / 1e9


def gemm_peak(n: int = 2048, reps: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    return best_rate(lambda: torch.mm(a, b), 2 * n ** 3, reps)


def conv_peak(batch: int = 128, ch: int = 16, size: int = 14, reps: int = 5) -> float:
    """A dense 3x3 conv's forward + backward (input and weight gradients), channels_last."""
    conv = nn.Conv2d(ch, ch, 3, padding=1).to(memory_format=torch.channels_last)
    x = torch.randn(batch, ch, size, size).contiguous(memory_format=torch.channels_last).requires_grad_()

    def step():
        conv(x).sum().backward()

    return best_rate(step, 3 * 2 * batch * size * size * ch * ch * 9, reps)


def forward_macs(spec) -> list[tuple[type, int]]:
    """(layer type, multiply-adds) of one seed's forward pass, convolutions and linears, in the
    order they run."""
    model = init_model(spec, "cpu")
    macs = []

    def count(m, inp, out):
        if isinstance(m, nn.Conv2d):
            macs.append((nn.Conv2d, out.numel() * (m.in_channels // m.groups) * m.kernel_size[0]
                         * m.kernel_size[1]))
        elif isinstance(m, nn.Linear):
            macs.append((nn.Linear, out.numel() * m.in_features))

    hooks = [m.register_forward_hook(count) for m in model.modules()]
    n = spec.net
    with torch.no_grad():
        model(torch.zeros(spec.protocol.batch_size, n.in_channels, n.image_size, n.image_size))
    for h in hooks:
        h.remove()
    return macs


def step_flop(spec) -> float:
    """Multiply-adds x 2 of one seed's training step (forward x 3), convs and linears only."""
    return 3 * 2 * sum(m for _, m in forward_macs(spec))


def conv_flop(spec) -> float:
    """FLOPs (multiply-adds x 2) of one seed's convolutions in one training step: forward,
    weight gradient, and input gradient for every convolution but the first (its input is
    the data, which needs no gradient)."""
    convs = [m for kind, m in forward_macs(spec) if kind is nn.Conv2d]
    return 2 * sum(m * (3 if i else 2) for i, m in enumerate(convs))


def conv_ms(path, steps: int = 3) -> tuple[float, float]:
    """(ms a step, ms of it inside convolution operators), from ``torch.profiler``: the self
    time of every operator named ``*convolution*`` (aten's, mkldnn's, eager or from a compiled
    graph)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t = time.perf_counter()
        for _ in range(steps):
            path.step()
        wall = time.perf_counter() - t
    inside = sum(e.self_cpu_time_total for e in prof.key_averages() if "convolution" in e.key)
    return 1000 * wall / steps, inside / 1000 / steps


class Path:
    """The configuration's seeds laid out as ``plan`` says; ``step()`` steps every seed once."""

    def __init__(self, plan, specs, data):
        self.stacks = [Stack(g, data, "cpu", channels_last=plan.channels_last, compile=plan.compile)
                       for g in plan.groups(specs)]
        self.batches = [st.epoch_indices()[0] for st in self.stacks]
        self.b, self.i = specs[0].protocol.batch_size, 0

    def _next(self) -> int:
        self.i += 1
        return ((self.i - 1) * self.b) % (len(self.batches[0]) - self.b)

    def step(self) -> None:
        lo = self._next()
        for st, idx in zip(self.stacks, self.batches):
            st.step(idx[lo:lo + self.b])

    def bare(self) -> None:
        """The bare minimum of a step: the same nets' forward + backward, nothing else (no
        metrics, no optimizer, gradients accumulated)."""
        lo = self._next()
        for st, idx in zip(self.stacks, self.batches):
            x, y = st._inputs(idx[lo:lo + self.b])
            F.cross_entropy(st.net(x).transpose(1, 2), y, reduction="none").mean(0).sum().backward()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--set", action="append", default=[], dest="sets")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1: what each of `pytest -n 2`'s workers gets on 2 cores)")
    ap.add_argument("--steps", type=int, default=8, help="timed steps per path")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--only", default=None,
                    help="only configurations whose label contains this (e.g. b128/e4)")
    ap.add_argument("--extra", default=None, metavar="PLAN",
                    help="also time this plan (e.g. per-seed+channels_last+compile) against "
                         "eager-stacked; its first step (compile time) is printed")
    a = ap.parse_args(argv)
    extra = parse(a.extra) if a.extra else None
    profile = resolve_profile(a.profile, a.sets)
    torch.set_num_threads(a.threads)
    t_start = time.perf_counter()
    load0 = os.getloadavg()[0]
    peak_gemm, peak_conv = gemm_peak(), conv_peak()
    peak = max(peak_gemm, peak_conv)
    rows, small, extras, convs = [], [], [], []
    tot = dict.fromkeys(("eager", "planned", "bare", "at_conv_peak", "at_gemm_peak"), 0.0)
    splits = {}
    for q, specs in configurations(profile, profile.seeds):
        spec = specs[0]
        if a.only and a.only not in spec.label():
            continue
        if spec.data not in splits:
            splits[spec.data] = load_splits(spec.data)
        data = splits[spec.data]
        plan = choose(spec, "cpu")
        paths = {"eager": Path(EAGER_STACKED, specs, data)}
        # Where the table keeps the stack, planned IS eager-stacked: timed once, used for both
        # (timing the same code twice would only add the machine's noise to the ratio).
        paths["planned"] = paths["eager"] if plan == EAGER_STACKED else Path(plan, specs, data)
        if extra is not None:
            paths["extra"] = Path(extra, specs, data)
            t = time.perf_counter()
            paths["extra"].step()
            first_extra = time.perf_counter() - t
        steppers = {name: path.step for name, path in paths.items()
                    if name == "eager" or path is not paths["eager"]}
        steppers["bare"] = paths["planned"].bare
        times = {name: [] for name in steppers}
        for i in range(a.warmup + a.steps):
            for name, step in steppers.items():
                t = time.perf_counter()
                step()
                if i >= a.warmup:
                    times[name].append(time.perf_counter() - t)
        ms = {name: 1000 * statistics.median(v) for name, v in times.items()}
        ms.setdefault("planned", ms["eager"])
        if spec.protocol.batch_size <= SMALL_BATCH:
            small.append((spec.label().rsplit(" seed ", 1)[0], plan.name, dict(ms)))
        steps = spec.protocol.epochs * math.ceil(len(data.x_train) / spec.protocol.batch_size)
        gflop = step_flop(spec) * len(specs) / 1e9
        for name, rate in (("at_conv_peak", peak_conv), ("at_gemm_peak", peak_gemm)):
            ms[name] = 1000 * gflop / rate  # every multiply-add at that rate, nothing else
        secs = {name: ms[name] * steps / 1000 for name in ms}
        for name in tot:
            tot[name] += secs[name]
        ms = {name: v for name, v in ms.items() if name in ("eager", "planned", "bare", "extra")}
        rows.append((q, spec.label().rsplit(" seed ", 1)[0], plan.name, ms, steps, secs,
                     {name: gflop / (ms[name] / 1000) for name in ms}))
        if extra is not None:
            extras.append((spec.label().rsplit(" seed ", 1)[0], ms, first_extra))
        if spec.net.arch == "cnn" and spec.protocol.batch_size >= 64:
            step_ms, in_conv = conv_ms(paths["planned"])
            convs.append((spec.label().rsplit(" seed ", 1)[0], plan.name, step_ms, in_conv,
                          conv_flop(spec) * len(specs) / 1e9 / (in_conv / 1000), rows[-1][6]["planned"]))
    print(f"# bench_plan: profile {profile.name}, {len(rows)} configurations x {profile.seeds} "
          f"seeds; {a.threads} thread(s); {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
          f"{os.uname().machine}; torch {torch.__version__}; load average {load0:.2f} at start, "
          f"{os.getloadavg()[0]:.2f} at end; benchmark wall {time.perf_counter() - t_start:.0f} s\n")
    print(f"measured fp32 peak at {a.threads} thread(s): GEMM 2048^3 {peak_gemm:.1f} GFLOP/s; "
          f"dense 3x3 conv fwd+bwd (B=128, 16->16, 14x14, NHWC) {peak_conv:.1f} GFLOP/s; "
          f"peak = the larger, {peak:.1f} GFLOP/s\n")
    print("| question | configuration | plan | eager-stacked ms/step | planned ms/step | steps "
          "| eager-stacked s | planned s | speed-up | eager % of peak | planned % of peak "
          "| bare fwd+bwd ms/step | bare % of peak |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for q, label, plan, ms, steps, secs, rate in rows:
        print(f"| {q} | {label} | {plan} | {ms['eager']:.2f} | {ms['planned']:.2f} | {steps} | "
              f"{secs['eager']:.0f} | {secs['planned']:.0f} | {secs['eager'] / secs['planned']:.2f}x | "
              f"{100 * rate['eager'] / peak:.0f}% | {100 * rate['planned'] / peak:.0f}% | "
              f"{ms['bare']:.2f} | {100 * rate['bare'] / peak:.0f}% |")
    print(f"| all | the whole grid (training steps) | | | | | {tot['eager']:.0f} "
          f"({tot['eager'] / 60:.1f} min) | {tot['planned']:.0f} ({tot['planned'] / 60:.1f} min) | "
          f"{tot['eager'] / tot['planned']:.2f}x | | | | |")
    print("\nThe ceiling: the whole grid's training steps if nothing but their arithmetic cost "
          "anything (seconds of one worker; speed-up over the engine before plans)\n")
    print("| the grid's steps as | s | speed-up over eager-stacked |")
    print("|---|---|---|")
    for name, what in (("eager", "eager-stacked (the engine before plans)"),
                       ("planned", "planned (today's table)"),
                       ("bare", "the planned nets' bare forward + backward (today's kernels, no engine cost)"),
                       ("at_conv_peak", f"every multiply-add at the dense conv peak ({peak_conv:.0f} GFLOP/s)"),
                       ("at_gemm_peak", f"every multiply-add at the GEMM peak ({peak_gemm:.0f} GFLOP/s)")):
        print(f"| {what} | {tot[name]:.0f} | {tot['eager'] / tot[name]:.2f}x |")
    if convs:
        print("\nWhere a large-batch (>= 64) CNN's planned step goes (torch.profiler, 3 steps of all seeds): "
              "its convolution operators and their own rate\n")
        print("| configuration | plan | step ms (profiled) | in convolutions ms | share | "
              "convolutions GFLOP/s | convolutions % of peak | whole step % of peak |")
        print("|---|---|---|---|---|---|---|---|")
        for label, plan_name, step_ms, in_conv, rate, step_rate in convs:
            print(f"| {label} | {plan_name} | {step_ms:.1f} | {in_conv:.1f} | {in_conv / step_ms:.0%} | "
                  f"{rate:.0f} | {100 * rate / peak:.0f}% | {100 * step_rate / peak:.0f}% |")
    if extras:
        print(f"\nThe extra plan {extra.name} (ms per step of all seeds; first step includes "
              "compiling, if any)\n")
        print(f"| configuration | eager-stacked ms | planned ms | {extra.name} ms | "
              f"{extra.name} vs eager-stacked | vs planned | its first step s |")
        print("|---|---|---|---|---|---|---|")
        for label, ms, first in extras:
            print(f"| {label} | {ms['eager']:.2f} | {ms['planned']:.2f} | {ms['extra']:.2f} | "
                  f"{ms['eager'] / ms['extra']:.2f}x | {ms['planned'] / ms['extra']:.2f}x | {first:.1f} |")
    if not small:
        return
    print(f"\nSmall batches (<= {SMALL_BATCH}): steps per second of all seeds against the bare "
          "minimum (the planned nets' forward + backward alone, in the same round-robin)\n")
    print("| configuration | plan | planned steps/s | bare fwd+bwd steps/s | planned / bare |")
    print("|---|---|---|---|---|")
    for label, plan, ms in small:
        print(f"| {label} | {plan} | {1000 / ms['planned']:.0f} | {1000 / ms['bare']:.0f} | "
              f"{ms['bare'] / ms['planned']:.2f} |")


if __name__ == "__main__":
    main()
