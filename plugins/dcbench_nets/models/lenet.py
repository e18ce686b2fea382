"""LeNet-5 as the paper uses it: 28px digits are padded to 32px so both sizes give 16x5x5 features."""

from __future__ import annotations

import torch
from torch import nn

from dcbench_nets.base import EmbeddingClassifier, check_side, conv_side

SIZES = (28, 32)


class LeNet(EmbeddingClassifier):
    def __init__(self, *, in_chans: int, num_classes: int, img_size: int) -> None:
        super().__init__()
        padding = 2 if img_size == 28 else 0
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 6, kernel_size=5, padding=padding), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2),
            nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2),
        )
        side = conv_side(conv_side(img_size, 5, padding=padding) // 2, 5) // 2
        side = check_side(side, network="lenet", img_size=img_size)
        self.fc = nn.Sequential(
            nn.Linear(16 * side * side, 120), nn.ReLU(inplace=True),
            nn.Linear(120, 84), nn.ReLU(inplace=True),
        )
        self.embed_dim = 84
        self.classifier = nn.Linear(84, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


def lenet(*, in_chans: int, num_classes: int, img_size: int) -> LeNet:
    return LeNet(in_chans=in_chans, num_classes=num_classes, img_size=img_size)
