"""Greedy selection in a feature space: herding and k-center on one class's (n, d) features.

Both work in float64 and hold O(n·d) memory (never an n×n distance matrix), so a class of many
thousands of examples is fine. Both return positions into the rows of ``features``, in the order
they were chosen; a row is chosen at most once, even when several rows are the same point. Ties
(equal distances, e.g. duplicate points) go to the lowest row: with rows in training-split order,
that is the lowest training index, whatever order a device's argmin would have broken them in.
"""

from __future__ import annotations

import torch


def herding(features: torch.Tensor, k: int) -> torch.Tensor:
    """Welling's herding as in iCaRL: the i-th pick (from 0) is the unchosen row closest (l2) to
    (i+1)·μ − Σ chosen, so that the running mean of the picks tracks the class mean μ."""
    f = _check(features, k)
    mean = f.mean(0)
    total = torch.zeros_like(mean)
    available = torch.ones(f.shape[0], dtype=torch.bool, device=f.device)
    chosen = []
    for i in range(k):
        dist = _sq_dist(f, (i + 1) * mean - total)
        dist[~available] = float("inf")
        j = _first(dist, dist.min())
        chosen.append(j)
        available[j] = False
        total += f[j]
    return torch.tensor(chosen, dtype=torch.long)


def k_center(features: torch.Tensor, k: int) -> torch.Tensor:
    """Greedy k-center (Sener & Savarese): the row closest to the class mean first, then each time
    the row farthest from its nearest chosen centre."""
    f = _check(features, k)
    nearest = _sq_dist(f, f.mean(0))  # before the first pick: the distance to the mean
    j = _first(nearest, nearest.min())
    chosen = [j]
    nearest = _sq_dist(f, f[j])
    taken = torch.zeros(f.shape[0], dtype=torch.bool, device=f.device)
    taken[j] = True
    for _ in range(k - 1):
        # Chosen rows sit at distance 0, as do their duplicates; when everything left is such a
        # duplicate the maximum is 0 and a chosen row could win the tie without this mask.
        gap = nearest.masked_fill(taken, -1.0)
        j = _first(gap, gap.max())
        chosen.append(j)
        taken[j] = True
        nearest = torch.minimum(nearest, _sq_dist(f, f[j]))
    return torch.tensor(chosen, dtype=torch.long)


def _check(features: torch.Tensor, k: int) -> torch.Tensor:
    if features.ndim != 2:
        raise ValueError(f"features must be (n, d), got shape {tuple(features.shape)}")
    if not 1 <= k <= features.shape[0]:
        raise ValueError(f"cannot choose {k} of {features.shape[0]} rows")
    if not bool(torch.isfinite(features).all()):
        raise ValueError("features contain NaN or infinite values (did the feature model diverge?)")
    return features.double()


def _sq_dist(f: torch.Tensor, point: torch.Tensor) -> torch.Tensor:
    # Squared distances rank exactly as distances, and the direct difference (unlike the
    # ‖a‖² − 2a·b + ‖b‖² expansion) gives duplicate rows bit-identical distances, so ties are real.
    return (f - point).pow(2).sum(1)


def _first(values: torch.Tensor, target: torch.Tensor) -> int:
    return int(torch.nonzero(values == target)[0, 0])
