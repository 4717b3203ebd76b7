"""The seed's training protocol, one model at a time.

Adam(lr) on cross-entropy, E epochs, batch size B, a fresh shuffle every epoch, test accuracy
after every epoch with the model in eval mode (BatchNorm uses its running statistics). Like
the seed's DataLoader (drop_last=False) the ragged last batch is trained on, except a last
batch of ONE sample, which BatchNorm1d cannot normalise: that one is dropped and counted.

The run's weights come from ``torch.manual_seed(seed)`` before the network is built, and its
batch order from a CPU generator seeded with the same seed, so a seeded run is deterministic
on the CPU and the stacked trainer (``harness.stacked``) can reproduce it replica by replica.
"""
from __future__ import annotations

import math
import platform
import time
from typing import Callable

import torch
import torch.nn.functional as F

from harness.data import Splits
from harness.spec import RunSpec
from models import build_network

EVAL_BATCH = 1000
ProgressFn = Callable[[str], None]


def versions() -> dict:
    import torchvision

    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"


def init_model(spec: RunSpec, device, dtype=torch.float32) -> torch.nn.Module:
    torch.manual_seed(spec.seed)
    return build_network(spec.net).to(device=device, dtype=dtype)


def epoch_batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """One epoch's index batches: a fresh permutation, ragged last batch kept unless size 1."""
    perm = torch.randperm(n, generator=generator)
    batches = list(perm.split(batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches.pop()
    return batches


def shuffle_generator(seed: int) -> torch.Generator:
    # Offset so the data order is not the same random stream as the weights.
    return torch.Generator().manual_seed(10_000 + seed)


@torch.no_grad()
def evaluate_halves(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float, float]:
    """Accuracy in percent on the whole test set and on its two fixed halves (even and odd
    positions), eval mode; restores the previous mode.

    The seed picks its "best epoch" on the test set itself, which biases that metric upward.
    The halves give an unbiased alternative beside it (``heldout_best_test_acc``): choose the
    epoch on half A, report half B at that epoch."""
    was_training = model.training
    model.eval()
    halves = torch.zeros(2, dtype=torch.long, device=x.device)
    for i in range(0, len(x), EVAL_BATCH):  # EVAL_BATCH is even: parity is global
        hit = model(x[i:i + EVAL_BATCH]).argmax(1) == y[i:i + EVAL_BATCH]
        halves[0] += hit[0::2].sum()
        halves[1] += hit[1::2].sum()
    model.train(was_training)
    a, b = halves.tolist()
    return (100.0 * (a + b) / len(x), 100.0 * a / ((len(x) + 1) // 2),
            100.0 * b / max(len(x) // 2, 1))


def evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy in percent on the whole test set, eval mode; restores the previous mode."""
    return evaluate_halves(model, x, y)[0]


def layer_names(model: torch.nn.Module) -> list[str]:
    return [name for name, _ in model.named_parameters()]


def new_record(spec: RunSpec, names: list[str]) -> dict:
    return {"key": spec.key(), "spec": spec.to_dict(), "test_acc": [],
            "test_acc_a": [], "test_acc_b": [], "train_loss": [],
            "train_acc": [], "grad_mean": [], "layer_grad_norm": {n: [] for n in names},
            "diverged_epoch": None, "dropped_samples": 0, "steps": 0,
            # How the stacked trainer ran (harness.stacked); the single-model path does neither.
            "cuda_graph": False, "bf16": False, "graph_fallback": None}


def backend_flags() -> dict:
    """The math-mode switches that change GPU numbers (TF32 convolutions are on by default in
    torch, so a CUDA fp32 run is not an IEEE fp32 run); recorded with every run."""
    return {"tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
            "tf32_cudnn": torch.backends.cudnn.allow_tf32,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
            "float32_matmul_precision": torch.get_float32_matmul_precision()}


def finish_record(rec: dict, device, wall_s: float, engine: str) -> dict:
    acc = rec["test_acc"]
    rec["best_test_acc"] = max(acc) if acc else float("nan")
    rec["final_test_acc"] = acc[-1] if acc else float("nan")
    # Unbiased counterpart of best_test_acc: the epoch is chosen on half A of the test set and
    # half B is reported at that epoch (first maximum, as max() picks for the seed's metric).
    a, b = rec.get("test_acc_a") or [], rec.get("test_acc_b") or []
    rec["heldout_best_test_acc"] = b[a.index(max(a))] if a and len(a) == len(b) else float("nan")
    # The seed's "Gradient Avg": which epoch it printed is not stated; we take the mean over
    # all epochs of the per-epoch step average (per-epoch values are kept too).
    g = [v for v in rec["grad_mean"] if math.isfinite(v)]
    rec["grad_metric"] = sum(g) / len(g) if g else float("nan")
    rec.update(wall_s=wall_s, device=device_name(torch.device(device)), engine=engine,
               versions=versions(), backend=backend_flags())
    return rec


def train_run(spec: RunSpec, data: Splits, device="cpu", *, dtype=torch.float32,
              progress: ProgressFn | None = None) -> dict:
    """Train one run with the seed's protocol; return its record (see ``new_record``)."""
    t0 = time.perf_counter()
    device = torch.device(device)
    model = init_model(spec, device, dtype)
    opt = torch.optim.Adam(model.parameters(), lr=spec.protocol.lr)
    params = [p for p in model.parameters()]
    numels = torch.tensor([p.numel() for p in params], dtype=dtype, device=device)
    names = layer_names(model)
    rec = new_record(spec, names)
    gen = shuffle_generator(spec.seed)
    x_train, y_train = data.x_train.to(device, dtype), data.y_train.to(device)
    x_test, y_test = data.x_test.to(device, dtype), data.y_test.to(device)
    model.train()
    for epoch in range(spec.protocol.epochs):
        batches = epoch_batches(len(x_train), spec.protocol.batch_size, gen)
        rec["dropped_samples"] += len(x_train) - sum(len(b) for b in batches)
        # The epoch's indices go to the device in one copy (a copy per step syncs per step).
        batches = torch.cat(batches).to(device).split([len(b) for b in batches])
        # Metrics accumulate as tensors and are read once per epoch (no per-step host sync).
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.long, device=device)
        grad_sum = torch.zeros((), dtype=torch.float64, device=device)
        norm_sum = torch.zeros(len(params), dtype=torch.float64, device=device)
        seen = 0
        for idx in batches:
            xb, yb = x_train[idx], y_train[idx]
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grads = [p.grad for p in params]
            # The seed's metric, mean over parameter tensors of mean |grad|, as L1 norm / numel:
            # two fused foreach kernels instead of ~30 small ops per step.
            grad_sum += (torch.stack(torch._foreach_norm(grads, 1)) / numels).mean()
            norm_sum += torch.stack(torch._foreach_norm(grads, 2)).double()
            opt.step()
            loss_sum += loss.detach().double() * len(idx)
            correct += (out.detach().argmax(1) == yb).sum()
            seen += len(idx)
        steps = len(batches)
        rec["steps"] += steps
        train_loss = loss_sum.item() / seen
        rec["train_loss"].append(train_loss)
        rec["train_acc"].append(100.0 * correct.item() / seen)
        rec["grad_mean"].append(grad_sum.item() / steps)
        for name, v in zip(names, (norm_sum / steps).tolist()):
            rec["layer_grad_norm"][name].append(v)
        if not math.isfinite(train_loss):
            # Recorded, not raised: a diverged run is a result. Its accuracy is what it is.
            rec["diverged_epoch"] = epoch + 1
        whole, half_a, half_b = evaluate_halves(model, x_test, y_test)
        rec["test_acc"].append(whole)
        rec["test_acc_a"].append(half_a)
        rec["test_acc_b"].append(half_b)
        if rec["diverged_epoch"]:
            break
        if progress:
            progress(f"{spec.label()}: epoch {epoch + 1}/{spec.protocol.epochs} "
                     f"test {rec['test_acc'][-1]:.2f}%")
    return finish_record(rec, device, time.perf_counter() - t0, engine="single")

