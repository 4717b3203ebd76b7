"""Build a network from its :class:`~models.config.NetConfig` (the torch side of ``models``).

A CNN is: stem conv (3x3, pad 1), optionally followed by norm and activation
(``stem="block"``, as in Q4) or bare (``stem="conv"``, as in Q5/Q6); then ``depth`` blocks of
conv 3x3 + norm + activation in ``block_order``; then global average pooling and one
Linear(width, classes). Every conv keeps its bias (the paper's did) and there is no
downsampling: every layer works at the input's full resolution.

The MLP is: Flatten; Linear(in, 8w) followed by norm and activation in ``block_order``;
Linear(8w, 4w) -> ReLU -> Linear(4w, 2w) -> ReLU -> Linear(2w, classes). At width 64 these are
the paper's 512/256/128 hidden sizes; only the first layer's order varies.

The fully-connected stack (``arch="fc"``) is: Flatten; ``depth`` x [Linear(-> width) + norm and
activation in ``block_order``]; Linear(width, classes).

Activations, norms and initialisations are looked up by name in ``models.config``'s registries.
"""
from __future__ import annotations

from torch import nn

from models.config import ACTIVATION_LAYERS, INITS, NORM_LAYERS, NetConfig


def _activation(name: str) -> nn.Module:
    cls, kwargs = ACTIVATION_LAYERS[name]
    return getattr(nn, cls)(**kwargs)


def _norm(cfg: NetConfig, channels: int, dims: int) -> nn.Module:
    classes, call = NORM_LAYERS[cfg.norm]
    cls = getattr(nn, classes[f"{dims}d"])
    if call == "groups":
        return cls(cfg.groups, channels)
    return cls(channels) if call == "channels" else cls()


def _norm_act(cfg: NetConfig, channels: int, dims: int) -> list[nn.Module]:
    norm, act = _norm(cfg, channels, dims), _activation(cfg.activation)
    return [norm, act] if cfg.block_order == "norm-act" else [act, norm]


def _initialise(net: nn.Sequential, name: str) -> nn.Sequential:
    if INITS[name] is None:
        return net
    fn, kwargs = INITS[name]
    for m in net.modules():  # in creation order: a seed fixes the weights
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            getattr(nn.init, fn)(m.weight, **kwargs)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return net


def build_network(cfg: NetConfig) -> nn.Sequential:
    """The one builder. Parameters are created in a fixed order, so a seed fixes the weights."""
    return _initialise(_layers(cfg), cfg.init)


def _layers(cfg: NetConfig) -> nn.Sequential:
    if cfg.arch == "fc":
        layers: list[nn.Module] = [nn.Flatten()]
        fan_in = cfg.in_channels * cfg.image_size ** 2
        for _ in range(cfg.depth):
            layers += [nn.Linear(fan_in, cfg.width), *_norm_act(cfg, cfg.width, 1)]
            fan_in = cfg.width
        return nn.Sequential(*layers, nn.Linear(fan_in, cfg.num_classes))
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
