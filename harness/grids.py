"""The experiments of each question, as RunSpec grids drawn from a profile.

The seed's sizes live in the profile; the seed's network shapes live in ``models``; this
module only crosses them. Every grid is fully determined by (profile, dataset, seeds).
"""
from __future__ import annotations

from harness.data import input_shape
from harness.profiles import Profile
from harness.spec import DataSpec, Protocol, RunSpec
from models import q4_depth_net, q5_norm_net, q6_order_cnn, q6_order_mlp

QUESTIONS = ("Q4", "Q5", "Q6")
#: The three orders of the seed's Q6 (its case 1, 2, 3), as (block_order, activation).
Q6_ORDERS = (("norm-act", "relu"), ("act-norm", "relu"), ("act-norm", "leaky_relu"))


def _shape(profile: Profile, dataset: str) -> dict:
    channels, native = input_shape(dataset)
    return {"width": profile.width, "in_channels": channels,
            "image_size": profile.image_size or native}


def grid(question: str, profile: Profile, dataset: str | None = None,
         seeds: int | None = None) -> list[RunSpec]:
    dataset = dataset or profile.dataset
    seeds = seeds or profile.seeds
    shape = _shape(profile, dataset)
    data = DataSpec(dataset, profile.train_size, profile.test_size, profile.image_size)
    nets: list[tuple] = []  # (NetConfig, DataSpec, Protocol)
    if question == "Q4":
        proto = Protocol(profile.q4_epochs, profile.q4_batch_size)
        nets = [(q4_depth_net(d, act, **shape), data, proto)
                for act in ("relu", "sigmoid") for d in profile.q4_depths]
    elif question == "Q5":
        q5_data = DataSpec(dataset, profile.q5_train_size or profile.train_size,
                           profile.test_size, profile.image_size)
        nets = [(q5_norm_net(norm, **shape), q5_data, Protocol(profile.q5_epochs, b))
                for norm in ("batch", "group") for b in profile.q5_batch_sizes]
    elif question == "Q6":
        proto = Protocol(profile.q6_epochs, profile.q6_batch_size)
        for order, act in Q6_ORDERS:
            cnn = q6_order_cnn(order, act, **shape).with_(depth=profile.q6_depth)
            nets += [(cnn, data, proto), (q6_order_mlp(order, act, **shape), data, proto)]
    else:
        raise ValueError(f"unknown question {question!r}; valid: {', '.join(QUESTIONS)}")
    first = profile.first_seed  # 0 for confirmatory sessions; pilots start at 1000
    return [RunSpec(net, d, proto, seed) for net, d, proto in nets
            for seed in range(first, first + seeds)]
