"""Live progress on stderr, drawn from the events of the cells that run (dcbench.events).

One line per running cell, moved by the cell's progress reports (through Ray: its throttled
intermediate results), and for a grid one line for the whole grid: cells done of those to compute,
failures, ETA. Failed cells are printed as they fail.
"""

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from dcbench.cli.tables import skipped_table
from dcbench.events import Ended, Event, Finished, Planned, Progressed, Reused, Started
from dcbench.records import Condensation

console = Console(stderr=True)


class Display:
    def __init__(self, out: Console = console) -> None:
        self.console = out
        self.bar: Progress | None = None
        self.planned = False  # a grid: it gets a line of its own
        self.grid: TaskID | None = None
        self.to_compute = 0
        self.failed = 0
        self.cells: dict[str, TaskID] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, Planned):
            self._planned(event)
        elif isinstance(event, Reused) and isinstance(event.record, Condensation):
            self.console.print(f"already computed (key {event.record.key}); --rerun computes it again",
                               highlight=False)
        elif isinstance(event, Started):
            indent = "  " if self.planned else ""
            self.cells[event.key] = self._bar().add_task(indent + escape(event.label), total=None, metrics="")
            self._show_counts()
        elif isinstance(event, Progressed) and event.key in self.cells:
            self._bar().update(self.cells[event.key], completed=event.step, metrics=escape(event.metrics),
                               **({"total": event.total} if event.total else {}))
        elif isinstance(event, Finished):
            self._finished(event)
        elif isinstance(event, Ended):
            self.stop()

    def _planned(self, event: Planned) -> None:
        if event.plan.skipped:
            self.console.print(skipped_table(event.plan.skipped))
        self.console.print(f"grid: {len(event.plan.synths)} condensed sets, {event.to_compute} cells to compute "
                           f"(cls cells counted per set), {event.stored} already stored", highlight=False,
                           soft_wrap=True)
        self.planned, self.to_compute = True, event.to_compute

    def _bar(self) -> Progress:
        if self.bar is None:
            # ETA over a long window: cells differ by orders of magnitude in cost (synth vs cls)
            self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[metrics]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                console=self.console, speed_estimate_period=3600)
            self.bar.start()
            if self.planned:
                self.grid = self.bar.add_task("grid", total=self.to_compute, metrics="")
        return self.bar

    def _finished(self, event: Finished) -> None:
        bar = self._bar()
        if event.key in self.cells:
            bar.remove_task(self.cells.pop(event.key))
        if not event.record.done:
            bar.console.print(f"[red]failed[/red] {escape(event.label)}: {escape(event.record.error or '')}",
                              highlight=False)
        self.failed = event.failed
        if self.grid is not None:
            bar.update(self.grid, completed=event.done + event.failed, total=event.to_compute)
        self._show_counts()

    def _show_counts(self) -> None:
        if self.grid is not None and self.bar is not None:
            self.bar.update(self.grid, metrics=f"running {len(self.cells)}  failed {self.failed}")

    def stop(self) -> None:
        if self.bar is not None:
            for task in self.cells.values():  # cells that never finished (interrupted): nothing to keep
                self.bar.remove_task(task)
            self.bar.stop()
        self.bar, self.grid, self.cells = None, None, {}
