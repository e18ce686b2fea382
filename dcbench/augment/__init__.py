"""Training augmentations, each drawn from a generator: the seed paper's MNIST one and DSA's.

``augmentation(name)`` turns a recipe's ``augment`` field into the function that augments a
training batch: ``"mnist"`` or ``"dsa:<strategy>"`` (each image its own DSA draw).
"""

from __future__ import annotations

from typing import Callable

import torch

from dcbench.augment.dsa import DSA_STRATEGY, DSAParams, check_strategy, dsa_augment, siamese_augment
from dcbench.augment.mnist import CROP_PAD, ROTATE_DEG, SCALE, mnist_augment

__all__ = ["AUGMENTATIONS", "CROP_PAD", "DSA_STRATEGY", "DSAParams", "ROTATE_DEG", "SCALE", "augmentation",
           "check_strategy", "dsa_augment", "mnist_augment", "siamese_augment"]

Augmentation = Callable[[torch.Tensor, torch.Generator], torch.Tensor]

AUGMENTATIONS: dict[str, Augmentation] = {"mnist": mnist_augment}
DSA_PREFIX = "dsa:"


def augmentation(name: str) -> Augmentation:
    if name in AUGMENTATIONS:
        return AUGMENTATIONS[name]
    if name.startswith(DSA_PREFIX):
        strategy = check_strategy(name.removeprefix(DSA_PREFIX))  # a bad strategy fails here, not mid-training
        return lambda images, generator: dsa_augment(images, strategy, generator)
    raise ValueError(f"unknown augmentation {name!r}: {', '.join(AUGMENTATIONS)} or {DSA_PREFIX}<strategy>")
