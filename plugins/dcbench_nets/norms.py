"""One place that turns a norm name into a layer, so every family spells the kinds the same way."""

from __future__ import annotations

from torch import nn

from dcbench import InstanceNorm

NORMS = ("none", "batch", "layer", "instance", "group")

# The paper's group-norm ablation splits the channels into four groups.
GROUPS = 4


def make_norm(kind: str, channels: int, hw: int | None = None) -> nn.Module:
    """A norm layer for ``channels`` feature maps of side ``hw`` (only layer norm needs the side)."""
    if kind == "none":
        return nn.Identity()
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return InstanceNorm(channels)
    if kind == "group":
        return nn.GroupNorm(GROUPS, channels, affine=True)
    if kind == "layer":
        if hw is None:
            raise ValueError("layer norm normalises over [C, H, W] and needs the feature map side")
        return nn.LayerNorm([channels, hw, hw], elementwise_affine=True)
    raise ValueError(f"unknown norm {kind!r}; choose one of {', '.join(NORMS)}")
