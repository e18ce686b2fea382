"""The paper's MNIST training augmentation, batched on the tensors' device.

Each image gets one of crop, scale or rotate (docs/settings.md gives the ranges), filled with the
batch's channel mean.
All three are affine resamplings, so one ``grid_sample`` per interpolation mode does a whole
batch instead of a Python loop per image: integer shifts and scales use nearest sampling (as the
reference's pad-and-crop and nearest resize do), rotations bilinear (closest to the reference's
spline rotation).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

CROP_PAD = 4
SCALE = 0.2
ROTATE_DEG = 45


def mnist_augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """crop (shift −4…+3 px per axis) / scale (U(0.8, 1.2) per axis) / rotate (integer −45…44°)."""
    n, _, h, w = images.shape
    g = generator
    choice = torch.randint(0, 3, (n,), generator=g)
    shift = torch.randint(0, 2 * CROP_PAD, (n, 2), generator=g).float() - CROP_PAD
    scale = 1 + (torch.rand((n, 2), generator=g) * 2 - 1) * SCALE
    angle = torch.randint(-ROTATE_DEG, ROTATE_DEG, (n,), generator=g).float() * (math.pi / 180)

    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    crop, scaled, rotated = choice == 0, choice == 1, choice == 2
    # A sampling grid maps output to input coordinates, in units of half the image per 1.0.
    theta[crop, 0, 2] = 2 * shift[crop, 0] / w
    theta[crop, 1, 2] = 2 * shift[crop, 1] / h
    theta[scaled, 0, 0] = 1 / scale[scaled, 0]
    theta[scaled, 1, 1] = 1 / scale[scaled, 1]
    cos, sin = torch.cos(angle[rotated]), torch.sin(angle[rotated])
    theta[rotated, 0, 0], theta[rotated, 0, 1] = cos, -sin
    theta[rotated, 1, 0], theta[rotated, 1, 1] = sin, cos

    mean = images.mean(dim=(0, 2, 3), keepdim=True)
    centred = images - mean  # zero padding of centred images = padding with the mean
    grid = F.affine_grid(theta.to(images.device, images.dtype), list(images.shape), align_corners=False)
    nearest = F.grid_sample(centred, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    out = nearest
    if bool(rotated.any()):
        bilinear = F.grid_sample(centred, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        out = torch.where(rotated.to(images.device).view(n, 1, 1, 1), bilinear, nearest)
    return out + mean
