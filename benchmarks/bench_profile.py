"""A profile's whole grid: the seed-style loop's estimated wall time against the engine's,
measured on this machine in one run.

For every configuration of the profile's grid (all questions), one process times, round-robin
(one step of each path in turn, median step time, so that load from other processes hits both
alike):

* ``seed-style``: the notebooks' loop (``bench_engine.SeedLoop``: DataLoader, one model at a
  time, per-step host reads, Q4's per-tensor gradient metric), one seed;
* ``engine``: the stacked trainer (``harness.train.stacked.Stack``), all the profile's seeds at once.

Each path's time for the grid is its median step time x steps per epoch x epochs (x seeds for
the seed-style loop, which trains one seed at a time). Training steps only: evaluation and
start-up are counted by neither, so the ratio is the training loop's. The real wall time of
``pytest claims --profile NAME -n 2`` is measured by that session (docs/RESULTS.md).

    python benchmarks/bench_profile.py --profile cpu --threads 2
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

from bench_engine import Engine, SeedLoop  # noqa: E402
from harness.declare import grids, questions  # noqa: E402
from harness.declare.profiles import resolve_profile  # noqa: E402
from harness.train.data import load_splits  # noqa: E402


def configurations(profile, seeds: int):
    """(label, specs of one configuration) for the profile's whole grid."""
    out = {}
    for q in questions.QUESTIONS:
        for spec in grids.grid(q, profile, seeds=seeds):
            out.setdefault(spec.config_key(), (q, []))[1].append(spec)
    return [(q, specs) for q, specs in out.values()]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--set", action="append", default=[], dest="sets")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    ap.add_argument("--steps", type=int, default=15, help="timed steps per path")
    ap.add_argument("--warmup", type=int, default=2)
    a = ap.parse_args(argv)
    profile = resolve_profile(a.profile, a.sets)
    torch.set_num_threads(a.threads)
    t_start = time.perf_counter()
    rows, tot_seed, tot_engine = [], 0.0, 0.0
    splits_cache = {}
    for q, specs in configurations(profile, profile.seeds):
        spec = specs[0]
        if spec.data not in splits_cache:
            splits_cache[spec.data] = load_splits(spec.data)
        data = splits_cache[spec.data]
        seed_path = SeedLoop(spec, data, torch.device("cpu"), q == "Q4", a.threads)
        engine_path = Engine(specs, data, torch.device("cpu"), a.threads)
        times = {"seed": [], "engine": []}
        for _ in range(a.warmup + a.steps):
            for name, path in (("seed", seed_path), ("engine", engine_path)):
                t = time.perf_counter()
                path.step()
                times[name].append(time.perf_counter() - t)
        ms_seed = 1000 * statistics.median(times["seed"][a.warmup:])
        ms_stack = 1000 * statistics.median(times["engine"][a.warmup:])
        n = len(data.x_train)
        steps = spec.protocol.epochs * math.ceil(n / spec.protocol.batch_size)
        s_seed = ms_seed * steps * len(specs) / 1000
        s_engine = ms_stack * steps / 1000
        tot_seed += s_seed
        tot_engine += s_engine
        rows.append((q, spec.label().rsplit(" seed ", 1)[0], ms_seed, ms_stack, steps, s_seed, s_engine))
    print(f"profile {profile.name}: {len(rows)} configurations x {profile.seeds} seeds; "
          f"{a.threads} threads; {time.strftime('%Y-%m-%d')}; benchmark wall "
          f"{time.perf_counter() - t_start:.0f} s\n")
    print("| question | configuration | seed-style ms/step (1 seed) | engine ms/step (all seeds) "
          "| steps per run | seed-style s | engine s | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for q, label, ms_seed, ms_stack, steps, s_seed, s_engine in rows:
        print(f"| {q} | {label} | {ms_seed:.2f} | {ms_stack:.2f} | {steps} | {s_seed:.0f} | "
              f"{s_engine:.0f} | {s_seed / s_engine:.2f}x |")
    print(f"| all | the whole grid | | | | {tot_seed:.0f} ({tot_seed / 60:.1f} min) | "
          f"{tot_engine:.0f} ({tot_engine / 60:.1f} min) | {tot_seed / tot_engine:.2f}x |")


if __name__ == "__main__":
    main()
