"""Progress of one synthesis cell kept on disk, so a cell stopped part way resumes where it was.

A command on a lent GPU lives at most 10 minutes, and a `paper`-profile condensation at 10 ipc
takes longer, so long condensations must survive being killed. A condenser that accepts the
keyword ``checkpoint`` in ``condense`` gets one of these: it ``load``s its state at the start and
``save``s it at the end of an outer iteration when ``due()``. The state holds whatever makes the rest
of the run identical to an uninterrupted one (images, optimiser state, the generator's state), so on
CPU a resumed cell gives the same artifact. The file is named by the cell's key, written atomically,
and removed once the cell is recorded, done or failed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from dcbench.files import write_atomically

FORMAT = 1

#: Seconds between saves: a killed cell loses at most this much work (plus one outer iteration).
INTERVAL_S = 60.0


class Checkpoint:
    """``context`` names what a state is only valid with (device, versions): a checkpoint written
    under another context is not resumed from, so a set is never half CPU, half GPU."""

    def __init__(self, path: Path, context: dict[str, Any] | None = None, interval_s: float | None = None) -> None:
        self.path = path
        self.context = json.loads(json.dumps(context or {}))  # plain types: torch's version is a str subclass
        self.interval_s = INTERVAL_S if interval_s is None else interval_s
        self._started = self._saved = time.perf_counter()
        self.elapsed_before = 0.0  # seconds the earlier, stopped attempts spent on this cell, to their last save

    def load(self) -> dict[str, Any] | None:
        """The condenser's last saved state, or None when the cell starts fresh (no checkpoint, or one
        that cannot be read or was written under another context, which is removed)."""
        if not self.path.exists():
            return None
        try:
            saved = torch.load(self.path, map_location="cpu", weights_only=True)
            if saved.get("format") != FORMAT or saved.get("context") != self.context:
                raise ValueError("written by another format or context")
            self.elapsed_before = float(saved["elapsed_s"])
            return saved["state"]
        except Exception:  # a stale or broken checkpoint costs the work it held, never the cell
            self.clear()
            return None

    def due(self) -> bool:
        return time.perf_counter() - self._saved >= self.interval_s

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state`` in place of the previous one. It must load with ``torch.load(...,
        weights_only=True)``: tensors, numbers, strings, lists, dicts (an optimiser's ``state_dict()``,
        a torch generator's ``get_state()``)."""
        saved = {"format": FORMAT, "context": self.context, "state": state, "elapsed_s": self.elapsed()}
        write_atomically(self.path, lambda tmp: torch.save(saved, tmp))  # a kill keeps the previous one whole
        self._saved = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds spent on this cell so far: this attempt, and the stopped ones up to their last save."""
        return self.elapsed_before + time.perf_counter() - self._started

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
