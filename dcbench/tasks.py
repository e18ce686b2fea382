"""Cells as tasks: what a runner hands to a worker, and how a worker runs one.

A :class:`Task` is a cell request with its key, a label for people and its *skeleton*, the record
as far as it is known before the cell runs, so that a cell which dies without a record of its own
still gets a failed one that says what it was. Tasks carry plain data only: they travel to Ray
workers, whose processes bind the cell again with their own registry and must find the same key.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dcbench.artifacts import Artifact, load_artifact
from dcbench.cells import BoundSynth, EvalCell, SynthCell, Workspace, error_text, eval_seed, run_eval, run_synth
from dcbench.classification import STANDARD, schedules_of
from dcbench.condenser import Report
from dcbench.dataset import DatasetOptions
from dcbench.errors import UserError
from dcbench.protocol_cell import BoundProtocol, ProtocolCell, run_protocol
from dcbench.records import CellRecord
from dcbench.registry import get_registry
from dcbench.runtime import resolve_device

SYNTH, EVAL, PROTOCOL = "synth", "eval", "protocol"


@dataclass(frozen=True)
class Task:
    kind: str  # SYNTH, EVAL or PROTOCOL
    key: str
    label: str
    cell: SynthCell | EvalCell | ProtocolCell
    skeleton: CellRecord

    def failed(self, error: str) -> CellRecord:
        return dataclasses.replace(self.skeleton.failed(error), finished_at=time.time())


def synth_task(bound: BoundSynth) -> Task:
    return Task(SYNTH, bound.key, bound.label, bound.cell, bound.skeleton())


def eval_tasks(artifact: Artifact, nets: list[str], evals: int, *, base_seed: int,
               profile: str | None = None, recipe: str | None = None) -> list[Task]:
    """The evaluations of one condensed set: ``evals`` fresh nets per network and schedule.

    ``profile``: the classification budgets to use (default: the set's own profile); ``recipe``: how
    the nets are trained (default: the set's own, its condenser's paper's). A set imported
    from a dcbench export draws the nets of the set it was exported from (``same_as``), so that the
    same tensors give the same accuracies."""
    meta = artifact.metadata
    basis = meta.get("same_as") or artifact.id
    what = f"{meta['condenser']}{'/' + meta['synth_net'] if meta['synth_net'] else ''} {meta['dataset']} " \
           f"ipc {meta['ipc']} seed {meta['seed']}"
    tasks = []
    for net, schedule, i in itertools.product(nets, schedules_of(meta), range(evals)):
        cell = EvalCell(cls_net=net, eval_index=i, seed=eval_seed(base_seed, basis, net, i),
                        profile=profile or meta["profile"], artifact=artifact.id, schedule=schedule, recipe=recipe)
        bound = cell.bind(artifact)
        shown = net if schedule == STANDARD else f"{net} ({schedule} schedule)"
        tasks.append(Task(EVAL, bound.key, f"{shown} net {i + 1}/{evals} ← {what}", cell, bound.skeleton()))
    return tasks


def protocol_task(bound: BoundProtocol) -> Task:
    return Task(PROTOCOL, bound.key, bound.label, bound.cell, bound.skeleton())


def whole_tasks(dataset: str, options: DatasetOptions, nets: list[str], evals: int, *, base_seed: int,
                profile: str) -> list[Task]:
    """Training on the whole training split: ``evals`` nets per network (the whole-data runs of seeds
    ``base_seed``, ``base_seed + 1``, …)."""
    tasks = []
    for net, i in itertools.product(nets, range(evals)):
        cell = EvalCell(cls_net=net, eval_index=i, seed=eval_seed(base_seed, None, net, i), profile=profile,
                        dataset=dataset, options=options)
        bound = cell.bind()
        tasks.append(Task(EVAL, bound.key, f"{net} net {i + 1}/{evals} ← whole {bound.dataset}", cell,
                          bound.skeleton()))
    return tasks


@dataclass(frozen=True)
class WorkerSpec:
    """What a process needs to run cells: plain paths and names, so that it travels to Ray workers
    (whose environment and working directory are not the driver's)."""

    results: str
    data_root: str
    device: str
    registry: str | None = None  # the driver's $DCBENCH_REGISTRY

    def workspace(self) -> Workspace:
        if os.environ.get("DCBENCH_REGISTRY") != self.registry:
            # a reused Ray worker may have served a grid with another registry file
            if self.registry is None:
                os.environ.pop("DCBENCH_REGISTRY", None)
            else:
                os.environ["DCBENCH_REGISTRY"] = self.registry
            get_registry.cache_clear()
        return Workspace(results=Path(self.results), data_root=Path(self.data_root), device=resolve_device(self.device))


def execute(task: Task, worker: WorkerSpec, report: Report | None = None, *,
            user_errors: bool = False) -> tuple[CellRecord, dict[str, Any]]:
    """Run one cell; returns its record and where and when it ran. Never raises for the cell's failures:
    a condenser's or a network's exception, a plugin that breaks in the worker, missing data there —
    each is the cell's failed record, and the grid goes on. With ``user_errors`` a UserError is
    raised instead: a single cell run for the user is their mistake to fix, not a result."""
    started = time.time()
    try:
        ws = worker.workspace()
        if isinstance(task.cell, SynthCell):
            record = run_synth(ws, task.cell.bind(), report=report)
        elif isinstance(task.cell, ProtocolCell):
            sets = [load_artifact(ref, ws.results) for ref in task.cell.artifacts]
            record = run_protocol(ws, task.cell.bind(sets), report=report)
        else:
            artifact = load_artifact(task.cell.artifact, ws.results) if task.cell.artifact else None
            record = run_eval(ws, task.cell.bind(artifact), report=report)
        if record.key != task.key:
            record = task.failed(f"the worker computed key {record.key} for this cell, the driver {task.key}: "
                                 "driver and workers must run the same dcbench and plugin versions")
    except (Exception, SystemExit) as exc:  # a plugin's sys.exit() ends its cell, not the grid
        if user_errors and isinstance(exc, UserError):
            raise
        record = task.failed(error_text(exc))
    return record, {"host": socket.gethostname(), "pid": os.getpid(), "started_at": started, "finished_at": time.time()}
