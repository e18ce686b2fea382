"""Where grid cells execute: ``local`` (this process, one cell after another) or ``ray`` (Ray Tune).

Both drive a :class:`dcbench.grid.GridRun` the same way: take the ready cells, run each with
:func:`dcbench.grid.execute`, hand every row back to the driver, which alone writes the store.
Only :mod:`dcbench.runner.ray` imports Ray, so ``--runner local`` works where Ray is not installed.
"""

RUNNERS = ("ray", "local")
