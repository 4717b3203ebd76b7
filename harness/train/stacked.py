"""The trainer: the paper's protocol for the K seeds of one configuration, trained as ONE
stacked model. One seed is a stack of one; every stored number comes from here.

The protocol (the paper's). Adam(lr) (or the spec's optimizer) on cross-entropy, E epochs,
batch size B, a fresh shuffle every epoch, test accuracy after every epoch with the model in
eval mode (BatchNorm uses its running statistics). Like the paper's DataLoader (drop_last=False) the ragged last batch is
trained on, except a last batch of ONE sample, which BatchNorm1d cannot normalise: that one is
dropped and counted. Replica k's weights are those ``init_model`` gives its standalone network
(``torch.manual_seed(seed)`` before it is built) and its batch order comes from a CPU generator
seeded with its seed (``shuffle_generator``, ``epoch_batches``), so a seeded run is
deterministic on the CPU whichever seeds share its stack.

``train_stacked(specs, data, device)`` gives each spec the record an independent single-model
loop gives it (``tests/reference_trainer.py``, its own model, Adam and loop), up to
floating-point rounding (tests/test_stacked.py: float64, K = 3 and K = 1, agreement to 1e-6
relative; measured ~1e-12).

How K replicas become one model. Replica k owns block k of every channel/feature axis:

* the input is the K replicas' own batches concatenated along channels, (B, K*C, H, W);
* Conv(C->W) becomes Conv(K*C -> K*W, groups=K): block k of the output sees only block k
  of the input, through replica k's weights (the stacked weight is the K standalone weights
  concatenated along dim 0);
* BatchNorm2d(K*W) is exactly K BatchNorm2d(W) (statistics are per channel), running
  statistics included; GroupNorm(K*G, K*W) is exactly K GroupNorm(G, W) (groups are
  contiguous channel blocks); activations and average pooling are per element / channel;
* after pooling the features are split into (B, K, W) and each Linear becomes a batched
  matmul with weight (K, out, in) and bias (K, out); the MLP's BatchNorm1d(h) becomes
  BatchNorm1d(K*h) over the (B, K*h) layout;
* the loss is the SUM over replicas of each replica's mean cross-entropy, so each replica's
  parameters get exactly their standalone gradient; Adam is elementwise, so one Adam over
  the stacked tensors is K Adams.

The stacked network is derived module by module from the standalone one
(``models.build_network``), at the same place in the module tree (nested containers and
residual blocks included; ``stack_models`` checks or refuses what it cannot vouch for), so
every stacked parameter has its standalone parameter's name and ``param.reshape(K, -1)[k]``
is replica k's copy of it.
Each replica is evaluated in eval mode with its own running statistics.

Divergence: a replica whose epoch train loss is not finite gets ``diverged_epoch`` and its
record stops there (recorded, not raised: a diverged run is a result). Its tensors stay in the
stack (NaN) until every replica has stopped: the replicas share no arithmetic (grouped
convolutions, per-channel norms, per-replica head and loss terms, elementwise Adam), so a NaN
replica cannot reach the others; its later metrics are computed and discarded.

``wall_s`` in each record is the stack's wall time divided by K.

GPU path (``device.type == "cuda"`` only): data resident on the device, batches by indexing,
metrics accumulated on the device and read once per epoch, ``Adam(fused=True)`` (capturable
only when a graph is used), and by default the whole step (gather, forward, backward, metrics,
Adam) captured in one CUDA graph for the full-size batches; the ragged last batch of an epoch
is run eagerly (so the paper's drop_last=False semantics are kept). Records say ``cuda_graph``.
Options: ``channels_last`` (off by default), ``compile`` (``torch.compile``, off by default),
``bf16`` autocast (off by default; recorded). Which options and which stacking a configuration
gets is its execution plan (``harness.train.plan``), chosen by the executor.

A graph replays fixed addresses: every tensor the step reads or writes (parameters, gradients,
Adam state, BatchNorm buffers, metric accumulators, the static batch index) must be updated in
place, never reassigned (tests/test_graph_emulation.py checks this on the CPU). If capture
fails, the configuration falls back to eager steps with one warning, and its records say
``cuda_graph: false`` and ``graph_fallback: <reason>``; the session goes on.

The step is also a generator (``Stack.epoch_steps``, ``protocol_steps``) so that several
configurations can be interleaved step by step (``harness.train.concurrent``).

Reading order: the protocol's pieces, the stacked modules, ``Stack`` (one training step,
one epoch, evaluation), ``train_stacked`` / ``protocol_steps`` (the epochs and the records),
the record's summary fields.
"""
from __future__ import annotations

