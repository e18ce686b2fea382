"""The small-image AlexNet of the paper's cross-architecture table (five convs, one linear layer)."""

from __future__ import annotations

import torch
from torch import nn

from dcbench_nets.base import EmbeddingClassifier, check_side, conv_side
from dcbench_nets.norms import make_norm

SIZES = (28, 32)

# (out channels, kernel, padding, max-pool after); the first padding depends on the input.
_CONVS = ((128, 5, None, True), (192, 5, 2, True), (256, 3, 1, False), (192, 3, 1, False), (192, 3, 1, True))


class AlexNet(EmbeddingClassifier):
    def __init__(self, *, in_chans: int, num_classes: int, img_size: int, norm: str = "none") -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels, side = in_chans, img_size
        for out, kernel, padding, pooled in _CONVS:
            # 1-channel digits get 4px of padding, so 28px MNIST reaches the 4x4 map CIFAR does.
            padding = padding if padding is not None else (4 if in_chans == 1 else 2)
            layers.append(nn.Conv2d(channels, out, kernel_size=kernel, padding=padding))
            channels, side = out, conv_side(side, kernel, padding=padding)
            layers += [make_norm(norm, channels, side), nn.ReLU(inplace=True)]
            if pooled:
                layers.append(nn.MaxPool2d(2, 2))
                side = check_side(side // 2, network="alexnet", img_size=img_size)
        self.features = nn.Sequential(*layers)
        self.embed_dim = channels * side * side
        self.classifier = nn.Linear(self.embed_dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.features(x), 1)


def alexnet(*, in_chans: int, num_classes: int, img_size: int, norm: str = "none") -> AlexNet:
    return AlexNet(in_chans=in_chans, num_classes=num_classes, img_size=img_size, norm=norm)
