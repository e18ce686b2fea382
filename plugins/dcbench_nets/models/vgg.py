"""VGG11 for 28/32px images: five poolings take a 32px input down to one 512-d vector."""

from __future__ import annotations

import torch
from torch import nn

from dcbench_nets.base import EmbeddingClassifier, check_side, conv_side
from dcbench_nets.norms import make_norm

SIZES = (28, 32)

# Channel counts of the 3x3 convs; "M" is a 2x2 max-pool.
VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class VGG(EmbeddingClassifier):
    def __init__(self, cfg, *, in_chans: int, num_classes: int, img_size: int, norm: str) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels, side = in_chans, img_size
        for item in cfg:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
                side = check_side(side // 2, network="vgg", img_size=img_size)
                continue
            # A 28px input is padded to 32px by the first conv; five halvings of 28 would leave nothing.
            padding = 3 if not layers and img_size == 28 else 1
            layers.append(nn.Conv2d(channels, item, kernel_size=3, padding=padding))
            channels, side = item, conv_side(side, 3, padding=padding)
            layers += [make_norm(norm, channels, side), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.embed_dim = channels * side * side
        self.classifier = nn.Linear(self.embed_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.features(x), 1)


def vgg11(*, in_chans: int, num_classes: int, img_size: int, norm: str = "instance") -> VGG:
    return VGG(VGG11, in_chans=in_chans, num_classes=num_classes, img_size=img_size, norm=norm)
