"""Grids: condensers × synthesis nets × classification nets × data sets × ipc × runs, as cells.

:mod:`dcbench.grid.plan` expands a request into checked cells and what it leaves out;
:mod:`dcbench.grid.scheduler` hands ready cells to a runner (:mod:`dcbench.runner`) and emits
events. :meth:`dcbench.Bench.grid` puts them together with the recorder and any display.
"""

from dcbench.grid.plan import GridRequest, Plan, Skip, expand

__all__ = ["GridRequest", "Plan", "Skip", "expand"]
