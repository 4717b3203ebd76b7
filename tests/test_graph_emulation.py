"""The CUDA-graph path of ``harness.train.stacked.Stack``, emulated on the CPU.

A CUDA graph replays the kernels it captured on the addresses it captured: a tensor that the
step reassigns instead of updating in place is silently left behind (the graph keeps writing
the old memory). No GPU is needed to check the two things that decide whether the graph path
is right, so they are checked here with torch.cuda's Stream, stream, current_stream,
CUDAGraph and graph replaced by an emulation in which

* capture runs the step's Python (as a real capture does) but undoes its effects (a real
  capture records kernels without running them), and remembers the step and its arguments;
* ``replay`` calls the remembered step with the same (static) arguments, and before and after
  each replay asserts that the ``data_ptr()`` of every parameter, gradient, Adam state tensor
  (step included), BatchNorm buffer, metric accumulator and the static index are the ones
  captured.

Then, in float64: the graph path must give the records and weights of the reference loop
(tests/reference_trainer.py) seed by seed (warm-up steps, capture, replays and the eager
ragged batch, over two epochs); a step that reassigns a parameter or an accumulator must fail
the address check; and a capture that raises must fall back to eager steps with one warning
and say so in the records.
"""
from __future__ import annotations

import contextlib
import warnings

import pytest
import torch

from harness.train import stacked
from harness.train.stacked import GRAPH_WARMUP_STEPS, Stack, train_stacked
from test_stacked import B, NETS, assert_same_run, random_splits, specs_for, standalone

ORIGINAL_STEP = Stack.step  # before any emulation patches it
ACCUMULATORS = ("loss_sum", "grad_sum", "correct", "norm_sum", "_numel", "_static_idx")


def state_tensors(stack: Stack) -> dict[str, torch.Tensor]:
    """Every tensor a captured step reads or writes, by a stable name."""
    out = {}
    for name, p in stack.model.named_parameters():
        out[f"param {name}"] = p
        if p.grad is not None:
            out[f"grad {name}"] = p.grad
    for name, b in stack.model.named_buffers():
        out[f"buffer {name}"] = b
    for i, p in enumerate(stack.opt.param_groups[0]["params"]):
        for key, v in stack.opt.state.get(p, {}).items():
            if torch.is_tensor(v):
                out[f"adam {i} {key}"] = v
    for name in ACCUMULATORS:
        if getattr(stack, name) is not None:
            out[name] = getattr(stack, name)
    return out


class _Stream:
    def __init__(self, *args, **kwargs):
        pass

    def wait_stream(self, other):
        pass


class _Graph:
    """A captured step: ``replay`` calls it, checking the addresses around the call."""

    def __init__(self):
        self.fn = self.stack = self.pointers = None
        self.replays = 0

    def check(self, when: str) -> None:
        now = {n: t.data_ptr() for n, t in state_tensors(self.stack).items()}
        moved = sorted(n for n in self.pointers if now.get(n) != self.pointers[n])
        assert not moved, f"{when}: tensors moved since capture (a real graph ignores them): {moved}"

    def replay(self):
        self.check("before replay")
        self.fn()
        self.replays += 1
        self.check("after replay")


class GraphEmulator:
    """Installs the emulated torch.cuda pieces and a ``Stack.step`` that capture can see."""

    def __init__(self, monkeypatch, step=ORIGINAL_STEP, fail_at: str | None = None):
        self.graphs: list[_Graph] = []
        self._capturing: _Graph | None = None
        self.fail_at = fail_at

        def watched_step(stack, idx):
            g = self._capturing
            if g is not None and g.fn is None:  # the captured call: remember it, then undo it
                g.stack, g.fn = stack, (lambda: step(stack, idx))
                g.pointers = {n: t.data_ptr() for n, t in state_tensors(stack).items()}
                g.saved = {n: t.clone() for n, t in state_tensors(stack).items()}
            return step(stack, idx)

        monkeypatch.setattr(Stack, "step", watched_step)
        monkeypatch.setattr(torch.cuda, "Stream", _Stream)
        monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
        monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: _Stream())
        monkeypatch.setattr(torch.cuda, "CUDAGraph", self._new_graph)
        monkeypatch.setattr(torch.cuda, "graph", self._capture)

    def _new_graph(self):
        if self.fail_at == "new graph":
            raise RuntimeError("CUDA error: operation not supported (emulated)")
        g = _Graph()
        self.graphs.append(g)
        return g

    @contextlib.contextmanager
    def _capture(self, graph, **kwargs):
        self._capturing = graph
        try:
            yield
        finally:
            self._capturing = None
            with torch.no_grad():  # capture records kernels; it does not run them
                now = state_tensors(graph.stack)
                for name, saved in graph.saved.items():
                    now[name].copy_(saved)
        if self.fail_at == "capture end":
            raise RuntimeError("CUDA error: operation not permitted when stream is capturing (emulated)")

    @property
    def replays(self) -> int:
        return sum(g.replays for g in self.graphs)


