"""Coreset baselines: condensers that select real training images."""

from dcbench_coresets.random import RandomCondenser

__all__ = ["RandomCondenser"]
