"""What a grid did: the cells it computed, those that failed, those it left out and why."""

from __future__ import annotations

from dataclasses import dataclass

from dcbench.errors import UserError
from dcbench.grid.plan import Skip
from dcbench.records import CellRecord


@dataclass(frozen=True)
class GridResult:
    """The outcome of :meth:`dcbench.Bench.grid`. Counts are cells; ``run_id`` is None when nothing ran
    (a dry run, or every cell was stored)."""

    run_id: str | None
    done: tuple[CellRecord, ...]  # computed now
    failed: tuple[CellRecord, ...]  # failed now, each with its error
    skipped: tuple[Skip, ...]  # left out before anything ran, each with its reason
    stored: int  # found in the store and not computed again
    kept_failed: int  # failed earlier and kept (``rerun="failed"`` retries them)
    blocked: int  # evaluations of sets whose synthesis failed
    to_compute: int  # cells the plan had to compute (evaluations counted per set)
    profile: str
    datasets: tuple[str, ...]
    ipcs: tuple[int, ...]

    @property
    def complete(self) -> bool:
        """Every cell of the grid is done: nothing failed now or before, nothing was left out as broken."""
        return not (self.failed or self.kept_failed or self.broken)

    @property
    def broken(self) -> list[str]:
        """Components left out because their plugin failed to load."""
        return [skip.what for skip in self.skipped if skip.cause == "broken"]

    @property
    def unknown(self) -> list[str]:
        """Selector parts that named nothing: a typo, left out so that the rest could run."""
        return [skip.what for skip in self.skipped if skip.cause == "unknown"]

    def typo_error(self) -> UserError | None:
        """The user error the typos amount to, once the rest of the grid is stored (or None)."""
        if not self.unknown:
            return None
        return UserError(f"left out because they name nothing known: {', '.join(self.unknown)} (see the table "
                         "above and `dcbench list`); correct them and run the same grid again to add their cells")
