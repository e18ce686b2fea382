"""Rich progress for long loops, fed by the ``report(step, **metrics)`` callbacks of cells."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)


@contextlib.contextmanager
def progress() -> Iterator[Progress]:
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[metrics]}"), TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False) as bar:
        yield bar


def reporter(bar: Progress, description: str, total: int | None) -> Callable[..., None]:
    """A ``report`` callback that moves one progress task; ``total=`` in metrics resizes it."""
    task = bar.add_task(description, total=total, metrics="")

    def report(step: int, **metrics: Any) -> None:
        size = metrics.pop("total", None)
        shown = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())
        bar.update(task, completed=step, metrics=shown, **({"total": size} if size else {}))

    return report
