"""dcbench's image classification data sets, written as any third-party dataset plugin would be.

Each export is a :class:`dcbench.Dataset`: a static spec plus a loader that returns the images in
[0, 1] at their native size. Resizing, channel conversion and normalisation are left to dcbench.
``digits`` and ``generated`` need no files; the others are read through torchvision (folder layout in
:mod:`dcbench_vision.torchvision_sets`), and ``fashion_mnist`` also from Debian's
``dataset-fashion-mnist`` package when it is installed.
"""

from __future__ import annotations

from .digits import digits
from .generated import generated, generated_inverted
from .torchvision_sets import cifar10, cifar100, fashion_mnist, mnist, svhn, usps

__all__ = ["digits", "generated", "generated_inverted", "mnist", "fashion_mnist", "svhn", "cifar10", "cifar100", "usps"]
