"""Gradient matching, the paper's condenser (aliases dc, gm)."""

from dcbench_gm.condenser import GradientMatching, NonFiniteLoss

__all__ = ["GradientMatching", "NonFiniteLoss"]
