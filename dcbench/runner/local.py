"""The local runner: every cell in this process, one after another, on ``--device``."""

from __future__ import annotations

from dcbench.grid import GridRun, WorkerSpec, execute


class LocalRunner:
    def __init__(self, worker: WorkerSpec) -> None:
        self.worker = worker
        self.description = f"local ({worker.device})"

    def __enter__(self) -> "LocalRunner":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run(self, grid: GridRun) -> None:
        while (task := grid.take()) is not None:
            grid.started(task)
            row, where = execute(task, self.worker, grid.reporter(task))
            grid.finish(task, row, where)
