"""toy_blobs: four classes of 8 × 8 grey images, each a fixed random pattern plus noise; no files."""

from __future__ import annotations

from pathlib import Path

import torch

from dcbench import Dataset, DatasetSpec, RawData

SEED = 0
SPEC = DatasetSpec(name="toy_blobs", channels=1, size=8, classes=4, mean=None, std=None, version=1,
                   class_names=("a", "b", "c", "d"))


def load(root: Path, download: bool) -> RawData:
    del root, download  # generated on the spot
    gen = torch.Generator().manual_seed(SEED)
    patterns = torch.rand(SPEC.classes, 1, SPEC.size, SPEC.size, generator=gen)

    def split(per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(SPEC.classes).repeat_interleave(per_class)
        noise = 0.2 * torch.randn(len(labels), 1, SPEC.size, SPEC.size, generator=gen)
        return (patterns[labels] + noise).clamp(0, 1), labels

    train_images, train_labels = split(30)
    test_images, test_labels = split(10)
    return RawData(train_images, train_labels, test_images, test_labels, details={"seed": SEED})


toy_blobs = Dataset(SPEC, load)
