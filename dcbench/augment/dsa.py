"""Differentiable Siamese augmentation (DSA; Zhao & Bilen, ICML 2021), batched and seeded.

Follows the authors' code (VICO-UoE/DatasetCondensation, ``utils.py``: ``ParamDiffAug``,
``DiffAugment`` in its single-group mode 'S', ``AUGMENT_FNS``) transform for transform and range
for range. A strategy such as ``color_crop_cutout_flip_scale_rotate`` names groups; every call picks
one group uniformly and applies its transforms (``color`` is brightness, then saturation, then
contrast). A Siamese call gives every image of every batch one draw, the group included, so the real
and the synthetic batch of a matching step see the same transformation; otherwise each image gets
its own draw (the group is still one per call).

Unlike the authors' code, which seeds from the clock, every random number comes from the generator
passed in, drawn on its device in a fixed order (the group, then each transform's parameters in the
group's order), so one seed gives one output. Every transform is a differentiable function of the
images, so the gradient of a loss reaches the synthetic images through it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

DSA_STRATEGY = "color_crop_cutout_flip_scale_rotate"

GROUPS: dict[str, tuple[str, ...]] = {
    "color": ("brightness", "saturation", "contrast"),
    "crop": ("crop",),
    "cutout": ("cutout",),
    "flip": ("flip",),
    "scale": ("scale",),
    "rotate": ("rotate",),
}


@dataclass(frozen=True)
class DSAParams:
    """The authors' ``ParamDiffAug``, field for field."""

    prob_flip: float = 0.5  # chance of mirroring the width
    ratio_scale: float = 1.2  # each axis's sampling step times U(1/r, r)
    ratio_rotate: float = 15.0  # degrees, U(-r, r)
    ratio_crop_pad: float = 0.125  # shift of up to this fraction of the side, per axis
    ratio_cutout: float = 0.5  # side of the zeroed square, as a fraction of the image's
    brightness: float = 1.0  # adds (U(0, 1) - 0.5) * this
    saturation: float = 2.0  # deviation from the pixel's channel mean times U(0, 1) * this
    contrast: float = 0.5  # deviation from the image's mean times U(0, 1) + this


def check_strategy(strategy: str) -> str:
    unknown = [group for group in strategy.split("_") if group not in GROUPS]
    if unknown:
        raise ValueError(f"unknown DSA augmentation group(s) {', '.join(map(repr, unknown))} in {strategy!r}; "
                         f"a strategy joins some of {', '.join(GROUPS)} with '_'")
    return strategy


def _side(size: int, ratio: float) -> int:
    return int(size * ratio + 0.5)  # the authors' rounding: halves go up, unlike Python's round


def _uniform(n: int, g: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=g, device=g.device)


def _integers(low: int, high: int, n: int, g: torch.Generator) -> torch.Tensor:
    return torch.randint(low, high, (n,), generator=g, device=g.device)


