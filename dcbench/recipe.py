"""Training recipes: how a fresh network is trained on a (condensed) set, and how it is tested.

Follows the paper's protocol as its reference implementation ran it (docs/settings.md), including
the details that produced the paper's numbers: ``epochs + 1`` passes, and at half time the learning rate drops ×0.1 by
re-creating the optimizer (momentum buffers start again). Accuracy is the final network's on the
whole test split, never a best epoch. The recipe is recorded with every result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from dcbench.augment import DSA_STRATEGY, augmentation
from dcbench.dataset import TestSet
from dcbench.errors import UserError
from dcbench.profiles import Profile

#: How condensed sets are trained on, as each paper evaluated its sets. ``dc``: the seed paper's
#: (the profile's epochs, its MNIST augmentation where a data set's settings ask for it); ``dsa``:
#: the DSA and DM papers' (the profile's augmented epochs, 1,000 at full budget, and differentiable
#: Siamese augmentation of every batch, per image, on every data set, in place of the MNIST one).
DC_RECIPE, DSA_RECIPE = "dc", "dsa"
RECIPES = (DC_RECIPE, DSA_RECIPE)


def check_recipe(name: str | None) -> str | None:
    """A recipe the user named (``--recipe``), refused in their words before anything runs; None passes."""
    if name is not None and name not in RECIPES:
        raise UserError(f"--recipe {name}: choose {', '.join(RECIPES)}")
    return name


@dataclass(frozen=True)
class Recipe:
    """How a fresh network is trained: every field is part of a result's key."""

    kind: str  # "condensed" (the paper's Cls protocol) or "whole_data": part of every key
    epochs: int  # passes over the training images actually run
    lr_drop_after: int  # passes after which lr ×0.1 and the optimizer is re-created
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 256
    augment: str | None = None  # "mnist" (crop/scale/rotate), "dsa:<strategy>" or None
    name: str = DC_RECIPE  # which of RECIPES; left out of the key at its default, so older keys stand

    @classmethod
    def condensed(cls, profile: Profile, dataset_settings: dict[str, Any], name: str = DC_RECIPE) -> "Recipe":
        if name not in RECIPES:
            raise ValueError(f"recipe {name!r} is not one of {', '.join(RECIPES)}")
        if name == DSA_RECIPE:
            augment, epochs = f"dsa:{dataset_settings.get('dsa_strategy', DSA_STRATEGY)}", profile.cls_epochs_aug
        else:
            augment = dataset_settings.get("augment")
            epochs = profile.cls_epochs_aug if augment else profile.cls_epochs
        # The reference runs epochs+1 passes and drops after pass epochs//2 + 1 (0-based); the DSA
        # and DM code trains its evaluation nets with the same loop.
        return cls(kind="condensed", epochs=epochs + 1, lr_drop_after=epochs // 2 + 2, augment=augment, name=name)

    @classmethod
    def whole_data(cls, profile: Profile, dataset_settings: dict[str, Any]) -> "Recipe":
        return cls.whole_data_epochs(profile.whole_epochs, dataset_settings)

    @classmethod
    def whole_data_epochs(cls, epochs: int, dataset_settings: dict[str, Any]) -> "Recipe":
        return cls(kind="whole_data", epochs=epochs, lr_drop_after=max(1, epochs // 2),
                   augment=dataset_settings.get("augment"))

    def to_json(self) -> dict[str, Any]:
        recorded = dataclasses.asdict(self)
        if self.name == DC_RECIPE:
            del recorded["name"]
        return recorded


def train_network(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, recipe: Recipe, *,
                  generator: torch.Generator,
                  on_epoch: Callable[[int, float, float], None] | None = None,
                  on_batch: Callable[[torch.Tensor, torch.Tensor], None] | None = None) -> nn.Module:
    """Train ``net`` in place on tensors already on its device; shuffling and augmentation draw
    from ``generator`` only. ``labels``: class indices (N,), or soft targets, class probabilities
    (N, classes) trained on with the soft cross-entropy (a hit is then the most probable class).
    ``on_epoch(epoch, mean_loss, train_accuracy)`` after every pass;
    ``on_batch(indices, correct)`` after every step, with which examples its forward pass got
    right (forgetting statistics are made of these)."""
    augment = augmentation(recipe.augment) if recipe.augment else None
    optimizer = _sgd(net, recipe, recipe.lr)
    n = images.shape[0]
    classes = labels if labels.ndim == 1 else labels.argmax(1)
    net.train()
    for epoch in range(recipe.epochs):
        order = torch.randperm(n, generator=generator).to(images.device)
        total_loss = torch.zeros((), device=images.device)
        correct = torch.zeros((), device=images.device, dtype=torch.long)
        for start in range(0, n, recipe.batch_size):
            idx = order[start:start + recipe.batch_size]
            x, y = images[idx], labels[idx]
            if augment is not None:
                x = augment(x, generator)
            logits = net(x)
            loss = F.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            hits = logits.detach().argmax(1) == classes[idx]
            total_loss += loss.detach() * len(idx)
            correct += hits.sum()
            if on_batch is not None:
                on_batch(idx, hits)
        if epoch + 1 == recipe.lr_drop_after:
            optimizer = _sgd(net, recipe, recipe.lr * 0.1)
        if on_epoch is not None:
            on_epoch(epoch + 1, float(total_loss) / n, float(correct) / n)
    return net


def _sgd(net: nn.Module, recipe: Recipe, lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(net.parameters(), lr=lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)


@torch.no_grad()
def evaluate_accuracy(net: nn.Module, test: TestSet, *, batch_size: int = 1024) -> float:
    """Top-1 accuracy of ``net`` on the whole test split (tensors on the net's device)."""
    net.eval()
    correct = 0
    for start in range(0, len(test), batch_size):
        logits = net(test.images[start:start + batch_size])
        correct += int((logits.argmax(1) == test.labels[start:start + batch_size]).sum())
    return correct / len(test)
