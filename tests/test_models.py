"""The network builder against the paper's description (shared/seed/EXPERIMENTS.md).

Parameter counts are derived here from the description with explicit arithmetic, never read
back from the code under test: a 3x3 conv with bias has 9*cin*cout + cout parameters, an
affine BatchNorm/GroupNorm over c channels 2*c, a Linear in*out + out, everything else 0.
"""
from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from harness.declare import questions
from models import (ACTIVATIONS, ARCHS, BLOCK_ORDERS, LEAKY_SLOPE, NORMS,
                    STEMS, NetConfig, build_network, count_parameters, q4_depth_net,
                    q5_norm_net, q6_order_cnn, q6_order_mlp)


# --- arithmetic from the description --------------------------------------------------------

def conv3x3(cin: int, cout: int) -> int:
    return 9 * cin * cout + cout


def norm(c: int) -> int:
    return 2 * c


def linear(i: int, o: int) -> int:
    return i * o + o


# EXPERIMENTS.md: width 64, CIFAR-10 3x32x32 inputs, 10 classes.
C, W, HW, K = 3, 64, 32, 10


def q4_expected(depth: int) -> int:
    # stem Conv(3->64) -> BN -> act; N x [Conv(64->64) -> BN -> act]; GAP; Linear(64, 10)
    return conv3x3(C, W) + norm(W) + depth * (conv3x3(W, W) + norm(W)) + linear(W, K)


def q5_expected() -> int:
    # bare stem Conv(3->64); 4 x [Conv(64->64) -> BN or GN(4, 64) -> ReLU]; GAP; Linear(64, 10)
    return conv3x3(C, W) + 4 * (conv3x3(W, W) + norm(W)) + linear(W, K)


def q6_cnn_expected() -> int:
    # bare stem Conv(3->64); 8 x [Conv(64->64) + BN + act in some order]; GAP; Linear(64, 10)
    return conv3x3(C, W) + 8 * (conv3x3(W, W) + norm(W)) + linear(W, K)


def q6_mlp_expected() -> int:
    # Flatten; Linear(3072->512) + BN1d(512) + act; Linear(512->256) -> ReLU ->
    # Linear(256->128) -> ReLU -> Linear(128->10)
    return (linear(C * HW * HW, 512) + norm(512) + linear(512, 256) + linear(256, 128)
            + linear(128, K))


def test_derived_counts_are_the_known_figures():
    """The arithmetic above reproduces the figures quoted for the paper's networks."""
    assert q4_expected(8) == 299_018
    assert q5_expected() == 150_666
    assert q6_cnn_expected() == 298_890
    assert q6_mlp_expected() == 1_739_914


Q6_ORDERS = {k: (f["block_order"], f["activation"])
             for k, f in questions.get("Q6").level("order").fields.items()}
Q6_CASES = sorted(Q6_ORDERS.values())  # (block_order, activation) of case1..case3


def test_paper_cases_are_the_three_described():
    assert list(Q6_ORDERS.values()) == [("norm-act", "relu"), ("act-norm", "relu"),
                                        ("act-norm", "leaky_relu")]


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("depth", [1, 2, 4, 6, 8])
def test_q4_parameter_count(depth, activation):
    assert count_parameters(build_network(q4_depth_net(depth, activation))) == q4_expected(depth)


@pytest.mark.parametrize("norm_name", ["batch", "group"])
def test_q5_parameter_count(norm_name):
    assert count_parameters(build_network(q5_norm_net(norm_name))) == q5_expected()


@pytest.mark.parametrize("order,activation", Q6_CASES)
def test_q6_cnn_parameter_count(order, activation):
    assert count_parameters(build_network(q6_order_cnn(order, activation))) == q6_cnn_expected()


@pytest.mark.parametrize("order,activation", Q6_CASES)
def test_q6_mlp_parameter_count(order, activation):
    assert count_parameters(build_network(q6_order_mlp(order, activation))) == q6_mlp_expected()


