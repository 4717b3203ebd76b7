"""The paper's networks: configs as data (``models.config``, torch-free) and one builder
(``models.build``, torch). ``from models import build_network`` loads torch only when the
builder is asked for, so knowing a config (the questions, the store key, judging a runs.csv)
never imports torch.
"""
from models.config import (ACTIVATIONS, ARCHS, BLOCK_ORDERS, INITS, LEAKY_SLOPE, NORMS, STEMS, NetConfig,
                           q4_depth_net, q5_norm_net, q6_order_cnn, q6_order_mlp)

_BUILD = ("build_network", "count_parameters")


def __getattr__(name):  # PEP 562: the torch side on first use
    if name in _BUILD:
        from models import build
        return getattr(build, name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")


__all__ = [
    "NetConfig", "build_network", "count_parameters", "q4_depth_net", "q5_norm_net",
    "q6_order_cnn", "q6_order_mlp", "ARCHS", "BLOCK_ORDERS", "NORMS", "ACTIVATIONS", "STEMS", "INITS",
    "LEAKY_SLOPE",
]
