"""AlexCifarNet, the network dataset distillation (DD) reports on, kept for the DD comparison."""

from __future__ import annotations

import torch
from torch import nn

from dcbench_nets.base import EmbeddingClassifier, check_side, conv_side

SIZES = (28, 32)


def _lrn() -> nn.LocalResponseNorm:
    return nn.LocalResponseNorm(4, alpha=0.001 / 9.0, beta=0.75)


class AlexCifarNet(EmbeddingClassifier):
    def __init__(self, *, in_chans: int, num_classes: int, img_size: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 64, kernel_size=5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1), _lrn(),
            nn.Conv2d(64, 64, kernel_size=5, padding=2), nn.ReLU(inplace=True),
            _lrn(), nn.MaxPool2d(3, stride=2, padding=1),
        )
        side = img_size
        for _ in range(2):
            side = conv_side(side, 3, stride=2, padding=1)
        side = check_side(side, network="alexcifarnet", img_size=img_size)
        # 64 * 8 * 8 = 4096 inputs at 32px, as in DD; 28px images give 64 * 7 * 7.
        self.fc = nn.Sequential(
            nn.Linear(64 * side * side, 384), nn.ReLU(inplace=True),
            nn.Linear(384, 192), nn.ReLU(inplace=True),
        )
        self.embed_dim = 192
        self.classifier = nn.Linear(192, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


def alexcifarnet(*, in_chans: int, num_classes: int, img_size: int) -> AlexCifarNet:
    return AlexCifarNet(in_chans=in_chans, num_classes=num_classes, img_size=img_size)
