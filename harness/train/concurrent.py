"""Several configurations trained at once, step by step interleaved (the latency-bound sweep).

Q5's batch-2 and batch-4 runs are about a million sequential steps (5 seeds stacked: BN and GN
x 25,000 + 12,500 steps an epoch x 10 epochs = 750,000 stack steps) whose kernels are far too
small to fill a GPU: each step is a chain of ~100 tiny kernels, and a graph replay costs a
fixed 0.3-0.5 ms however little work it holds. Separate processes on one GPU time-slice (no
MPS), so they do not overlap. Two ways to fill the GPU from one process:

* **one bigger stack** across configurations. A stack is one network whose replicas step
  together on one batch layout (B, K*C, H, W). That rules out every pair in this sweep:
  BN and GN at the same batch size are different modules at the same position (a mixed stack
  would split and re-join channel blocks every layer: more kernels, not fewer); the same
  network at batch 2 and batch 4 has a different batch dimension and twice the steps per
  epoch (padding the batch-2 replicas to 4 would corrupt their BatchNorm statistics and still
  leave half their steps alone). Only seeds stack, and they already do.
* **several stacks, each on its own CUDA stream** (chosen). Each configuration keeps its own
  stack and graph; the host issues one step of each in turn, each on its stream, so the GPU
  runs up to N small graphs at once. The arithmetic of each configuration is exactly what it
  is alone (same kernels, same order on its own stream), so the records are the one-at-a-time
  records; only ``wall_s`` differs (the session's wall time / all replicas).

The interleaving uses the step generator of ``harness.train.stacked`` (``protocol_steps``), the same
code ``train_stacked`` drains, so there is one training loop. On the CPU there are no streams:
the steps simply alternate (tests/test_concurrent.py checks the records are equal to
``train_stacked``'s). Its GPU speed and parity are measured by ``benchmarks/gpu_parity.py``.
"""
from __future__ import annotations

import contextlib
import time
from typing import Callable

import torch

from harness.declare.spec import DataSpec, RunSpec
from harness.train.data import Splits
from harness.train.stacked import ProgressFn, Stack, finish_stacked, protocol_steps


def _on(stream):
    return torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext()


def train_concurrent(groups: list[list[RunSpec]], data_for: Callable[[DataSpec], Splits], device,
                     *, dtype=torch.float32, bf16: bool = False, cuda_graph: bool | None = None,
                     progress: ProgressFn | None = None, on_step: Callable[[int], None] | None = None
                     ) -> list[list[dict]]:
    """Train each group (the seeds of one configuration, as for ``train_stacked``) as one
    stack, all groups interleaved one step at a time; on CUDA each group on its own stream.
    Returns the groups' records in order. ``on_step(i)`` is called after each step of group i
    (tests use it to see the interleaving)."""
    device = torch.device(device)
    cuda = device.type == "cuda"
    t0 = time.perf_counter()
    streams = [torch.cuda.Stream(device) for _ in groups] if cuda else [None] * len(groups)
    stacks, gens = [], []
    for group, stream in zip(groups, streams):
        data = data_for(group[0].data)
        if stream is not None:
            stream.wait_stream(torch.cuda.current_stream(device))  # the data is ready
        with _on(stream):  # the stack's tensors belong to its stream
            stack = Stack(group, data, device, dtype=dtype, bf16=bf16, cuda_graph=cuda_graph)
        stacks.append(stack)
        gens.append(protocol_steps(stack, progress))
    results: list[list[dict] | None] = [None] * len(groups)
    live = list(range(len(groups)))
    while live:
        for i in list(live):
            with _on(streams[i]):
                try:
                    next(gens[i])
                except StopIteration as stop:
                    results[i] = stop.value
                    live.remove(i)
                    continue
            if on_step is not None:
                on_step(i)
    if cuda:
        torch.cuda.synchronize(device)
    wall = (time.perf_counter() - t0) / sum(s.k for s in stacks)
    return [finish_stacked(stack, recs, wall) for stack, recs in zip(stacks, results)]


__all__ = ["train_concurrent"]
