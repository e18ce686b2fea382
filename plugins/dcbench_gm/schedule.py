"""The paper's inner-loop schedule: T (matching steps per fresh net) and ς_θ (net epochs) by ipc."""

from __future__ import annotations

# Paper appendix and the reference code's table (docs/settings.md, "The per-ipc schedule").
_TABLE = {1: (1, 1), 10: (10, 50), 20: (20, 25), 30: (30, 20), 40: (40, 15), 50: (50, 10)}


def paper_schedule(ipc: int) -> tuple[int, int]:
    """(steps, net_epochs) for ``ipc``. Values the paper does not give follow its rule above
    10 ipc (T = ipc, ς_θ = 500 / T) and, between 1 and 10, T = ipc with ς_θ = 5·ipc (a straight
    line between the paper's (1, 1) and (10, 50)); both are dcbench's extension."""
    if ipc in _TABLE:
        return _TABLE[ipc]
    if ipc > 10:
        return ipc, max(1, round(500 / ipc))
    return ipc, 5 * ipc