# --- layer sequences ------------------------------------------------------------------------
# Each layer is described as a tuple: ("conv", cin, cout), ("bn2d", c), ("bn1d", c),
# ("gn", groups, c), ("relu",), ("sigmoid",), ("leaky", slope), ("gap",), ("flatten",),
# ("linear", in, out).

def describe(layer: nn.Module) -> tuple:
    if isinstance(layer, nn.Conv2d):
        # Every conv in the paper: 3x3, padding 1, stride 1, no dilation/groups, with a bias.
        assert layer.kernel_size == (3, 3)
        assert layer.padding == (1, 1)
        assert layer.stride == (1, 1)
        assert layer.dilation == (1, 1) and layer.groups == 1
        assert layer.bias is not None, "every conv has a bias, also before a norm"
        return ("conv", layer.in_channels, layer.out_channels)
    if isinstance(layer, nn.BatchNorm2d):
        assert layer.affine and layer.track_running_stats
        return ("bn2d", layer.num_features)
    if isinstance(layer, nn.BatchNorm1d):
        assert layer.affine and layer.track_running_stats
        return ("bn1d", layer.num_features)
    if isinstance(layer, nn.GroupNorm):
        assert layer.affine
        return ("gn", layer.num_groups, layer.num_channels)
    if isinstance(layer, nn.LeakyReLU):
        return ("leaky", layer.negative_slope)
    if isinstance(layer, nn.ReLU):
        return ("relu",)
    if isinstance(layer, nn.Sigmoid):
        return ("sigmoid",)
    if isinstance(layer, nn.AdaptiveAvgPool2d):
        assert layer.output_size in (1, (1, 1)), "global average pooling"
        return ("gap",)
    if isinstance(layer, nn.Flatten):
        return ("flatten",)
    if isinstance(layer, nn.Linear):
        assert layer.bias is not None
        return ("linear", layer.in_features, layer.out_features)
    raise AssertionError(f"unexpected layer {layer!r}")


def layers_of(cfg: NetConfig) -> list[tuple]:
    net = build_network(cfg)
    assert isinstance(net, nn.Sequential)
    # Flat: no hidden submodules (a nested block would hide layers from this check).
    assert all(len(list(m.children())) == 0 for m in net)
    return [describe(m) for m in net]


ACT = {"relu": ("relu",), "sigmoid": ("sigmoid",), "leaky_relu": ("leaky", 0.01)}
HEAD = [("gap",), ("flatten",), ("linear", 64, 10)]


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("depth", [1, 2, 4, 6, 8])
def test_q4_layers(depth, activation):
    a = ACT[activation]
    expected = [("conv", 3, 64), ("bn2d", 64), a]
    for _ in range(depth):
        expected += [("conv", 64, 64), ("bn2d", 64), a]
    assert layers_of(q4_depth_net(depth, activation)) == expected + HEAD


@pytest.mark.parametrize("norm_name,norm_layer", [("batch", ("bn2d", 64)),
                                                  ("group", ("gn", 4, 64))])
def test_q5_layers(norm_name, norm_layer):
    expected = [("conv", 3, 64)]  # stem: no norm, no activation
    for _ in range(4):
        expected += [("conv", 64, 64), norm_layer, ("relu",)]
    assert layers_of(q5_norm_net(norm_name)) == expected + HEAD


# case1: Conv -> BN -> ReLU; case2: Conv -> ReLU -> BN; case3: Conv -> LeakyReLU(0.01) -> BN
Q6_BLOCKS = {
    ("norm-act", "relu"): [("bn2d", 64), ("relu",)],
    ("act-norm", "relu"): [("relu",), ("bn2d", 64)],
    ("act-norm", "leaky_relu"): [("leaky", 0.01), ("bn2d", 64)],
}


@pytest.mark.parametrize("order,activation", Q6_CASES)
def test_q6_cnn_layers(order, activation):
    expected = [("conv", 3, 64)]  # stem: no norm, no activation
    for _ in range(8):
        expected += [("conv", 64, 64)] + Q6_BLOCKS[(order, activation)]
    assert layers_of(q6_order_cnn(order, activation)) == expected + HEAD


