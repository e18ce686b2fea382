"""Coreset baselines: condensers that select real training images."""

from dcbench_coresets.forgetting import Forgetting
from dcbench_coresets.herding import Herding
from dcbench_coresets.k_center import KCenter
from dcbench_coresets.random import RandomCondenser

__all__ = ["Forgetting", "Herding", "KCenter", "RandomCondenser"]
