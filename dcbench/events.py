"""What happens while cells run, as events: the scheduler emits them, subscribers act on them.

The recorder (:mod:`dcbench.recorder`) writes the records that :class:`Finished` events carry;
the CLI's live display draws all of them; a notebook may pass its own subscriber to
:class:`dcbench.Bench` (``on_event=``). Subscribers must be quick and must not raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Union

from dcbench.records import Benchmark, CellRecord

if TYPE_CHECKING:
    from dcbench.grid.plan import Plan

Result = Union[CellRecord, Benchmark]


@dataclass(frozen=True)
class Planned:
    """A grid was expanded: what it left out, and how many of its cells are stored or to compute."""

    plan: "Plan"
    to_compute: int
    stored: int


@dataclass(frozen=True)
class Started:
    """A cell (or a timed variant) started; ``key`` names it in the events that follow."""

    key: str
    label: str


@dataclass(frozen=True)
class Progressed:
    key: str
    label: str
    step: int
    total: int | None
    metrics: str  # already formatted: under Ray it travels as text


@dataclass(frozen=True)
class Finished:
    """A cell finished (done or failed); ``where`` says where and when it ran (host, pid, times, GPU ids)."""

    key: str
    label: str
    kind: str  # "synth", "eval", "protocol" or "bench"
    record: Result
    where: dict[str, Any]
    done: int  # cells of this run finished done so far
    failed: int
    to_compute: int  # cells this run computes, as now known (a failed synthesis removes its evaluations)


@dataclass(frozen=True)
class Reused:
    """A result that was asked for was found in the store, so nothing was computed."""

    record: Result


@dataclass(frozen=True)
class Ended:
    """The cells of a run stopped running: all finished, or an interruption went through them."""


Event = Union[Planned, Started, Progressed, Finished, Reused, Ended]
Subscriber = Callable[[Event], None]


def metrics_text(metrics: dict[str, Any]) -> str:
    return "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())


def reporter(emit: Subscriber, key: str, label: str) -> Callable[..., None]:
    """A ``report(step, **metrics)`` callback (``total=`` sizes the bar) that emits :class:`Progressed`."""
    def report(step: int, **metrics: Any) -> None:
        total = metrics.pop("total", None)
        emit(Progressed(key, label, step, total, metrics_text(metrics)))

    return report
