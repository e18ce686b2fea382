"""ConvNet, the paper's default network, and the knobs its ablations turn (docs/settings.md, "Networks")."""

from __future__ import annotations

import torch
from torch import nn

from dcbench_nets.base import EmbeddingClassifier, check_side, conv_side
from dcbench_nets.norms import make_norm

ACTIVATIONS = ("relu", "sigmoid", "leakyrelu")
POOLINGS = ("avg", "max", "none")


def _activation(kind: str) -> nn.Module:
    if kind == "relu":
        return nn.ReLU(inplace=True)
    if kind == "sigmoid":
        return nn.Sigmoid()
    if kind == "leakyrelu":
        return nn.LeakyReLU(0.01, inplace=True)
    raise ValueError(f"unknown activation {kind!r}; choose one of {', '.join(ACTIVATIONS)}")


def _pooling(kind: str) -> nn.Module | None:
    if kind == "avg":
        return nn.AvgPool2d(2, 2)
    if kind == "max":
        return nn.MaxPool2d(2, 2)
    if kind == "none":
        return None
    raise ValueError(f"unknown pooling {kind!r}; choose one of {', '.join(POOLINGS)}")


def first_padding(in_chans: int, img_size: int) -> int:
    """MNIST-like 28px digits are padded to 32px so the net sees what it sees on CIFAR-sized images."""
    return 3 if in_chans == 1 and img_size == 28 else 1


def min_side(depth: int, pool: str) -> int:
    """Smallest input side whose feature map survives ``depth`` halvings."""
    return 1 if pool == "none" else 2**depth


class ConvNet(EmbeddingClassifier):
    """``depth`` blocks of [conv 3x3 -> norm -> activation -> pool 2x2], then one linear layer."""

    def __init__(self, *, in_chans: int, num_classes: int, img_size: int, width: int, depth: int,
                 norm: str, act: str, pool: str) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"convnet depth must be at least 1, not {depth}")
        layers: list[nn.Module] = []
        channels, side = in_chans, img_size
        for block in range(depth):
            padding = first_padding(in_chans, img_size) if block == 0 else 1
            layers.append(nn.Conv2d(channels, width, kernel_size=3, padding=padding))
            channels, side = width, conv_side(side, 3, padding=padding)
            layers += [make_norm(norm, channels, side), _activation(act)]
            pooling = _pooling(pool)
            if pooling is not None:
                layers.append(pooling)
                side = check_side(side // 2, network="convnet", img_size=img_size)
        self.features = nn.Sequential(*layers)
        self.embed_dim = channels * side * side
        self.classifier = nn.Linear(self.embed_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.features(x), 1)


def convnet(*, in_chans: int, num_classes: int, img_size: int, width: int = 128, depth: int = 3,
            norm: str = "instance", act: str = "relu", pool: str = "avg") -> ConvNet:
    return ConvNet(in_chans=in_chans, num_classes=num_classes, img_size=img_size, width=width, depth=depth,
                   norm=norm, act=act, pool=pool)
