"""The results store's only writer: runs, the records their cells finish, and a grid's cell log.

Every command or API call that computes something is a *run*: a ``runs`` row is written when it
starts (status ``running``) and finished as ``done``, ``failed`` (a cell failed) or
``interrupted`` (an exception or Ctrl-C went through it). Each record is written once its cell has
finished, stamped with its run, so a run killed at any moment leaves only finished records. For a
grid, ``<results>/logs/grid-<run id>.jsonl`` also gets one line per finished cell: its key, status,
and where and when it ran (host, pid, start and end, and under Ray the GPU ids Ray assigned).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import platform
import time
import uuid
from pathlib import Path
from typing import IO, Any, Iterator

from dcbench.errors import UserError
from dcbench.events import Event, Finished
from dcbench.records import DONE, FAILED, Record, Run
from dcbench.runtime import versions
from dcbench.store import Store

INTERRUPTED = "interrupted"


class Recorder:
    def __init__(self, store: Store) -> None:
        self.store = store

    @contextlib.contextmanager
    def run(self, command: str, argv: list[str], device: str, *, log_dir: Path | None = None) -> Iterator["RunLog"]:
        """A run for the block: its records go through the yielded :class:`RunLog`."""
        run = Run(id=uuid.uuid4().hex[:16], started_at=time.time(), command=command, argv=list(argv),
                  host=platform.node(), device=device, versions=versions(), status="running")
        self.store.start_run(run)
        log = RunLog(self.store, run.id)
        status = INTERRUPTED
        try:
            with contextlib.ExitStack() as files:
                if log_dir is not None:
                    log_dir.mkdir(parents=True, exist_ok=True)
                    log.cells = files.enter_context(open(log_dir / f"grid-{run.id}.jsonl", "a"))
                yield log
            status = FAILED if log.failures else DONE
        except UserError:
            status = FAILED  # found out while running (a plugin's own check): finished as failed
            raise
        finally:
            self.store.finish_run(run.id, status)


class RunLog:
    """One run's writer: records stamped with the run's id, and (for grids) the cell log."""

    def __init__(self, store: Store, run_id: str) -> None:
        self.store, self.id = store, run_id
        self.failures = 0
        self.cells: IO[str] | None = None
        self.written: dict[str, Record] = {}  # by key, as stored

    def record(self, record: Record) -> Record:
        """Write ``record`` as this run's; returns it as stored."""
        stamped = dataclasses.replace(record, run_id=self.id)
        self.store.put(stamped)
        self.failures += not stamped.done
        self.written[stamped.key] = stamped
        return stamped

    def __call__(self, event: Event) -> None:
        """As a scheduler's subscriber: every finished cell's record, and its line in the cell log."""
        if not isinstance(event, Finished):
            return
        self.record(event.record)
        if self.cells is not None:
            line: dict[str, Any] = {"key": event.key, "kind": event.kind, "label": event.label,
                                    "status": event.record.status, **event.where}
            self.cells.write(json.dumps(line) + "\n")
            self.cells.flush()
