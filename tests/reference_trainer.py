"""The reference the trainer is checked against: the paper's protocol, one model at a time.

A plain single-model loop, kept apart from ``harness.train.stacked`` on purpose: its own network
object, its own ``torch.optim.Adam`` (the default, unfused one), its own batches, loss,
gradient metric, divergence check and evaluation. What it shares with the trainer is what
DEFINES a run rather than how it is computed: the initial weights (``init_model``), the batch
order (``shuffle_generator``, ``epoch_batches``) and the record's layout and summary fields
(``new_record``, ``finish_record``). tests/test_stacked.py asserts that a stack of K seeds
(and of one) ends with the weights and metrics this loop gives each seed alone, in float64.

Not used to produce stored numbers; benchmarks do not import it (they time the stack of one).

The protocol: Adam(lr) on cross-entropy, E epochs, batch size B, a fresh shuffle every epoch,
test accuracy after every epoch with the model in eval mode (BatchNorm uses its running
statistics). The ragged last batch is trained on, except a last batch of ONE sample, which
BatchNorm1d cannot normalise: that one is dropped and counted.
"""
from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F

from harness.declare.spec import RunSpec
from harness.train.data import Splits
from harness.train.stacked import (EVAL_BATCH, ProgressFn, epoch_batches, finish_record, init_model,
                             new_record, shuffle_generator)


def layer_names(model: torch.nn.Module) -> list[str]:
    return [name for name, _ in model.named_parameters()]


@torch.no_grad()
def evaluate_halves(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float, float]:
    """Accuracy in percent on the whole test set and on its two fixed halves (even and odd
    positions), eval mode; restores the previous mode.

    The paper picks its "best epoch" on the test set itself, which biases that metric upward.
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


def train_run(spec: RunSpec, data: Splits, device="cpu", *, dtype=torch.float32,
              progress: ProgressFn | None = None) -> dict:
    """Train one run with the paper's protocol; return its record (see ``new_record``)."""
    t0 = time.perf_counter()
    device = torch.device(device)
    model = init_model(spec, device, dtype)
    cls, kwargs = spec.protocol.optimizer_args()  # the default (unfused) torch.optim step
    opt = getattr(torch.optim, cls)(model.parameters(), **kwargs)
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
            # The paper's metric, mean over parameter tensors of mean |grad|, as L1 norm / numel:
            # two multi-tensor (foreach) kernels instead of ~30 small ops per step.
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
    return finish_record(rec, device, time.perf_counter() - t0, engine="reference")

