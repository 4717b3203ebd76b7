"""The stacked trainer's step on device "cuda" under FakeTensorMode, on a CPU-only machine.

Fake tensors carry a device, dtype and shape but no data, so a whole step of every network at
the paper's full size (width 64, 3x32x32, batch 128, 5 replicas) runs in milliseconds here and
fails the way CUDA would on a device mix-up (a CPU tensor meeting a CUDA one), a dtype
mix-up under bf16 autocast, or a shape error. Each case builds ``harness.train.stacked.Stack`` on
"cuda", runs ``Stack.step`` (gather, forward under autocast, loss, zeroing, the gradient
metrics, fused Adam, the accumulators) and a forward pass in eval mode, and checks where and
in which dtype everything lives afterwards.

What cannot run under FakeTensorMode without a GPU (torch 2.14.1+cu130, no driver), and is
replaced here:

* **backward**: the autograd engine asks the CUDA driver for the device's primary context
  ("hasPrimaryContext expects a valid device index"); ``Tensor.backward`` is replaced by one
  that gives every parameter a zero gradient of its own shape, device and dtype.
* **Module.to("cuda")**: on fake parameters it fails ("Cannot swap t1 because it has weakref
  associated with it"), so ``init_model`` builds the network directly under
  ``torch.device("cuda")`` (the weights' values do not exist under fake tensors anyway).
* **bf16 autocast on "cuda"**: torch disables it when no driver is found; the two checks
  that decide that (``amp_definitely_not_available``, ``is_bf16_supported``) are patched, and
  autocast then dispatches the CUDA bf16 casts on the fake tensors.
* **reading values** (``.tolist()``, so ``train_epoch``'s per-epoch read and ``evaluate``):
  fake tensors have no data; the eval-mode forward is run without reading its result.
* **CUDA streams and graphs**: creating one needs the driver; the graph path is checked by
  the emulation in tests/test_graph_emulation.py instead.
"""
from __future__ import annotations

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from harness.declare.spec import DataSpec, Protocol, RunSpec
from harness.train import stacked
from harness.train.data import Splits
from harness.train.stacked import Stack
from models import build_network, q4_depth_net, q5_norm_net, q6_order_cnn, q6_order_mlp

K, BATCH, FULL = 5, 128, dict(width=64, in_channels=3, image_size=32)
NETWORKS = {
    "q4-relu-d8": q4_depth_net(8, "relu", **FULL),
    "q4-sigmoid-d1": q4_depth_net(1, "sigmoid", **FULL),
    "q5-bn": q5_norm_net("batch", **FULL),
    "q5-gn": q5_norm_net("group", **FULL),
    "q6-cnn-bn-relu": q6_order_cnn("norm-act", "relu", **FULL),
    "q6-cnn-relu-bn": q6_order_cnn("act-norm", "relu", **FULL),
    "q6-cnn-leaky-bn": q6_order_cnn("act-norm", "leaky_relu", **FULL),
    "q6-mlp-bn-relu": q6_order_mlp("norm-act", "relu", **FULL),
    "q6-mlp-leaky-bn": q6_order_mlp("act-norm", "leaky_relu", **FULL),
}


def _build_on_device(spec, device, dtype=torch.float32):
    with torch.device(device):
        model = build_network(spec.net)
    return model if dtype == torch.float32 else model.to(dtype=dtype)


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16"])
@pytest.mark.parametrize("name", list(NETWORKS))
def test_step_on_fake_cuda(name, bf16, monkeypatch):
    monkeypatch.setattr(stacked, "init_model", _build_on_device)
    monkeypatch.setattr(torch.cuda.amp.common, "amp_definitely_not_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    net = NETWORKS[name]
    specs = [RunSpec(net, DataSpec("fake"), Protocol(batch_size=BATCH), seed=s) for s in range(K)]
    with FakeTensorMode(allow_non_fake_inputs=True):
        n = 4 * BATCH
        data = Splits("fake", torch.randn(n, 3, 32, 32), torch.randint(0, 10, (n,)),
                      torch.randn(100, 3, 32, 32), torch.randint(0, 10, (100,)))
        stack = Stack(specs, data, "cuda", bf16=bf16, cuda_graph=False)

        def zero_gradients(self, *args, **kwargs):  # stands in for the autograd engine
            for p in stack.params:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)

        monkeypatch.setattr(torch.Tensor, "backward", zero_gradients)
        outputs = []
        stack.model.register_forward_hook(lambda m, i, o: outputs.append(o))
        idx = torch.randint(0, n, (BATCH, K), device="cuda")
        stack.step(idx)
        stack.step(idx)  # second step: Adam's state exists, gradients reset to None and back
        stack.model.eval()
        with stack._autocast():
            evaluated = stack.model(stack.x_test[:10].repeat(1, K, 1, 1))
        stack.model.train()

    cuda = torch.device("cuda", 0)
    out = outputs[0]
    assert out.shape == (BATCH, K, 10) and out.device == cuda
    assert out.dtype == (torch.bfloat16 if bf16 else torch.float32)  # autocast was really on
    assert evaluated.shape == (10, K, 10) and evaluated.device == cuda
    for p in stack.params:
        assert p.device == cuda and p.dtype == torch.float32  # master weights stay fp32
        assert p.grad.device == cuda and p.grad.dtype == torch.float32
        state = stack.opt.state[p]
        assert {"step", "exp_avg", "exp_avg_sq"} <= set(state)
        assert all(v.device == cuda for v in state.values())  # fused Adam: step on the device
    for acc, dtype in ((stack.loss_sum, torch.float64), (stack.grad_sum, torch.float64),
                       (stack.correct, torch.long), (stack.norm_sum, torch.float64)):
        assert acc.device == cuda and acc.dtype == dtype
    assert stack.norm_sum.shape == (len(stack.params), K)
    for b in stack.model.buffers():
        assert b.device == cuda
