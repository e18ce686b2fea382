"""Distribution matching (alias dm): Dataset Condensation with Distribution Matching (Zhao & Bilen,
WACV 2023). Synthetic images learn to have, class by class, the mean embedding of the real images
in randomly initialised networks; no network is ever trained."""

from dcbench_dm.condenser import DistributionMatching, NonFiniteLoss

__all__ = ["DistributionMatching", "NonFiniteLoss"]
