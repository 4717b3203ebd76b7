"""The seed's networks, built from one config.

The seed trained four networks (EXPERIMENTS.md): the Q4 depth net, the Q5 norm net, the Q6
CNN and the Q6 MLP. They are four values of :class:`NetConfig`, not four classes; the
``q4_depth_net`` ... helpers below name those values.

A CNN is: stem conv (3x3, pad 1), optionally followed by norm and activation
(``stem="block"``, as in Q4) or bare (``stem="conv"``, as in Q5/Q6); then ``depth`` blocks of
conv 3x3 + norm + activation in ``block_order``; then global average pooling and one
Linear(width, classes). Every conv keeps its bias (the seed's did) and there is no
downsampling: every layer works at the input's full resolution.

The MLP is: Flatten; Linear(in, 8w) followed by norm and activation in ``block_order``;
Linear(8w, 4w) -> ReLU -> Linear(4w, 2w) -> ReLU -> Linear(2w, classes). At width 64 these are
the seed's 512/256/128 hidden sizes; only the first layer's order varies.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from torch import nn

ARCHS = ("cnn", "mlp")
BLOCK_ORDERS = ("norm-act", "act-norm")
NORMS = ("batch", "group", "none")
ACTIVATIONS = ("relu", "leaky_relu", "sigmoid")
STEMS = ("conv", "block")

#: LeakyReLU slope the seed used (PyTorch's default, written out because it is part of the
#: protocol, not an implementation detail).
LEAKY_SLOPE = 0.01


@dataclass(frozen=True)
class NetConfig:
    """Everything that decides a network's structure. Hashable; part of a run's store key."""

    arch: str = "cnn"
    width: int = 64
    depth: int = 8
    block_order: str = "norm-act"
    norm: str = "batch"
    activation: str = "relu"
    stem: str = "conv"
    groups: int = 4
    in_channels: int = 3
    image_size: int = 32
    num_classes: int = 10

    def __post_init__(self):
        for name, valid in (("arch", ARCHS), ("block_order", BLOCK_ORDERS), ("norm", NORMS),
                            ("activation", ACTIVATIONS), ("stem", STEMS)):
            value = getattr(self, name)
            if value not in valid:
                raise ValueError(f"NetConfig.{name}={value!r} is not one of {', '.join(valid)}")
        for name in ("width", "groups", "in_channels", "image_size", "num_classes"):
            if getattr(self, name) < 1:
                raise ValueError(f"NetConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.depth < 0:
            raise ValueError(f"NetConfig.depth must be >= 0, got {self.depth}")
        if self.norm == "group" and self.width % self.groups:
            raise ValueError(f"GroupNorm needs width ({self.width}) divisible by groups ({self.groups})")

    def to_dict(self) -> dict:
        return asdict(self)

    def with_(self, **changes) -> "NetConfig":
        return replace(self, **changes)


def _activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(LEAKY_SLOPE)
    return nn.Sigmoid()


def _norm(cfg: NetConfig, channels: int, dims: int) -> nn.Module:
    if cfg.norm == "none":
        return nn.Identity()
    if cfg.norm == "group":
        return nn.GroupNorm(cfg.groups, channels)
    return nn.BatchNorm2d(channels) if dims == 2 else nn.BatchNorm1d(channels)


def _norm_act(cfg: NetConfig, channels: int, dims: int) -> list[nn.Module]:
    norm, act = _norm(cfg, channels, dims), _activation(cfg.activation)
    return [norm, act] if cfg.block_order == "norm-act" else [act, norm]


def build_network(cfg: NetConfig) -> nn.Sequential:
    """The one builder. Parameters are created in a fixed order, so a seed fixes the weights."""
    if cfg.arch == "mlp":
        h = (8 * cfg.width, 4 * cfg.width, 2 * cfg.width)
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(cfg.in_channels * cfg.image_size ** 2, h[0]), *_norm_act(cfg, h[0], 1),
            nn.Linear(h[0], h[1]), nn.ReLU(),
            nn.Linear(h[1], h[2]), nn.ReLU(),
            nn.Linear(h[2], cfg.num_classes),
        )
    layers: list[nn.Module] = [nn.Conv2d(cfg.in_channels, cfg.width, 3, padding=1)]
    if cfg.stem == "block":
        layers += _norm_act(cfg, cfg.width, 2)
    for _ in range(cfg.depth):
        layers.append(nn.Conv2d(cfg.width, cfg.width, 3, padding=1))
        layers += _norm_act(cfg, cfg.width, 2)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cfg.width, cfg.num_classes)]
    return nn.Sequential(*layers)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# The seed's four networks (EXPERIMENTS.md), as configs. Width/input default to the seed's.
def q4_depth_net(depth: int, activation: str, **kw) -> NetConfig:
    """Q4: stem conv+BN+act, then ``depth`` blocks conv->BN->act."""
    return NetConfig(arch="cnn", depth=depth, activation=activation, norm="batch",
                     block_order="norm-act", stem="block", **kw)


def q5_norm_net(norm: str, **kw) -> NetConfig:
    """Q5: bare stem conv, 4 blocks conv->norm->ReLU; norm is BatchNorm2d or GroupNorm(4)."""
    return NetConfig(arch="cnn", depth=4, activation="relu", norm=norm,
                     block_order="norm-act", stem="conv", **kw)


def q6_order_cnn(block_order: str, activation: str, **kw) -> NetConfig:
    """Q6 CNN: bare stem conv, 8 blocks with BN in ``block_order``."""
    return NetConfig(arch="cnn", depth=8, activation=activation, norm="batch",
                     block_order=block_order, stem="conv", **kw)


def q6_order_mlp(block_order: str, activation: str, **kw) -> NetConfig:
    """Q6 MLP: only the first layer's norm/activation order varies."""
    return NetConfig(arch="mlp", depth=0, activation=activation, norm="batch",
                     block_order=block_order, stem="conv", **kw)


#: The seed's Q6 "cases", kept only as report labels.
SEED_CASE_LABELS = {
    ("norm-act", "relu"): "case1 (BN->ReLU)",
    ("act-norm", "relu"): "case2 (ReLU->BN)",
    ("act-norm", "leaky_relu"): "case3 (LeakyReLU->BN)",
}

__all__ = [
    "NetConfig", "build_network", "count_parameters", "q4_depth_net", "q5_norm_net",
    "q6_order_cnn", "q6_order_mlp", "ARCHS", "BLOCK_ORDERS", "NORMS", "ACTIVATIONS", "STEMS",
    "LEAKY_SLOPE", "SEED_CASE_LABELS",
]
