"""CIFAR-style ResNet18, with the paper's average-pooling ("AP") downsampling for synthesis.

Strided convs sample every other pixel, so gradients reach only a quarter of the input pixels
through them; a stride-1 conv followed by 2x2 average pooling spreads them over every pixel,
which is what the paper uses when images themselves are learned.
"""

from __future__ import annotations

import torch
from torch import nn

from dcbench_nets.base import EmbeddingClassifier
from dcbench_nets.norms import make_norm

SIZES = (28, 32)
DOWNSAMPLINGS = ("stride", "avgpool")


def _conv(in_chans: int, out: int, kernel: int, stride: int, downsample: str) -> nn.Module:
    """A conv that halves the map when ``stride`` is 2, by striding or by average pooling after it."""
    padding = kernel // 2
    if stride == 1 or downsample == "stride":
        return nn.Conv2d(in_chans, out, kernel, stride=stride, padding=padding, bias=False)
    if downsample == "avgpool":
        return nn.Sequential(nn.Conv2d(in_chans, out, kernel, stride=1, padding=padding, bias=False),
                             nn.AvgPool2d(2, 2))
    raise ValueError(f"unknown downsampling {downsample!r}; choose one of {', '.join(DOWNSAMPLINGS)}")


class BasicBlock(nn.Module):
    def __init__(self, in_chans: int, out: int, stride: int, *, norm: str, downsample: str) -> None:
        super().__init__()
        self.conv1 = _conv(in_chans, out, 3, stride, downsample)
        self.norm1 = make_norm(norm, out)
        self.conv2 = _conv(out, out, 3, 1, downsample)
        self.norm2 = make_norm(norm, out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_chans != out:
            self.shortcut = nn.Sequential(_conv(in_chans, out, 1, stride, downsample), make_norm(norm, out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet(EmbeddingClassifier):
    def __init__(self, blocks: tuple[int, ...], *, in_chans: int, num_classes: int, img_size: int, norm: str,
                 downsample: str) -> None:
        super().__init__()
        if norm == "layer":
            raise ValueError("resnet takes none/batch/instance/group norms, not layer norm")
        if downsample not in DOWNSAMPLINGS:
            raise ValueError(f"unknown downsampling {downsample!r}; choose one of {', '.join(DOWNSAMPLINGS)}")
        self.stem = nn.Sequential(nn.Conv2d(in_chans, 64, 3, stride=1, padding=1, bias=False),
                                  make_norm(norm, 64), nn.ReLU(inplace=True))
        stages: list[nn.Module] = []
        channels = 64
        for index, count in enumerate(blocks):
            out = 64 * 2**index
            for block in range(count):
                stride = 2 if index > 0 and block == 0 else 1
                stages.append(BasicBlock(channels, out, stride, norm=norm, downsample=downsample))
                channels = out
        self.stages = nn.Sequential(*stages)
        # The CIFAR recipe's 4x4 average pool, written so that 28px inputs (a 3x3 or 4x4 map) work too.
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.embed_dim = channels
        self.classifier = nn.Linear(channels, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.pool(self.stages(self.stem(x))), 1)


def resnet18(*, in_chans: int, num_classes: int, img_size: int, norm: str = "instance",
             downsample: str = "stride") -> ResNet:
    return ResNet((2, 2, 2, 2), in_chans=in_chans, num_classes=num_classes, img_size=img_size, norm=norm,
                  downsample=downsample)
