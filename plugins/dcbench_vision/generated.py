"""generated: a synthetic, learnable data set for costs and tests, made on the spot from a fixed seed.

Timing a condenser does not need real pixels, only real shapes: serve it with ``--size 32
--channels 3`` for CIFAR-10's shape, natively it has MNIST's (1 × 28 × 28, 10 classes). Each class
is a fixed random prototype plus per-image noise, so networks can learn it and accuracies mean
something in tests, without any file or download.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from dcbench import Dataset, DatasetSpec, RawData

SEED = 0
TRAIN_PER_CLASS = 500
TEST_PER_CLASS = 100
NOISE = 0.35

SPEC = DatasetSpec(
    name="generated", channels=1, size=28, classes=10, mean=None, std=None, version=1,
    class_names=tuple(f"prototype {c}" for c in range(10)),
)


def load(root: Path, download: bool) -> RawData:
    del root, download
    gen = torch.Generator().manual_seed(SEED)
    classes, size = SPEC.classes, SPEC.size
    # Prototypes are smooth (upsampled 7×7 noise) so that resizing keeps them distinct.
    coarse = torch.rand(classes, 1, 7, 7, generator=gen)
    prototypes = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)

    def split(per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(classes).repeat_interleave(per_class)
        noise = NOISE * torch.randn(len(labels), 1, size, size, generator=gen)
        return (prototypes[labels] + noise).clamp(0, 1), labels

    train_images, train_labels = split(TRAIN_PER_CLASS)
    test_images, test_labels = split(TEST_PER_CLASS)
    return RawData(train_images=train_images, train_labels=train_labels, test_images=test_images,
                   test_labels=test_labels, details={"seed": SEED, "noise": NOISE})


generated = Dataset(SPEC, load)


def load_inverted(root: Path, download: bool) -> RawData:
    raw = load(root, download)
    return RawData(train_images=1 - raw.train_images, train_labels=raw.train_labels,
                   test_images=1 - raw.test_images, test_labels=raw.test_labels,
                   details={**raw.details, "shift": "inverted intensities (1 - x)"})


#: The same images with inverted intensities: a second domain of the same classes, with a known shift,
#: for testing domain adaptation where no real pair of domains can be read.
generated_inverted = Dataset(dataclasses.replace(SPEC, name="generated_inverted",
                                                 class_names=tuple(f"inverted prototype {c}" for c in range(10))),
                             load_inverted)
