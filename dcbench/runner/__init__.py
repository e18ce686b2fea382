"""Where cells execute: ``local`` (this process, one cell after another) or ``ray`` (Ray Tune).

A runner takes ready cells from a :class:`dcbench.grid.scheduler.CellQueue`, runs each with
:func:`dcbench.tasks.execute` wherever it puts it, and hands every record back to the queue; it
never writes the store. Only :mod:`dcbench.runner.ray` imports Ray, so ``--runner local`` works
where Ray is not installed. :data:`RUNNERS` is the one table of them: a new runner is a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from dcbench.errors import UserError
from dcbench.runtime import resolve_device

if TYPE_CHECKING:
    from dcbench.grid.scheduler import Runner
    from dcbench.tasks import WorkerSpec


@dataclass(frozen=True)
class RunnerOptions:
    """What a grid asks of its runner. Only Ray reads the cluster options; ``local`` runs on ``device``."""

    device: str = "auto"
    address: str | None = None  # join this Ray cluster; None: start a private one
    cpus_per_cell: float = 1.0
    gpus_per_cell: float | None = None  # None: 1 where the cluster has GPUs and --device is not cpu
    num_cpus: int | None = None  # size of the private instance; None: this machine's
    num_gpus: int | None = None


@dataclass(frozen=True)
class RunnerKind:
    #: Refuses bad options before anything is planned, without importing the runner's libraries.
    check: Callable[[RunnerOptions], None]
    make: Callable[["WorkerSpec", RunnerOptions], "Runner"]


def _check_local(options: RunnerOptions) -> None:
    resolve_device(options.device)  # under Ray, each worker resolves it where its cell runs


def _make_local(worker: "WorkerSpec", options: RunnerOptions) -> "Runner":
    from dcbench.runner.local import LocalRunner

    return LocalRunner(worker)


def _check_ray(options: RunnerOptions) -> None:
    if options.cpus_per_cell <= 0:
        raise UserError(f"--cpus-per-cell must be positive, got {options.cpus_per_cell:g}")
    if options.gpus_per_cell is not None and options.gpus_per_cell < 0:
        raise UserError(f"--gpus-per-cell must be 0 or more, got {options.gpus_per_cell:g}")
    for option, value in (("--ray-cpus", options.num_cpus), ("--ray-gpus", options.num_gpus)):
        if value is not None and value < 0:
            raise UserError(f"{option} must be 0 or more, got {value}")
    if options.device.startswith("cuda:"):
        raise UserError(f"under --runner ray, Ray chooses each cell's GPU: use --device auto or cuda, "
                        f"not {options.device}")
    if options.address and (options.num_cpus is not None or options.num_gpus is not None):
        raise UserError("--ray-cpus and --ray-gpus size a private Ray; a joined cluster has its own resources")


def _make_ray(worker: "WorkerSpec", options: RunnerOptions) -> "Runner":
    try:
        from dcbench.runner.ray import RayRunner
    except ModuleNotFoundError as exc:
        if exc.name != "ray":
            raise
        raise UserError("Ray is not installed here: use --runner local, or pip install 'ray[tune]'") from None
    return RayRunner(options, worker)


RUNNERS: dict[str, RunnerKind] = {"ray": RunnerKind(_check_ray, _make_ray),
                                  "local": RunnerKind(_check_local, _make_local)}


def runner_kind(name: str) -> RunnerKind:
    if name not in RUNNERS:
        raise UserError(f"--runner must be one of {', '.join(RUNNERS)}, got '{name}'")
    return RUNNERS[name]