FULL_STEPS, EXTRA, EPOCHS = 6, 5, 2  # 6 full-size batches and a ragged one of 5, per epoch


@pytest.mark.parametrize("name", ["bn-norm-act", "gn", "mlp-act-norm-leaky"])
def test_graph_path_equals_reference_and_keeps_every_address(name, monkeypatch):
    emu = GraphEmulator(monkeypatch)
    data = random_splits(FULL_STEPS * B + EXTRA)
    specs = specs_for(NETS[name], epochs=EPOCHS)
    recs, models = train_stacked(specs, data, "cpu", dtype=torch.float64, cuda_graph=True,
                                 return_models=True)
    (graph,) = emu.graphs  # one capture, then replays
    assert emu.replays == EPOCHS * FULL_STEPS - GRAPH_WARMUP_STEPS
    names = set(graph.pointers)
    assert {"adam 0 step", "adam 0 exp_avg", "adam 0 exp_avg_sq", "loss_sum", "norm_sum",
            "_static_idx"} <= names
    assert any(n.startswith("grad ") for n in names)
    if name == "bn-norm-act":
        assert {n for n in names if n.startswith("buffer ")} >= {"buffer 2.running_mean",
                                                                   "buffer 2.num_batches_tracked"}
    for rec in recs:
        assert rec["cuda_graph"] is True and rec["graph_fallback"] is None
    for spec, rec, model in zip(specs, recs, models):  # the reference uses no Stack, no torch.cuda
        assert_same_run(rec, model, *standalone(spec, data, monkeypatch))


def _reassigns_a_parameter(stack, idx):
    ORIGINAL_STEP(stack, idx)
    w = stack.model[0].weight
    w.data = w.data.clone()  # same values, new memory: a real graph keeps updating the old one


def _rebinds_an_accumulator(stack, idx):
    before = stack.loss_sum
    ORIGINAL_STEP(stack, idx)
    stack.loss_sum = before + 0  # out of place: the graph's writes go to the old tensor


@pytest.mark.parametrize("broken", [_reassigns_a_parameter, _rebinds_an_accumulator])
def test_a_step_that_moves_a_tensor_fails_the_address_check(broken, monkeypatch):
    GraphEmulator(monkeypatch, step=broken)
    data = random_splits(FULL_STEPS * B)
    with pytest.raises(AssertionError, match="tensors moved since capture"):
        train_stacked(specs_for(NETS["bn-norm-act"]), data, "cpu", dtype=torch.float64,
                      cuda_graph=True)


@pytest.mark.parametrize("fail_at", ["new graph", "capture end"])
def test_failed_capture_falls_back_to_eager_with_one_warning(fail_at, monkeypatch):
    emu = GraphEmulator(monkeypatch, fail_at=fail_at)
    data = random_splits(FULL_STEPS * B + EXTRA)
    specs = specs_for(NETS["gn"], epochs=EPOCHS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recs, models = train_stacked(specs, data, "cpu", dtype=torch.float64, cuda_graph=True,
                                     return_models=True)
    lines = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(lines) == 1 and "CUDA graph capture failed" in lines[0] and "\n" not in lines[0]
    assert emu.replays == 0
    for rec in recs:
        assert rec["cuda_graph"] is False
        assert rec["graph_fallback"].startswith("RuntimeError: CUDA error")
    for spec, rec, model in zip(specs, recs, models):  # nothing lost: the same training
        assert_same_run(rec, model, *standalone(spec, data, monkeypatch))


def test_graph_stack_allocates_one_side_stream_and_capturable_adam(monkeypatch):
    made = []

    class CountingStream(_Stream):
        def __init__(self, *a, **k):
            made.append(self)

    GraphEmulator(monkeypatch)
    monkeypatch.setattr(torch.cuda, "Stream", CountingStream)
    data = random_splits(FULL_STEPS * B)
    stack = Stack(specs_for(NETS["gn"]), data, "cpu", dtype=torch.float64, cuda_graph=True)
    stack.train_epoch()
    assert len(made) == 1  # the warm-up reuses one side stream
    assert stack.opt.param_groups[0]["capturable"] is True
    plain = Stack(specs_for(NETS["gn"]), data, "cpu", dtype=torch.float64)
    assert plain.opt.param_groups[0]["capturable"] is False  # no graph: not capturable
    assert stacked.Stack is Stack
