"""Where cells execute: ``local`` (this process, one cell after another) or ``ray`` (Ray Tune).

A runner takes ready cells from a :class:`dcbench.grid.scheduler.CellQueue`, runs each with
:func:`dcbench.tasks.execute` wherever it puts it, and hands every record back to the queue; it
never writes the store. Only :mod:`dcbench.runner.ray` imports Ray, so ``--runner local`` works
where Ray is not installed.
"""

RUNNERS = ("ray", "local")
