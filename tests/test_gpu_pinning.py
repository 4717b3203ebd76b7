"""Each xdist worker is pinned to its GPU with ``torch.cuda.set_device``, not only by name.

``torch.cuda.graph`` captures on the current device's stream; a worker that only carries the
string ``cuda:i`` while its current device stays GPU 0 captures empty graphs for cuda:i and
its training silently stops after the warm-up steps (issue 12). No GPU is needed to check the
pinning: the device count and ``set_device`` are monkeypatched.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from harness.train import threads


@pytest.fixture
def cuda_calls(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "set_device", calls.append)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)  # leave this process alone
    return calls


def pin(monkeypatch, worker: str, workers: int, device: str = "cuda") -> str:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", str(workers))
    settings = SimpleNamespace(device=device)
    threads.pin_worker_resources(settings)
    return settings.device


def test_each_worker_sets_its_own_current_device(monkeypatch, cuda_calls):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    got = [pin(monkeypatch, f"gw{i}", 4) for i in range(4)]
    assert got == ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]
    assert cuda_calls == [0, 1, 0, 1]  # the current device, not only the string


@pytest.mark.parametrize("gpus, workers, device", [(1, 3, "cuda"), (4, 1, "cuda"), (4, 3, "cpu")])
def test_no_pinning_without_several_gpus_and_workers(monkeypatch, cuda_calls, gpus, workers, device):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    assert pin(monkeypatch, "gw1", workers, device) == device
    assert cuda_calls == []
