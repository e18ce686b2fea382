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

import os
import time
from pathlib import Path
from typing import Any

import torch

#: Seconds between saves: a killed cell loses at most this much work (plus one outer iteration).
INTERVAL_S = 60.0


class Checkpoint:
    def __init__(self, path: Path, interval_s: float | None = None) -> None:
        self.path = path
        self.interval_s = INTERVAL_S if interval_s is None else interval_s
        self._started = self._saved = time.perf_counter()
        self.elapsed_before = 0.0  # seconds the earlier, stopped attempts spent on this cell
        self.resumed = False

    def load(self) -> dict[str, Any] | None:
        """The condenser's last saved state, or None when the cell starts fresh."""
        if not self.path.exists():
            return None
        saved = torch.load(self.path, map_location="cpu", weights_only=True)
        self.elapsed_before = float(saved["elapsed_s"])
        self.resumed = True
        return saved["state"]

    def due(self) -> bool:
        return time.perf_counter() - self._saved >= self.interval_s

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state`` (tensors, numbers, lists, dicts) in place of the previous one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        part = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
        torch.save({"state": state, "elapsed_s": self.elapsed()}, part)
        os.replace(part, self.path)  # a kill during the write leaves the previous checkpoint whole
        self._saved = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds spent on this cell so far, the stopped attempts included."""
        return self.elapsed_before + time.perf_counter() - self._started

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
