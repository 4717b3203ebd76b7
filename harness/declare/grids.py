"""The runs of each question, as RunSpec grids drawn from a profile.

Which configurations a question trains, and which of its fields the profile sizes, is its
declaration (``harness.declare.questions``); this module only fills in the profile's scale (width,
input shape, data sizes) where the declaration leaves it, and crosses the cells with the
seeds. Every grid is fully determined by (profile, dataset, seeds).
"""
from __future__ import annotations

from dataclasses import fields

from harness.declare.profiles import Profile, input_shape
from harness.declare.questions import DATA_FIELDS, PROTOCOL_FIELDS, cells
from harness.declare.spec import DataSpec, Protocol, RunSpec
from models import NetConfig

__all__ = ["grid", "spec_of"]

_NET_FIELDS = {f.name for f in fields(NetConfig)}


def spec_of(run_fields: dict, profile: Profile, dataset: str, seed: int) -> RunSpec:
    """The RunSpec of one cell's run fields at ``seed``: the profile's width, input shape and
    data sizes wherever the cell does not set them."""
    channels, native = input_shape(dataset)
    scale = {"width": profile.width, "in_channels": channels,
             "image_size": profile.image_size or native,
             "train_size": profile.train_size, "test_size": profile.test_size}
    f = scale | dict(run_fields)
    unknown = set(f) - _NET_FIELDS - set(PROTOCOL_FIELDS) - set(DATA_FIELDS)
    if unknown:
        raise ValueError(f"run fields {sorted(unknown)} are neither NetConfig's, the protocol's "
                         f"({', '.join(PROTOCOL_FIELDS)}) nor the data's ({', '.join(DATA_FIELDS)})")
    net = NetConfig(**{k: v for k, v in f.items() if k in _NET_FIELDS})
    protocol = Protocol(**{k: v for k, v in f.items() if k in PROTOCOL_FIELDS})
    data = DataSpec(dataset, f["train_size"], f["test_size"], profile.image_size)
    return RunSpec(net, data, protocol, seed)


def grid(question: str, profile: Profile, dataset: str | None = None,
         seeds: int | None = None) -> list[RunSpec]:
    dataset = dataset or profile.dataset
    seeds = seeds or profile.seeds
    first = profile.first_seed  # 0 for confirmatory sessions; pilots start at 1000
    return [spec_of(dict(c.fields), profile, dataset, seed)
            for c in cells(question, profile) for seed in range(first, first + seeds)]