import contextlib
import copy
import math
import platform
import time
import warnings
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from harness.declare.spec import RunSpec
from harness.train.data import Splits
from harness.train.provenance import versions
from models import build_network

#: the packages a run record names (harness.train.provenance reads them without importing them)
RECORD_PACKAGES = ("torch", "torchvision")
#: Test images per forward pass on a GPU (even: the halves' parity stays global).
EVAL_BATCH = 1000
#: On the CPU, images x replicas per forward pass: chunks whose activations stay near the
#: cache (a stack of 5 at 1,000 images was 3.4x slower than at 64; PERFORMANCE.md).
EVAL_REPLICA_IMAGES_CPU = 320


def eval_batch(k: int, device_type: str = "cpu") -> int:
    """Test images per forward pass for a stack of ``k`` replicas (always even)."""
    if device_type != "cpu":
        return EVAL_BATCH
    return max(2, EVAL_REPLICA_IMAGES_CPU // k // 2 * 2)
ProgressFn = Callable[[str], None]


# --- the protocol's pieces: weights, batch order ----------------------------------------

def init_model(spec: RunSpec, device, dtype=torch.float32) -> torch.nn.Module:
    """The run's standalone network, with the weights its seed gives it."""
    torch.manual_seed(spec.seed)
    return build_network(spec.net).to(device=device, dtype=dtype)


def shuffle_generator(seed: int) -> torch.Generator:
    # Offset so the data order is not the same random stream as the weights.
    return torch.Generator().manual_seed(10_000 + seed)


def epoch_batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """One epoch's index batches: a fresh permutation, ragged last batch kept unless size 1."""
    perm = torch.randperm(n, generator=generator)
    batches = list(perm.split(batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches.pop()
    return batches


#: Eager full-size steps run on a side stream before the CUDA graph is captured (they are real
#: training steps, in order; warm-up initialises Adam's state and the library workspaces).
GRAPH_WARMUP_STEPS = 3


# --- stacked modules ----------------------------------------------------------------------

class SplitReplicas(nn.Module):
    """(B, K*C, ...) -> (B, K, C*...): replica k's channel block becomes row k."""

    def __init__(self, k: int):
        super().__init__()
        self.k = k

    def forward(self, x):
        return x.reshape(x.shape[0], self.k, -1)


class StackedLinear(nn.Module):
    """K independent Linear(in, out) on (B, K, in): weight (K, out, in), bias (K, out)."""

    def __init__(self, k: int, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(k, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(k, out_features)) if bias else None

    def forward(self, x):
        if self.weight.shape[0] == 1:  # one replica: a plain Linear (addmm is faster than bmm)
            return F.linear(x, self.weight.squeeze(0), None if self.bias is None else self.bias.squeeze(0))
        xk = x.transpose(0, 1)  # (K, B, in)
        wt = self.weight.transpose(1, 2)  # (K, in, out)
        out = torch.bmm(xk, wt) if self.bias is None else torch.baddbmm(self.bias.unsqueeze(1), xk, wt)
        return out.transpose(0, 1)


class StackedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d(K*h) applied to (B, K, h): exactly K BatchNorm1d(h)."""

    def forward(self, x):
        b, k, h = x.shape
        return super().forward(x.reshape(b, k * h)).view(b, k, h)


_ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Identity, nn.AdaptiveAvgPool2d)


def _stack_module(m: nn.Module, k: int) -> nn.Module:
    """The K-replica counterpart of one standalone module (built on the meta device)."""
    if isinstance(m, nn.Conv2d):
        return nn.Conv2d(k * m.in_channels, k * m.out_channels, m.kernel_size, stride=m.stride,
                         padding=m.padding, dilation=m.dilation, groups=k * m.groups,
                         bias=m.bias is not None, padding_mode=m.padding_mode)
    if isinstance(m, nn.BatchNorm2d):
        return nn.BatchNorm2d(k * m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)
    if isinstance(m, nn.BatchNorm1d):
        return StackedBatchNorm1d(k * m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)
    if isinstance(m, nn.GroupNorm):
        return nn.GroupNorm(k * m.num_groups, k * m.num_channels, m.eps, m.affine)
    if isinstance(m, nn.Linear):
        return StackedLinear(k, m.in_features, m.out_features, m.bias is not None)
    if isinstance(m, nn.Flatten):
        # Flatten appears first (MLP: images -> vectors) or after pooling (CNN: (B, K*W, 1, 1));
        # either way replica k's block becomes row k of (B, K, features).
        return SplitReplicas(k)
    if isinstance(m, _ELEMENTWISE):
        return copy.deepcopy(m)  # no parameters: acts per element / per channel
    raise CannotStack(f"harness.train.stacked cannot stack {type(m).__name__}: no stacked form is known; "
                      "train it with --plan per-seed or teach _stack_module its stacked form")


_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
#: Relative agreement a stack's replica must reach with its standalone network on the check
#: batch (float32 reordering is ~1e-6; a layout error is order 1).
CHECK_REL = 1e-3


class CannotStack(NotImplementedError):
    """A network the stacked layout cannot hold; the message is one line saying what to do."""


def _stack_tree(m: nn.Module, k: int, where: str, custom: list[str]) -> nn.Module:
    """The K-replica counterpart of a module tree: known layers are stacked, containers and
    modules that only compose children (a residual block's ``x + body(x)``) are copied with
    their children stacked; their names in ``custom`` (their forward must be checked)."""
    try:
        return _stack_module(m, k)
    except CannotStack:
        pass
    own = [n for n, t in list(m._parameters.items()) + list(m._buffers.items()) if t is not None]
    if k == 1 and not m._modules:  # one replica: the module itself, on the same layout (checked)
        custom.append(f"{where} ({type(m).__name__})")
        return copy.deepcopy(m)
    if own or not m._modules:
        why = f"it holds its own tensors ({', '.join(own)})" if own else "no stacked form is known"
        raise CannotStack(f"harness.train.stacked cannot stack {where or 'the network'} "
                          f"({type(m).__name__}): {why}; train it with --plan per-seed or teach "
                          "_stack_module its stacked form")
    if not isinstance(m, _CONTAINERS):
        custom.append(f"{where} ({type(m).__name__})")
    shell = copy.copy(m)  # same class and attributes; fresh tables for the stacked children
    shell._parameters, shell._buffers = {}, {}
    shell._modules = {n: _stack_tree(c, k, f"{where}.{n}" if where else n, custom)
                      for n, c in m._modules.items()}
    return shell


def stack_models(models: list[nn.Module], example: torch.Tensor | None = None) -> nn.Module:
    """One module holding K standalone models (same structure) as replicas.

    Input (B, K*C, H, W) (replica k's images in channel block k), output (B, K, classes).
    Parameters and buffers keep the standalone names; the result lives on the models' device
    and dtype and holds copies of their weights and buffers.

    Any tree of the known layers (``_stack_module``) nested in containers works. A module
    with its own ``forward`` that only composes children (a residual block) is stacked too,
    but its forward could mix replicas (``torch.cat`` along channels would); a stack of one
    (the per-seed plan) also takes layers with no known stacked form as they are. Either way
    the stack is then checked on ``example`` (a few standalone inputs, (b, C, H, W)) against
    each standalone network, and refused with one line if a replica differs.
    """
    k = len(models)
    custom: list[str] = []
    with torch.device("meta"):
        stacked = _stack_tree(models[0], k, "", custom)
    state = {}
    for name, meta in stacked.state_dict().items():
        parts = [m.state_dict()[name] for m in models]
        # num_batches_tracked is a 0-d counter; it is the same for all replicas.
        state[name] = parts[0].clone() if meta.dim() == 0 else torch.stack(parts).reshape(meta.shape)
    stacked.load_state_dict(state, assign=True)
    if custom:
        if example is None:
            raise CannotStack(f"stack_models: {', '.join(custom)} has no known stacked form; "
                              "pass example= (a few inputs) so the stack can be checked")
        _check_replicas(stacked, models, example, custom)
    return stacked


@torch.no_grad()
def _check_replicas(stacked: nn.Module, models: list[nn.Module], x: torch.Tensor,
                    custom: list[str]) -> None:
    """Each replica of ``stacked`` computes its standalone network (eval mode: no statistics
    are updated), or CannotStack."""
    k = len(models)
    modes = [m.training for m in models]
    try:
        for m in models + [stacked]:
            m.eval()
        got = stacked(x.repeat(1, k, *([1] * (x.dim() - 2))))
        for r, m in enumerate(models):
            want = m(x)
            err = (got[:, r] - want).abs().max().item() / max(want.abs().max().item(), 1e-12)
            if not err <= CHECK_REL:
                raise CannotStack(
                    f"harness.train.stacked cannot stack this network: the forward of {', '.join(custom)} "
                    f"mixes replicas (replica {r} differs from its standalone network by {err:.2g} "
                    "relative); train it with --plan per-seed")
    finally:
        for m, mode in zip(models, modes):
            m.train(mode)
        stacked.train()


@torch.no_grad()
def unstack_into(stacked: nn.Module, models: list[nn.Module]) -> list[nn.Module]:
    """Copy the stack's parameters and buffers back into the K standalone models."""
    k = len(models)
    source = stacked.state_dict()
    for i, model in enumerate(models):
        for name, t in model.state_dict().items():
            s = source[name]
            t.copy_(s if s.dim() == 0 else s.reshape(k, *t.shape)[i])
    return models


# --- the stacked trainer ------------------------------------------------------------------

def _check_specs(specs: list[RunSpec]) -> None:
    if not specs:
        raise ValueError("train_stacked needs at least one spec")
    key = specs[0].config_key()
    for s in specs[1:]:
        if s.config_key() != key:
            raise ValueError("train_stacked: specs must differ only in seed; "
                             f"{s.label()} differs from {specs[0].label()}")


#: Graphs dynamo may compile for one code object. Every configuration of a session is another
#: graph of the same ``forward``; at dynamo's default (8) the ninth configuration of a
#: compiled session ran eager without a word while its records said "compile" (seen in
#: benchmarks/bench_plan.py: first steps of 0.1 s, ratios of 1.0x). Seeds of one
#: configuration share one graph.
RECOMPILE_LIMIT = 256


def allow_recompiles(limit: int = RECOMPILE_LIMIT) -> None:
    """Let dynamo compile up to ``limit`` graphs per code object (one per configuration)."""
    import torch._dynamo.config as dynamo

    name = "recompile_limit" if hasattr(dynamo, "recompile_limit") else "cache_size_limit"
    setattr(dynamo, name, max(getattr(dynamo, name), limit))


#: torch.optim classes with a fused kernel and a capturable step (a CUDA graph can hold them).
CAPTURABLE_OPTIMIZERS = ("Adam", "AdamW")


class Stack:
    """K replicas of one configuration: the stacked model, its optimizer, data and metrics.

    ``train_epoch`` runs one epoch of the paper's protocol for all replicas and returns the
    per-replica metrics; ``evaluate`` gives per-replica test accuracy; ``unstack`` gives the K
    trained standalone models. ``train_stacked`` is built from these; so is the benchmark.
    """

    def __init__(self, specs: list[RunSpec], data: Splits, device, *, dtype=torch.float32,
                 channels_last: bool = False, bf16: bool = False, cuda_graph: bool | None = None,
                 fused_adam: bool = True, static_grads: bool | None = None, compile: bool = False):
        _check_specs(specs)
        self.specs, self.k = specs, len(specs)
        self.device, self.dtype = torch.device(device), dtype
        self.cuda = self.device.type == "cuda"
        self.bf16, self.channels_last = bf16, channels_last
        # None: a graph on CUDA. An explicit True is honoured on any device: off CUDA it only
        # works with an emulated torch.cuda (the CPU tests); a real capture there fails and
        # falls back to eager like any failed capture.
        self.use_graph = self.cuda if cuda_graph is None else bool(cuda_graph)
        self.graph_fallback: str | None = None  # why capture failed (or was not tried), if so
        opt_cls, opt_args = specs[0].protocol.optimizer_args()
        if self.use_graph and opt_cls not in CAPTURABLE_OPTIMIZERS:
            self.use_graph, self.graph_fallback = False, f"{opt_cls} has no capturable step"
        self.models = [init_model(s, self.device, dtype) for s in specs]
        self.names = [n for n, _ in self.models[0].named_parameters()]
        self.model = stack_models(self.models, example=data.x_train[:2].to(self.device, dtype))
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.model.train()
        # What the steps call: the model, or its inductor-compiled form (same parameters, so
        # the optimizer, unstacking and state_dict names are the model's).
        if compile:
            allow_recompiles()
        self.net = torch.compile(self.model) if compile else self.model
        self.compiled = compile
        self.compile_fallback: str | None = None  # why compiling failed, if it did
        self.params = list(self.model.parameters())
        # With a CUDA graph the gradients live in fixed tensors (zeroed, never set to None) that
        # the captured and the eager steps share. Elsewhere they are set to None each step:
        # accumulating into a zeroed tensor costs an extra pass on the CPU.
        # (``static_grads`` forces either; the CPU tests use it to check the graph's variant.)
        self._grads_to_none = not (self.use_graph if static_grads is None else static_grads)
        if not self._grads_to_none:
            for p in self.params:
                p.grad = torch.zeros_like(p)
        # the dims of each parameter's (K, ...) gradient view that one replica's norm reduces
        self._replica_dims = [tuple(range(1, p.dim() + 1)) for p in self.params]
        self._numel = torch.tensor([[p.numel() // self.k] for p in self.params], dtype=dtype,
                                   device=self.device)  # (P, 1): one replica's elements
        # One optimizer over the stacked tensors is K optimizers: every entry of OPTIMIZERS is
        # elementwise. Adam's and AdamW's fused kernel (CPU and CUDA) is the same arithmetic as
        # the default one up to rounding; capturable only for a CUDA graph (their step counter
        # then lives on the device and is updated in place). SGD keeps torch's default
        # (foreach) step and has no capturable form: it trains without a graph (above).
        if opt_cls in CAPTURABLE_OPTIMIZERS:
            opt_args |= {"fused": True if self.cuda else fused_adam, "capturable": self.use_graph}
        self.opt = getattr(torch.optim, opt_cls)(self.params, **opt_args)
        self.x_train, self.y_train = data.x_train.to(self.device, dtype), data.y_train.to(self.device)
        self.x_test, self.y_test = data.x_test.to(self.device, dtype), data.y_test.to(self.device)
        self.gens = [shuffle_generator(s.seed) for s in specs]
        self.batch_size = specs[0].protocol.batch_size
        z = lambda *shape, dt=torch.float64: torch.zeros(shape, dtype=dt, device=self.device)
        # Per-replica accumulators, updated in place (a captured graph writes into them).
        self.loss_sum, self.grad_sum = z(self.k), z(self.k)
        self.correct = z(self.k, dt=torch.long)
        self.norm_sum = z(len(self.params), self.k)
        self._graph, self._static_idx, self._warmup_left = None, None, GRAPH_WARMUP_STEPS
        self._side = None  # the warm-up's side stream, made once (each new one caches memory)

    # The one training step, shared by the CPU, eager CUDA and captured CUDA paths.
    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16,
                              cache_enabled=False)  # the cache must be off under graph capture

    def _inputs(self, idx: torch.Tensor):
        """idx (B, K): row b holds each replica's b-th sample. -> x (B, K*C, H, W), y (B, K)."""
        b, k = idx.shape
        flat = idx.reshape(-1)
        x = self.x_train.index_select(0, flat)  # (B*K, C, H, W), replica-minor: a pure view
        x = x.view(b, k * x.shape[1], *x.shape[2:])
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, self.y_train.index_select(0, flat).view(b, k)

    def step(self, idx: torch.Tensor) -> None:
        x, y = self._inputs(idx)
        # The compiled graph serves the full-size batches; an epoch's ragged last one runs
        # eager (compiling it would be a second, dynamic-shape graph per configuration).
        net = self.net if idx.shape[0] == self.batch_size else self.model
        with self._autocast():
            try:
                out = net(x)  # (B, K, classes)
            except Exception as exc:  # noqa: BLE001 - any failure to compile: train eager
                if net is self.model:
                    raise
                # compiling happens before the graph first runs, so nothing was updated yet
                self._compile_failed(exc)
                out = self.model(x)
        out = out.to(self.dtype)
        losses = F.cross_entropy(out.transpose(1, 2), y, reduction="none").mean(0)  # (K,)
        self.opt.zero_grad(set_to_none=self._grads_to_none)
        losses.sum().backward()  # each replica's parameters get their standalone gradient
        # Replica k's gradient of each parameter: slice k of the stacked gradient. One norm
        # per parameter over its (K, ...) view, reduced within each replica: a tenth of the
        # calls of one norm per replica slice (6% of a batch-2 step; PERFORMANCE.md).
        per_replica = [(p.grad.unflatten(0, (self.k, -1)), d) for p, d in zip(self.params, self._replica_dims)]
        l1 = torch.stack([torch.linalg.vector_norm(g, 1, dim=d) for g, d in per_replica])
        l2 = torch.stack([torch.linalg.vector_norm(g, 2, dim=d) for g, d in per_replica])
        # The paper's metric per replica: mean over parameter tensors of mean |grad|.
        self.grad_sum += (l1 / self._numel).mean(0).double()
        self.norm_sum += l2.double()
        self.opt.step()
        self.loss_sum += losses.detach().double() * y.shape[0]
        self.correct += (out.detach().argmax(-1) == y).sum(0)

    def _compile_failed(self, exc: Exception) -> None:
        """torch.compile failed (no usable C++ toolchain, an inductor bug): this stack trains
        eager from now on; one warning, and its records say why (``compile_fallback``)."""
        self.net, self.compiled = self.model, False
        self.compile_fallback = self._warn_eager("torch.compile", exc)

    def _warn_eager(self, what: str, exc: Exception) -> str:
        """One warning line that ``what`` failed and this configuration trains eager; the
        reason, as its records keep it."""
        detail = " ".join(str(exc).split())[:200]
        reason = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        label = self.specs[0].label().rsplit(" seed ", 1)[0]
        warnings.warn(f"{what} failed for {label} ({reason}); training it eager",
                      RuntimeWarning, stacklevel=4)
        return reason

    def _on_device(self):
        """Make this stack's GPU the current one (a graph captures on the current device)."""
        return torch.cuda.device(self.device) if self.cuda else contextlib.nullcontext()

    def _graph_step(self, idx: torch.Tensor) -> None:
        """A full-size step, replayed from one captured graph after a warm-up."""
        if self._graph is not None:
            self._static_idx.copy_(idx)
            self._graph.replay()
            return
        if self._warmup_left > 0:
            with self._on_device():
                try:
                    if self._side is None:
                        self._side = torch.cuda.Stream(self.device)
                except Exception as exc:  # no usable CUDA streams: no graph either
                    self._fall_back(exc)
                    self.step(idx)
                    return
                current = torch.cuda.current_stream(self.device)
                self._side.wait_stream(current)
                with torch.cuda.stream(self._side):
                    self.step(idx)
                current.wait_stream(self._side)
            self._warmup_left -= 1
            return
        self._static_idx = idx.clone()
        try:
            with self._on_device():
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    self.step(self._static_idx)
        except Exception as exc:  # capture records, it does not run: no step was taken
            self._fall_back(exc)
            self.step(idx)
            return
        self._graph = graph
        graph.replay()  # capture records but does not run: run this batch's step now

    def _fall_back(self, exc: Exception) -> None:
        """Capture failed: this configuration runs eagerly from now on; one warning line."""
        self.use_graph = False
        self._graph, self._static_idx = None, None
        if self.cuda:
            with contextlib.suppress(Exception):
                torch.cuda.synchronize(self.device)
        self.graph_fallback = self._warn_eager("CUDA graph capture", exc)

    def train_batch(self, idx: torch.Tensor) -> None:
        """One step on batch ``idx`` (B, K): from the CUDA graph when full-size, else eager."""
        if self.use_graph and idx.shape[0] == self.batch_size:
            self._graph_step(idx)
        else:
            self.step(idx)

    @property
    def graph_captured(self) -> bool:
        return self._graph is not None

    def epoch_indices(self) -> tuple[torch.Tensor, list[int], int]:
        """This epoch's batches for every replica: (n_used, K) indices on the device, sizes."""
        per = [epoch_batches(len(self.x_train), self.batch_size, g) for g in self.gens]
        sizes = [len(b) for b in per[0]]
        for p in per[1:]:
            assert [len(b) for b in p] == sizes  # same n and B: same batch sizes
        idx = torch.stack([torch.cat(p) for p in per], dim=1).to(self.device)
        return idx, sizes, len(self.x_train) - sum(sizes)

    def train_epoch(self) -> dict:
        """One epoch for all replicas. Per-replica lists; read from the device once."""
        return drain(self.epoch_steps())

    def epoch_steps(self):
        """``train_epoch`` as a generator: yields after each step, returns the epoch's metrics."""
        idx, sizes, dropped = self.epoch_indices()
        for acc in (self.loss_sum, self.grad_sum, self.correct, self.norm_sum):
            acc.zero_()
        off = 0
        for size in sizes:
            self.train_batch(idx[off:off + size])
            off += size
            yield
        seen, steps = off, len(sizes)
        loss, grad, correct = self.loss_sum.tolist(), self.grad_sum.tolist(), self.correct.tolist()
        norms = (self.norm_sum / steps).tolist()  # [param][replica]
        return {"steps": steps, "dropped": dropped,
                "train_loss": [v / seen for v in loss],
                "train_acc": [100.0 * c / seen for c in correct],
                "grad_mean": [v / steps for v in grad],
                "layer_grad_norm": [{n: norms[j][r] for j, n in enumerate(self.names)}
                                    for r in range(self.k)]}

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor | None = None, y: torch.Tensor | None = None) -> list[float]:
        """Per-replica accuracy in percent, eval mode (own running statistics)."""
        x = self.x_test if x is None else x.to(self.device, self.dtype)
        y = self.y_test if y is None else y.to(self.device)
        self.model.eval()
        # Correct predictions per replica on the even and the odd test positions: the two
        # fixed halves of the test set (``finish_record``'s held-out metric); their sum is
        # the whole.
        halves = torch.zeros(2, self.k, dtype=torch.long, device=self.device)
        chunk = eval_batch(self.k, self.device.type)
        for i in range(0, len(x), chunk):  # the chunk is even: parity is global
            xb = x[i:i + chunk].repeat(1, self.k, 1, 1)  # every replica sees the images
            if self.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with self._autocast():
                # eager even under a compile plan: eval mode and the test chunks' sizes would
                # be more graphs to compile, for a small share of the arithmetic
                out = self.model(xb)
            hit = out.argmax(-1) == y[i:i + chunk, None]  # (b, K)
            halves[0] += hit[0::2].sum(0)
            halves[1] += hit[1::2].sum(0)
        self.model.train()
        n_a, n_b = (len(x) + 1) // 2, len(x) // 2
        a, b = halves.tolist()
        self.last_halves = [[100.0 * a[r] / n_a, 100.0 * b[r] / max(n_b, 1)] for r in range(self.k)]
        return [100.0 * (a[r] + b[r]) / len(x) for r in range(self.k)]

    def unstack(self) -> list[nn.Module]:
        """The K standalone models holding the trained weights and running statistics."""
        return unstack_into(self.model, self.models)


def train_stacked(specs: list[RunSpec], data: Splits, device="cpu", *, dtype=torch.float32,
                  progress: ProgressFn | None = None, channels_last: bool = False,
                  bf16: bool = False, cuda_graph: bool | None = None, compile: bool = False,
                  return_models: bool = False, on_step: Callable[[], None] | None = None):
    """Train the specs (same config, different seeds) as one stack; one record per spec.
    ``on_step``: called after every training step (harness.pytest_plugin.progress).

    Records: ``new_record``'s per-epoch lists, ``finish_record``'s summary fields,
    ``cuda_graph`` (whether full-size steps were replayed from a CUDA graph), ``bf16`` and
    ``graph_fallback``; ``engine`` is ``"stacked"``; ``wall_s`` is the stack's wall time / K. With ``return_models`` returns ``(records, models)``, the models
    being the K trained standalone networks.
    """
    t0 = time.perf_counter()
    stack = Stack(specs, data, device, dtype=dtype, channels_last=channels_last, bf16=bf16,
                  cuda_graph=cuda_graph, compile=compile)
    recs = drain(protocol_steps(stack, progress), on_step)
    finish_stacked(stack, recs, (time.perf_counter() - t0) / stack.k)
    if return_models:
        return recs, stack.unstack()
    return recs


def drain(gen, on_step: Callable[[], None] | None = None):
    """Run a step generator to its end; its return value. ``on_step`` after every step
    (harness.pytest_plugin.progress measures the session's speed with it)."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
        if on_step is not None:
            on_step()


def protocol_steps(stack: Stack, progress: ProgressFn | None = None):
    """The paper's protocol for a stack, as a generator that yields after every training step
    and returns the K unfinished records (``finish_stacked`` completes them)."""
    specs = stack.specs
    recs = [new_record(s, stack.names) for s in specs]
    active = [True] * stack.k
    epochs = specs[0].protocol.epochs
    for epoch in range(epochs):
        m = yield from stack.epoch_steps()
        acc = stack.evaluate()
        for r, rec in enumerate(recs):
            if not active[r]:
                continue
            rec["steps"] += m["steps"]
            rec["dropped_samples"] += m["dropped"]
            rec["train_loss"].append(m["train_loss"][r])
            rec["train_acc"].append(m["train_acc"][r])
            rec["grad_mean"].append(m["grad_mean"][r])
            for name, v in m["layer_grad_norm"][r].items():
                rec["layer_grad_norm"][name].append(v)
            rec["test_acc"].append(acc[r])
            rec["test_acc_a"].append(stack.last_halves[r][0])
            rec["test_acc_b"].append(stack.last_halves[r][1])
            if not math.isfinite(m["train_loss"][r]):
                rec["diverged_epoch"] = epoch + 1  # recorded, not raised
                active[r] = False
        if progress:
            accs = ", ".join(f"{a:.2f}" for a in acc)
            progress(f"{specs[0].label().rsplit(' seed ', 1)[0]} x{stack.k} seeds: "
                     f"epoch {epoch + 1}/{epochs} test [{accs}]%")
        if not any(active):
            break
    return recs


def finish_stacked(stack: Stack, recs: list[dict], wall_s: float) -> list[dict]:
    """Complete a stack's records: summary metrics, wall time per replica, how it ran."""
    for rec in recs:
        finish_record(rec, stack.device, wall_s, engine="stacked")
        rec.update(cuda_graph=stack.graph_captured, bf16=stack.bf16,
                   graph_fallback=stack.graph_fallback, compile_fallback=stack.compile_fallback)
    return recs


# --- the record -----------------------------------------------------------------------------

def new_record(spec: RunSpec, names: list[str]) -> dict:
    """A run's record before its first epoch; ``names`` are the network's parameter names."""
    return {"key": spec.key(), "spec": spec.to_dict(), "test_acc": [],
            "test_acc_a": [], "test_acc_b": [], "train_loss": [],
            "train_acc": [], "grad_mean": [], "layer_grad_norm": {n: [] for n in names},
            "diverged_epoch": None, "dropped_samples": 0, "steps": 0,
            # How the stack ran (set by finish_stacked).
            "cuda_graph": False, "bf16": False, "graph_fallback": None, "compile_fallback": None}


def finish_record(rec: dict, device, wall_s: float, engine: str) -> dict:
    """The summary fields from the per-epoch lists, and where and how the run was computed."""
    acc = rec["test_acc"]
    rec["best_test_acc"] = max(acc) if acc else float("nan")
    rec["final_test_acc"] = acc[-1] if acc else float("nan")
    # Unbiased counterpart of best_test_acc: the epoch is chosen on half A of the test set and
    # half B is reported at that epoch (first maximum, as max() picks for the paper's metric).
    a, b = rec.get("test_acc_a") or [], rec.get("test_acc_b") or []
    rec["heldout_best_test_acc"] = b[a.index(max(a))] if a and len(a) == len(b) else float("nan")
    # The paper's "Gradient Avg": which epoch it printed is not stated; we take the mean over
    # all epochs of the per-epoch step average (per-epoch values are kept too).
    g = [v for v in rec["grad_mean"] if math.isfinite(v)]
    rec["grad_metric"] = sum(g) / len(g) if g else float("nan")
    rec.update(wall_s=wall_s, device=device_name(torch.device(device)), engine=engine,
               versions=versions(RECORD_PACKAGES), backend=backend_flags())
    return rec


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"


def backend_flags() -> dict:
    """The math-mode switches that change GPU numbers (TF32 convolutions are on by default in
    torch, so a CUDA fp32 run is not an IEEE fp32 run); recorded with every run."""
    return {"tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
            "tf32_cudnn": torch.backends.cudnn.allow_tf32,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
            "float32_matmul_precision": torch.get_float32_matmul_precision()}


__all__ = ["train_stacked", "Stack", "CannotStack", "protocol_steps", "finish_stacked", "drain", "stack_models",
           "unstack_into", "StackedLinear", "StackedBatchNorm1d", "SplitReplicas",
           "GRAPH_WARMUP_STEPS", "init_model", "shuffle_generator", "epoch_batches", "new_record",
           "finish_record", "EVAL_BATCH", "eval_batch", "ProgressFn"]
