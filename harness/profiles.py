"""Profiles: frozen data saying how big every experiment is. One table, one place.

A claim never hard-codes a size; it asks the profile for its grid. alpha and the
equivalence margin are declared here, before any data is seen, and no claim may change them.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

#: Dataset names (loaders in harness.data, which imports torch; this list does not).
DATASETS = ("digits", "fashion-mnist-subset", "fashion-mnist", "cifar10")


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    dataset: str
    # Data: None = the whole split at native resolution.
    train_size: int | None
    test_size: int | None
    image_size: int | None
    width: int
    seeds: int
    # Q4: activation x depth (the Q4 net).
    q4_depths: tuple[int, ...]
    q4_batch_size: int
    q4_epochs: int
    # Q5: norm x batch size (the Q5 net, 4 blocks).
    q5_batch_sizes: tuple[int, ...]
    q5_small_batch: int  # the seed's smallest batch size
    q5_peak_batch: int   # BatchNorm's best batch size in the seed's table, fixed in advance
    q5_epochs: int
    q5_train_size: int | None  # batch-2 runs take N/2 steps an epoch: Q5 may use less data
    # Q6: block order in the CNN and the MLP.
    q6_depth: int
    q6_batch_size: int
    q6_epochs: int
    # Statistics, declared before any data.
    alpha: float = 0.05
    equivalence_margin: float = 2.0  # accuracy points; see docs/STATISTICS.md
    headline_accuracy: float = 80.0  # the seed's "80%+" on CIFAR-10
    # --seeds auto: seeds per configuration at each stage, declared before any data
    # (harness/sequential.py; docs/STATISTICS.md "Sequential seeds").
    seed_stages: tuple[int, ...] = (5, 10, 20)

    def replace(self, **changes) -> "Profile":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        # Sizes measured on the 2-core CPU (docs/RESULTS.md): 14x14 images and width 8 keep
        # an 8-block step near 20 ms; batch 32 instead of 128 gives the Q4/Q6 nets 250-500
        # steps, enough for the depth and order effects to appear. Q5 trains on 1,000
        # images because its batch-2 runs take 500 steps an epoch. Claims this scale cannot
        # show carry @pytest.mark.not_at_smoke_scale with the numbers measured here.
        name="smoke",
        description="CPU smoke run: the Fashion-MNIST subset shipped in fixtures/, 14x14, width 8",
        dataset="fashion-mnist-subset",
        train_size=4000, test_size=2000, image_size=14, width=8, seeds=5,
        q4_depths=(1, 2, 4, 8), q4_batch_size=32, q4_epochs=2,
        q5_batch_sizes=(2, 16, 128), q5_small_batch=2, q5_peak_batch=16, q5_epochs=4,
        q5_train_size=1000,
        q6_depth=8, q6_batch_size=32, q6_epochs=4,
    ),
    "tiny": Profile(
        # For the engine's own tests and rehearsals: seconds, not minutes; shows nothing.
        name="tiny",
        description="plumbing check: digits, width 4, 1 epoch",
        dataset="digits",
        train_size=None, test_size=None, image_size=None, width=4, seeds=5,
        q4_depths=(1, 2), q4_batch_size=32, q4_epochs=2,
        q5_batch_sizes=(16, 64), q5_small_batch=16, q5_peak_batch=64, q5_epochs=1,
        q5_train_size=None,
        q6_depth=2, q6_batch_size=32, q6_epochs=1,
    ),
    "full": Profile(
        name="full",
        description="the seed's protocol exactly: width 64, 10 epochs, 5 seeds, every level",
        dataset="cifar10",
        train_size=None, test_size=None, image_size=None, width=64, seeds=5,
        q4_depths=(1, 2, 4, 6, 8), q4_batch_size=128, q4_epochs=10,
        q5_batch_sizes=(2, 4, 8, 16, 32, 64, 128), q5_small_batch=2, q5_peak_batch=16,
        q5_epochs=10, q5_train_size=None,
        q6_depth=8, q6_batch_size=128, q6_epochs=10,
    ),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; valid: {', '.join(PROFILES)}") from None
