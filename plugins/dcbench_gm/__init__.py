"""Gradient matching, the paper's condenser (aliases dc, gm), and DSA, gradient matching through
differentiable Siamese augmentation."""

from dcbench_gm.condenser import GradientMatching, NonFiniteLoss
from dcbench_gm.dsa import SiameseAugmentedMatching

__all__ = ["GradientMatching", "NonFiniteLoss", "SiameseAugmentedMatching"]
