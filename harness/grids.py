"""The runs of each question, as RunSpec grids drawn from a profile.

Which configurations a question trains is ``harness.questions``; the sizes (levels, epochs,
data) are the profile's; this module only crosses them with the dataset's input shape and the
seeds. Every grid is fully determined by (profile, dataset, seeds).
"""
from __future__ import annotations

from harness.profiles import Profile, input_shape
from harness.questions import QUESTIONS, cells
from harness.spec import DataSpec, Protocol, RunSpec

__all__ = ["QUESTIONS", "grid"]


def _epochs(question: str, profile: Profile) -> int:
    return {"Q4": profile.q4_epochs, "Q5": profile.q5_epochs, "Q6": profile.q6_epochs}[question]


def grid(question: str, profile: Profile, dataset: str | None = None,
         seeds: int | None = None) -> list[RunSpec]:
    dataset = dataset or profile.dataset
    seeds = seeds or profile.seeds
    channels, native = input_shape(dataset)
    shape = {"width": profile.width, "in_channels": channels,
             "image_size": profile.image_size or native}
    # Q5's batch-2 runs take N/2 steps an epoch: the profile may give Q5 less data.
    train = (profile.q5_train_size or profile.train_size) if question == "Q5" else profile.train_size
    data = DataSpec(dataset, train, profile.test_size, profile.image_size)
    first = profile.first_seed  # 0 for confirmatory sessions; pilots start at 1000
    return [RunSpec(c.net.with_(**shape), data, Protocol(_epochs(question, profile), c.batch_size), seed)
            for c in cells(question, profile) for seed in range(first, first + seeds)]