@pytest.mark.parametrize("order,activation", Q6_CASES)
def test_q6_mlp_layers(order, activation):
    first = [("bn1d", 512) if x == ("bn2d", 64) else x for x in Q6_BLOCKS[(order, activation)]]
    expected = ([("flatten",), ("linear", 3072, 512)] + first
                + [("linear", 512, 256), ("relu",), ("linear", 256, 128), ("relu",),
                   ("linear", 128, 10)])
    assert layers_of(q6_order_mlp(order, activation)) == expected


def test_leaky_slope_is_the_seeds():
    assert LEAKY_SLOPE == 0.01
    net = build_network(q6_order_cnn("act-norm", "leaky_relu"))
    slopes = {m.negative_slope for m in net.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.01}


@pytest.mark.parametrize("cfg", [q4_depth_net(8, "relu"), q5_norm_net("group"),
                                 q6_order_cnn("act-norm", "leaky_relu")],
                         ids=["q4", "q5-gn", "q6-case3"])
def test_no_downsampling_every_conv_works_at_full_resolution(cfg):
    net = build_network(cfg).eval()
    shapes = []
    hooks = [m.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape)))
             for m in net if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.GroupNorm))]
    with torch.no_grad():
        out = net(torch.zeros(1, 3, 32, 32))
    for h in hooks:
        h.remove()
    assert out.shape == (1, 10)
    assert shapes and all(s == (1, 64, 32, 32) for s in shapes)


# --- any config: shapes, parameter formula, validation --------------------------------------

def expected_params(cfg: NetConfig) -> int:
    n = (lambda c: 0) if cfg.norm == "none" else norm
    if cfg.arch == "fc":  # Flatten; depth x [Linear(-> width) + norm + act]; Linear(-> classes)
        fan_in, total = cfg.in_channels * cfg.image_size ** 2, 0
        for _ in range(cfg.depth):
            total += linear(fan_in, cfg.width) + n(cfg.width)
            fan_in = cfg.width
        return total + linear(fan_in, cfg.num_classes)
    if cfg.arch == "mlp":
        w = cfg.width
        return (linear(cfg.in_channels * cfg.image_size ** 2, 8 * w) + n(8 * w)
                + linear(8 * w, 4 * w) + linear(4 * w, 2 * w) + linear(2 * w, cfg.num_classes))
    total = conv3x3(cfg.in_channels, cfg.width)
    if cfg.stem == "block":
        total += n(cfg.width)
    total += cfg.depth * (conv3x3(cfg.width, cfg.width) + n(cfg.width))
    return total + linear(cfg.width, cfg.num_classes)


@st.composite
def configs(draw):
    norm_name = draw(st.sampled_from(NORMS))
    groups = draw(st.integers(1, 4))
    width = draw(st.integers(1, 6))
    if norm_name == "group":
        width = groups * draw(st.integers(1, 3))
    return NetConfig(
        arch=draw(st.sampled_from(ARCHS)), width=width, depth=draw(st.integers(0, 3)),
        block_order=draw(st.sampled_from(BLOCK_ORDERS)), norm=norm_name,
        activation=draw(st.sampled_from(ACTIVATIONS)), stem=draw(st.sampled_from(STEMS)),
        groups=groups, in_channels=draw(st.integers(1, 3)), image_size=draw(st.integers(1, 6)),
        num_classes=draw(st.integers(1, 5)))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=configs())
def test_any_config_maps_batches_to_logits(cfg):
    net = build_network(cfg)
    assert count_parameters(net) == expected_params(cfg)
    for mode in ("train", "eval"):
        net.train(mode == "train")
        for batch in (2, 3):
            x = torch.randn(batch, cfg.in_channels, cfg.image_size, cfg.image_size)
            with torch.no_grad():
                y = net(x)
            assert y.shape == (batch, cfg.num_classes)
            assert y.dtype == torch.float32
            assert torch.isfinite(y).all()


