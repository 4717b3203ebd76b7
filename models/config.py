"""Network configs, torch-free: what a network is, as data (issue 8: knowing a config never
imports torch). ``models.build`` turns a config into an ``nn.Module``.

The paper trained four networks (EXPERIMENTS.md): the Q4 depth net, the Q5 norm net, the Q6
CNN and the Q6 MLP. They are four values of :class:`NetConfig`, not four classes; the
``q4_depth_net`` ... helpers below name those values. Which levels of them each question
compares is ``harness.declare.questions``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

#: LeakyReLU slope the paper used (PyTorch's default, written out because it is part of the
#: protocol, not an implementation detail).
LEAKY_SLOPE = 0.01

# --- the building blocks, one registry each ---------------------------------------------------
# A new activation, norm or initialisation is ONE entry here: a name and the torch.nn class
# (or torch.nn.init function) with its arguments, as data, so that config validation, the
# runs.csv schema and the builder (models.build) all read the same table without torch.
#: activation name -> (torch.nn class, keyword arguments)
ACTIVATION_LAYERS = {
    "relu": ("ReLU", {}),
    "leaky_relu": ("LeakyReLU", {"negative_slope": LEAKY_SLOPE}),
    "sigmoid": ("Sigmoid", {}),
}
#: norm name -> torch.nn class per input rank ("2d": after a conv, "1d": after a Linear), with
#: how it is called: "channels" (BatchNorm: num_features) or "groups" (GroupNorm(groups, c)).
NORM_LAYERS = {
    "batch": ({"2d": "BatchNorm2d", "1d": "BatchNorm1d"}, "channels"),
    "group": ({"2d": "GroupNorm", "1d": "GroupNorm"}, "groups"),
    "none": ({"2d": "Identity", "1d": "Identity"}, "none"),
}
#: init name -> (torch.nn.init function for every conv/linear weight, its keyword arguments);
#: biases are zeroed. "default" keeps PyTorch's own initialisation (the Q4-Q6 paper's).
INITS = {
    "default": None,
    # Ioffe & Szegedy (2015) section 4.1: "weights initialized to small random Gaussian values"
    "small-gaussian": ("normal_", {"mean": 0.0, "std": 0.01}),
}

#: "cnn" and "mlp": the Q4-Q6 paper's networks (models.build); "fc": ``depth`` hidden Linear
#: layers of ``width`` units, each followed by norm and activation in ``block_order``.
ARCHS = ("cnn", "mlp", "fc")
BLOCK_ORDERS = ("norm-act", "act-norm")
NORMS = tuple(NORM_LAYERS)
ACTIVATIONS = tuple(ACTIVATION_LAYERS)
STEMS = ("conv", "block")

#: Metadata of a field added after runs were first stored: left out of the store key while at
#: its default (``keyed``; ``harness.declare.spec.RunSpec.key``), so adding it re-keys no older run.
KEY_AT_DEFAULT_OMITTED = {"omit_default_from_key": True}


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
    init: str = field(default="default", metadata=KEY_AT_DEFAULT_OMITTED)

    def __post_init__(self):
        for name, valid in (("arch", ARCHS), ("block_order", BLOCK_ORDERS), ("norm", NORMS),
                            ("activation", ACTIVATIONS), ("stem", STEMS), ("init", tuple(INITS))):
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

    def key_dict(self) -> dict:
        """``to_dict`` less the added fields still at their default (see ``ADDED``)."""
        return keyed(self)

    def with_(self, **changes) -> "NetConfig":
        return replace(self, **changes)


def keyed(obj) -> dict:
    """A config dataclass as a dict, less the fields marked ``KEY_AT_DEFAULT_OMITTED`` that
    hold their default: the form hashed into store keys."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)
            if not (f.metadata.get("omit_default_from_key") and getattr(obj, f.name) == f.default)}


# The paper's four networks (EXPERIMENTS.md), as configs. Width/input default to the paper's.
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
