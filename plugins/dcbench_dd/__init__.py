"""Dataset distillation (alias dd): images and per-step learning rates learned through unrolled training."""

from dcbench_dd.condenser import DatasetDistillation, NonFiniteLoss

__all__ = ["DatasetDistillation", "NonFiniteLoss"]
