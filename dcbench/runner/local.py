"""The local runner: every cell in this process, one after another, on ``--device``."""

from __future__ import annotations

from dcbench.grid.scheduler import CellQueue
from dcbench.tasks import WorkerSpec, execute


class LocalRunner:
    """``user_errors``: raise a cell's UserError (a single call's cells) instead of recording it (a grid's)."""

    def __init__(self, worker: WorkerSpec, *, user_errors: bool = False) -> None:
        self.worker = worker
        self.user_errors = user_errors
        self.description = f"local ({worker.device})"

    def __enter__(self) -> "LocalRunner":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run(self, queue: CellQueue) -> None:
        while (task := queue.take()) is not None:
            queue.started(task)
            record, where = execute(task, self.worker, queue.reporter(task), user_errors=self.user_errors)
            queue.finish(task, record, where)
