"""GPU check, step 2: a time-boxed slice of the full protocol, and the whole protocol's time
extrapolated from it.

For every configuration of the profile's grid (Q4, Q5, Q6; all seeds as one stack, as the
engine trains them) on the real data: build the stack, run the warm-up and the capture
("setup"), time ``--steps`` full-size steps and one evaluation, and extrapolate the
configuration's time as setup + epochs x (steps per epoch x step time + evaluation). Rows are
printed as each configuration finishes, so a timeout still leaves them; configurations not
reached by ``--budget-s`` are listed and the total says how many it covers.

    python3 benchmarks/protocol_slice.py --device cuda --dataset fashion-mnist \
        --data-root .data/fashion-mnist --profile full --budget-s 90
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import torch  # noqa: E402

from harness.declare.grids import grid  # noqa: E402
from harness.declare.profiles import get_profile  # noqa: E402
from harness.declare.questions import QUESTIONS  # noqa: E402  (every declared question)
from harness.train.data import load_splits  # noqa: E402
from harness.train.stacked import Stack, backend_flags, device_name, epoch_batches  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--profile", default="full")
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--steps", type=int, default=30, help="timed full-size steps per configuration")
    ap.add_argument("--budget-s", type=float, default=90.0)
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    device = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    profile = get_profile(args.profile)
    groups = defaultdict(list)
    for q in QUESTIONS:
        for spec in grid(q, profile, args.dataset):
            groups[spec.config_key()].append(spec)
    print(f"# protocol slice: {device_name(device)}, torch {torch.__version__}, profile "
          f"{profile.name}, dataset {args.dataset}, {len(groups)} configurations, "
          f"{sum(map(len, groups.values()))} runs; {args.steps} timed steps each; "
          f"backend {backend_flags()}\n", flush=True)
    print("| configuration | seeds | steps/epoch | epochs | setup s | ms/step (stack) | eval s | "
          "extrapolated s | graph |")
    print("|---|---|---|---|---|---|---|---|---|", flush=True)
    splits, total, done, missing = {}, 0.0, 0, []
    for specs in groups.values():
        if time.perf_counter() - t_start > args.budget_s:
            missing.append(specs[0].label().rsplit(" seed ", 1)[0])
            continue
        d = specs[0].data
        if d not in splits:
            splits[d] = load_splits(d, root=args.data_root).to(device)
        data = splits[d]
        b, epochs = specs[0].protocol.batch_size, specs[0].protocol.epochs
        per_epoch = len(epoch_batches(len(data.x_train), b, torch.Generator().manual_seed(0)))
        t = time.perf_counter()
        stack = Stack(specs, data, device)
        idx = stack.epoch_indices()[0]
        full = len(idx) // b
        n = min(args.steps, max(full - 4, 1))
        for j in range(4):  # warm-up and capture
            stack.train_batch(idx[(j % full) * b:(j % full + 1) * b])
        sync()
        setup = time.perf_counter() - t
        t = time.perf_counter()
        for j in range(n):
            k = (4 + j) % full
            stack.train_batch(idx[k * b:(k + 1) * b])
        sync()
        step = (time.perf_counter() - t) / n
        t = time.perf_counter()
        stack.evaluate()
        ev = time.perf_counter() - t
        est = setup + epochs * (per_epoch * step + ev)
        total += est
        done += 1
        print(f"| {specs[0].label().rsplit(' seed ', 1)[0]} | {len(specs)} | {per_epoch} | {epochs} | "
              f"{setup:.2f} | {1000 * step:.3f} | {ev:.3f} | {est:.1f} | {stack.graph_captured} |",
              flush=True)
        del stack
    print(f"\n**Whole protocol, extrapolated**: {total:.0f} s = {total / 60:.1f} min of training "
          f"for {done} of {len(groups)} configurations (one process, one configuration at a time; "
          f"start-up, data loading and the statistics not counted)"
          + (f"; not reached within the {args.budget_s:.0f} s budget: {', '.join(missing)}" if missing else ""))
    print(f"(slice wall time {time.perf_counter() - t_start:.0f} s)")
    return 0 if math.isfinite(total) else 1


if __name__ == "__main__":
    sys.exit(main())
