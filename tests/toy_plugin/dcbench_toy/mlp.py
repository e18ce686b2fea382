"""toy_mlp: one hidden layer; it has no BatchNorm, so both stage variants are the same network."""

from __future__ import annotations

from torch import nn

from dcbench import Architecture, ArchSpec


def _build(*, in_chans: int, num_classes: int, img_size: int, hidden: int = 32) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(in_chans * img_size * img_size, hidden), nn.ReLU(),
                         nn.Linear(hidden, num_classes))


toy_mlp = Architecture(_build, ArchSpec(family="toy_mlp", version=1, sizes=None, min_size=1,
                                        description="flatten, 32 hidden units with ReLU, linear (a toy)"))
