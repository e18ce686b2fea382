"""What every network of this plugin shares: the ``embed`` / ``classifier`` split and side arithmetic."""

from __future__ import annotations

import torch
from torch import nn


class EmbeddingClassifier(nn.Module):
    """A network whose logits are ``classifier(embed(x))``.

    Herding and k-center choose images by their penultimate features, so every network exposes
    them as ``embed(x) -> (N, embed_dim)`` and keeps its last linear layer as ``classifier``.
    """

    embed_dim: int
    classifier: nn.Linear

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


def conv_side(side: int, kernel: int, *, stride: int = 1, padding: int = 0) -> int:
    """Side length after a convolution or pooling window (PyTorch's floor rule)."""
    return (side + 2 * padding - kernel) // stride + 1


def check_side(side: int, *, network: str, img_size: int) -> int:
    """Refuse at construction time rather than fail with a shape error in the first forward pass."""
    if side < 1:
        raise ValueError(f"{network}: {img_size}px images shrink to nothing inside the network")
    return side
