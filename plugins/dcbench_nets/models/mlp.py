"""The MLP of the paper's cross-architecture table: two hidden layers of 128 units."""

from __future__ import annotations

import torch
from torch import nn

from dcbench_nets.base import EmbeddingClassifier


class MLP(EmbeddingClassifier):
    def __init__(self, *, in_chans: int, num_classes: int, img_size: int, hidden: int = 128) -> None:
        super().__init__()
        self.hidden = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_chans * img_size * img_size, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
        )
        self.embed_dim = hidden
        self.classifier = nn.Linear(hidden, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.hidden(x)


def mlp(*, in_chans: int, num_classes: int, img_size: int) -> MLP:
    return MLP(in_chans=in_chans, num_classes=num_classes, img_size=img_size)
