"""Where cells execute: ``local`` (this process, one cell after another) or ``ray`` (Ray Tune).

A runner takes ready cells from a :class:`dcbench.grid.scheduler.CellQueue`, runs each with
:func:`dcbench.tasks.execute` wherever it puts it, and hands every record back to the queue; it
never writes the store. Only :mod:`dcbench.runner.ray` imports Ray, so ``--runner local`` works
where Ray is not installed.
"""

from dcbench.errors import UserError

RUNNERS = ("ray", "local")


def check_ray_options(*, address: str | None, cpus_per_cell: float, gpus_per_cell: float | None,
                      num_cpus: int | None, num_gpus: int | None, device: str) -> None:
    """The Ray runner's options, checked without Ray (so a dry run checks them too)."""
    if cpus_per_cell <= 0:
        raise UserError(f"--cpus-per-cell must be positive, got {cpus_per_cell:g}")
    if gpus_per_cell is not None and gpus_per_cell < 0:
        raise UserError(f"--gpus-per-cell must be 0 or more, got {gpus_per_cell:g}")
    for option, value in (("--ray-cpus", num_cpus), ("--ray-gpus", num_gpus)):
        if value is not None and value < 0:
            raise UserError(f"{option} must be 0 or more, got {value}")
    if device.startswith("cuda:"):
        raise UserError(f"under --runner ray, Ray chooses each cell's GPU: use --device auto or cuda, not {device}")
    if address and (num_cpus is not None or num_gpus is not None):
        raise UserError("--ray-cpus and --ray-gpus size a private Ray; a joined cluster has its own resources")
