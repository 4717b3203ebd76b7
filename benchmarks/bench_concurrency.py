"""Two training sessions at once on one machine: what each pays, old thread layout vs new.

One fixed job (a configuration's 5 seeds as one stack, a fixed number of steps) runs in a
fresh Python process, so OpenMP starts with the environment we give it:

* ``alone``: one job, threads = every allowed core (the baseline, measured in this run);
* ``2x old``: two jobs at once, each at every core, OpenMP's default waiting (spin);
* ``2x new``: two jobs at once, each choosing its threads from the cores free at its start
  (``harness.train.threads.threads_for``) with sleeping waits (``OMP_WAIT_POLICY=PASSIVE``), as the
  pytest plugin does.

Prints each job's wall and its ratio to ``alone``; the issue's target is about 2x for the new
layout (two jobs share two cores). The second job starts ``--stagger`` seconds after the first,
as a second user's session would.

    python benchmarks/bench_concurrency.py --steps 300
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

JOB = r"""
import json, os, sys, time
sys.path.insert(0, {root!r})
from harness.train import threads
import torch
n = {threads_arg}
torch.set_num_threads(n if n > 0 else threads.threads_for(1))
from harness.train.data import load_splits
from harness.train.stacked import Stack
from harness.declare.spec import DataSpec, Protocol, RunSpec
from models import q5_norm_net
data = DataSpec("fashion-mnist-subset", 4000, 1000, 14)
splits = load_splits(data)
net = q5_norm_net("batch", width=16, in_channels=1, image_size=14)
specs = [RunSpec(net, data, Protocol(1, {batch}), s) for s in range(1000, 1005)]
st = Stack(specs, splits, "cpu")
idx, sizes, _ = st.epoch_indices()
t0 = time.perf_counter()
off = 0
for i in range({steps}):
    size = sizes[i % len(sizes)]
    st.train_batch(idx[off % (len(idx) - size):off % (len(idx) - size) + size]); off += size
print(json.dumps({{"wall_s": time.perf_counter() - t0, "threads": torch.get_num_threads(),
                  "wait_policy": os.environ.get("OMP_WAIT_POLICY", "default (spin)")}}))
"""


def launch(steps: int, batch: int, threads_arg: int, passive: bool) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    if passive:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    code = JOB.format(root=ROOT, threads_arg=threads_arg, steps=steps, batch=batch)
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)


def result(p: subprocess.Popen) -> dict:
    out, _ = p.communicate()
    if p.returncode:
        raise SystemExit(f"job failed with exit code {p.returncode}")
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--stagger", type=float, default=3.0)
    a = ap.parse_args(argv)
    cores = len(os.sched_getaffinity(0))
    alone = result(launch(a.steps, a.batch, cores, passive=False))
    rows = [("alone", alone)]
    for label, threads_arg, passive in (("2x old", cores, False), ("2x new", 0, True)):
        first = launch(a.steps, a.batch, threads_arg, passive)
        time.sleep(a.stagger)
        second = launch(a.steps, a.batch, threads_arg, passive)
        rows += [(f"{label} (first)", result(first)), (f"{label} (second)", result(second))]
    print(f"Q5 BN net, width 16, 14x14, batch {a.batch}, 5 seeds stacked, {a.steps} steps; "
          f"{cores} allowed cores; {time.strftime('%Y-%m-%d')}")
    print("| jobs | threads | waiting | wall (s) | vs alone |")
    print("|---|---|---|---|---|")
    for label, r in rows:
        print(f"| {label} | {r['threads']} | {r['wait_policy']} | {r['wall_s']:.1f} | "
              f"{r['wall_s'] / alone['wall_s']:.2f}x |")


if __name__ == "__main__":
    main()