@pytest.mark.parametrize("field,value", [
    ("arch", "resnet"), ("block_order", "act-norm-act"), ("block_order", "bn-relu"),
    ("norm", "layer"), ("norm", "BatchNorm"), ("activation", "tanh"), ("stem", "bare"),
])
def test_unknown_choice_raises_naming_the_field(field, value):
    with pytest.raises(ValueError) as err:
        NetConfig(**{field: value})
    assert field in str(err.value) and repr(value) in str(err.value)


@pytest.mark.parametrize("field,value", [("width", 0), ("in_channels", 0), ("image_size", 0),
                                         ("num_classes", 0), ("depth", -1), ("groups", 0)])
def test_out_of_range_sizes_raise_naming_the_field(field, value):
    changes = {field: value}
    if field == "groups":
        changes["norm"] = "group"
    with pytest.raises(ValueError, match=field):
        NetConfig(**changes)


@settings(max_examples=40, deadline=None)
@given(groups=st.integers(2, 8), width=st.integers(1, 40))
def test_group_norm_width_not_divisible_by_groups_raises(groups, width):
    if width % groups == 0:
        NetConfig(norm="group", groups=groups, width=width)  # valid: no error
        return
    with pytest.raises(ValueError) as err:
        NetConfig(norm="group", groups=groups, width=width)
    assert "width" in str(err.value) and "groups" in str(err.value)
    # Only GroupNorm needs divisibility.
    NetConfig(norm="batch", groups=groups, width=width)


def test_invalid_value_via_with_also_raises():
    with pytest.raises(ValueError, match="norm"):
        q5_norm_net("batch").with_(norm="instance")


# --- determinism ----------------------------------------------------------------------------

def _weights(cfg: NetConfig, seed: int) -> list[torch.Tensor]:
    torch.manual_seed(seed)
    return [t.detach().clone() for t in build_network(cfg).state_dict().values()]


@pytest.mark.parametrize("cfg", [q4_depth_net(2, "sigmoid"), q5_norm_net("group"),
                                 q6_order_cnn("act-norm", "leaky_relu"),
                                 q6_order_mlp("norm-act", "relu")],
                         ids=["q4", "q5-gn", "q6-cnn", "q6-mlp"])
def test_same_seed_gives_identical_weights(cfg):
    a, b, c = _weights(cfg, 123), _weights(cfg, 123), _weights(cfg, 124)
    assert len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))
    # ... and the seed matters: a different seed changes some weight.
    assert any(not torch.equal(x, z) for x, z in zip(a, c))


def test_config_is_hashable_and_round_trips():
    cfg = q6_order_cnn("act-norm", "relu")
    assert hash(cfg) == hash(q6_order_cnn("act-norm", "relu"))
    assert NetConfig(**cfg.to_dict()) == cfg
    assert hash(cfg) != hash(cfg.with_(activation="leaky_relu")) and cfg != cfg.with_(init="small-gaussian")
    # the store key's form leaves an added field out only while it holds its default
    assert "init" not in cfg.key_dict() and cfg.with_(init="small-gaussian").key_dict()["init"] == "small-gaussian"
    assert {k: v for k, v in cfg.to_dict().items() if k != "init"} == cfg.key_dict()


def test_a_registered_init_reaches_every_weight():
    """models.config.INITS: "small-gaussian" draws every conv/linear weight from N(0, 0.01^2)
    and zeroes the biases; "default" keeps PyTorch's initialisation (larger weights)."""
    cfg = NetConfig(arch="fc", depth=3, width=100, in_channels=1, image_size=14)
    torch.manual_seed(0)
    small = build_network(cfg.with_(init="small-gaussian"))
    torch.manual_seed(0)
    default = build_network(cfg)
    for a, b in zip(small.modules(), default.modules()):
        if isinstance(a, nn.Linear):
            assert 0.008 < float(a.weight.detach().std()) < 0.012 and float(b.weight.detach().std()) > 0.02
            assert not a.bias.any() and b.bias.any()