def _per_image(value: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return value.to(x.dtype).view(-1, 1, 1, 1)


# Each transform: a sampler (images, height, width, generator, params) -> one value (row) per image,
# and the transform (images, values, params) -> images; a single row serves a whole batch.


def _sample_scale(n: int, h: int, w: int, g: torch.Generator, p: DSAParams) -> torch.Tensor:
    low = 1.0 / p.ratio_scale
    return torch.stack([_uniform(n, g) * (p.ratio_scale - low) + low for _axis in "xy"], dim=1)


def _sample_crop(n: int, h: int, w: int, g: torch.Generator, p: DSAParams) -> torch.Tensor:
    shifts = [_side(size, p.ratio_crop_pad) for size in (h, w)]
    return torch.stack([_integers(-s, s + 1, n, g) for s in shifts], dim=1)  # rows, columns


def _sample_cutout(n: int, h: int, w: int, g: torch.Generator, p: DSAParams) -> torch.Tensor:
    # the authors' range for the square's centre: one position more when its side is even
    ranges = [size + 1 - _side(size, p.ratio_cutout) % 2 for size in (h, w)]
    return torch.stack([_integers(0, high, n, g) for high in ranges], dim=1)  # row, column


def _brightness(x: torch.Tensor, shift: torch.Tensor, p: DSAParams) -> torch.Tensor:
    return x + _per_image(shift, x)


def _saturation(x: torch.Tensor, factor: torch.Tensor, p: DSAParams) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * _per_image(factor, x) + mean


def _contrast(x: torch.Tensor, factor: torch.Tensor, p: DSAParams) -> torch.Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * _per_image(factor, x) + mean


def _flip(x: torch.Tensor, flipped: torch.Tensor, p: DSAParams) -> torch.Tensor:
    return torch.where(flipped.view(-1, 1, 1, 1), x.flip(3), x)


def _crop(x: torch.Tensor, shift: torch.Tensor, p: DSAParams) -> torch.Tensor:
    """Output pixel (i, j) is input pixel (i + rows, j + columns), zero outside: the authors'
    pad-by-one-and-index, as two gathers over the whole batch."""
    n, c, h, w = x.shape
    shift = shift.expand(n, 2)
    padded = F.pad(x, [1, 1, 1, 1])  # an index past the edge clamps onto this zero border
    rows = (torch.arange(h, device=x.device) + shift[:, :1] + 1).clamp(0, h + 1)
    cols = (torch.arange(w, device=x.device) + shift[:, 1:] + 1).clamp(0, w + 1)
    picked = padded.gather(2, rows.view(n, 1, h, 1).expand(n, c, h, w + 2))
    return picked.gather(3, cols.view(n, 1, 1, w).expand(n, c, h, w))


def _cutout(x: torch.Tensor, centre: torch.Tensor, p: DSAParams) -> torch.Tensor:
    """Zero the square of side ratio_cutout·size around ``centre`` where it lies in the image (the
    authors clamp its indices onto the border rows and columns, which the square covers anyway)."""
    _, _, h, w = x.shape
    inside = []
    for axis, size in enumerate((h, w)):
        side = _side(size, p.ratio_cutout)
        first = centre[:, axis:axis + 1] - side // 2
        position = torch.arange(size, device=x.device)
        inside.append((position >= first) & (position < first + side))
    keep = ~(inside[0].view(-1, 1, h, 1) & inside[1].view(-1, 1, 1, w))
    return x * keep.to(x.dtype)


def _warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Resample where ``theta`` (output to input coordinates) says, about the image centre: output
    pixel j samples input position s·(j − c) + c for a scale s. Both calls must share the flag; either
    value gives that mapping."""
    theta = theta.to(x.dtype).expand(x.shape[0], 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=True)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def _scale(x: torch.Tensor, s: torch.Tensor, p: DSAParams) -> torch.Tensor:
    zero = torch.zeros_like(s[:, 0])
    return _warp(x, torch.stack([s[:, 0], zero, zero, zero, s[:, 1], zero], dim=1).view(-1, 2, 3))


def _rotate(x: torch.Tensor, degrees: torch.Tensor, p: DSAParams) -> torch.Tensor:
    a = degrees * (math.pi / 180)
    cos, sin, zero = torch.cos(a), torch.sin(a), torch.zeros_like(a)
    return _warp(x, torch.stack([cos, -sin, zero, sin, cos, zero], dim=1).view(-1, 2, 3))


Sampler = Callable[[int, int, int, torch.Generator, DSAParams], torch.Tensor]
Transform = Callable[[torch.Tensor, torch.Tensor, DSAParams], torch.Tensor]

TRANSFORMS: dict[str, tuple[Sampler, Transform]] = {
    "brightness": (lambda n, h, w, g, p: (_uniform(n, g) - 0.5) * p.brightness, _brightness),
    "saturation": (lambda n, h, w, g, p: _uniform(n, g) * p.saturation, _saturation),
    "contrast": (lambda n, h, w, g, p: _uniform(n, g) + p.contrast, _contrast),
    "crop": (_sample_crop, _crop),
    "cutout": (_sample_cutout, _cutout),
    "flip": (lambda n, h, w, g, p: _uniform(n, g) < p.prob_flip, _flip),
    "scale": (_sample_scale, _scale),
    "rotate": (lambda n, h, w, g, p: (_uniform(n, g) - 0.5) * 2 * p.ratio_rotate, _rotate),  # degrees
}


@dataclass(frozen=True)
class Draw:
    """One random augmentation: the group picked and, per transform of it, the values drawn (one
    row per image, or one row for every image of every batch it is applied to)."""

    group: str
    values: tuple[torch.Tensor, ...]
    params: DSAParams

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        for name, value in zip(GROUPS[self.group], self.values, strict=True):
            images = TRANSFORMS[name][1](images, value.to(images.device), self.params)
        return images


def draw(strategy: str, n: int, size: tuple[int, int], generator: torch.Generator,
         params: DSAParams = DSAParams()) -> Draw:
    """Values for ``n`` images of ``size`` (height, width), the group first, from ``generator`` alone."""
    groups = check_strategy(strategy).split("_")
    group = groups[int(_integers(0, len(groups), 1, generator))]
    values = tuple(TRANSFORMS[name][0](n, *size, generator, params) for name in GROUPS[group])
    return Draw(group, values, params)


def siamese_augment(batches: Sequence[torch.Tensor], strategy: str, generator: torch.Generator,
                    params: DSAParams = DSAParams()) -> list[torch.Tensor]:
    """Every image of every batch through one and the same random augmentation (matching steps)."""
    sizes = {tuple(batch.shape[-2:]) for batch in batches}
    if len(sizes) != 1:  # crop and cutout draw in pixels of the image size
        raise ValueError(f"siamese_augment needs batches of one image size, not {sorted(sizes)}")
    shared = draw(strategy, 1, sizes.pop(), generator, params)
    return [shared.apply(batch) for batch in batches]


def dsa_augment(images: torch.Tensor, strategy: str, generator: torch.Generator,
                params: DSAParams = DSAParams()) -> torch.Tensor:
    """Each image through its own random augmentation, of one group (training on a set)."""
    return draw(strategy, images.shape[0], tuple(images.shape[-2:]), generator, params).apply(images)
