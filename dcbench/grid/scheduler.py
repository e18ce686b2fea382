"""Scheduling: which cells are ready, handing them to a runner, and telling subscribers what happened.

The :class:`Scheduler` knows what the store already holds (it reads, never writes), keeps the
ready queue, and emits an event (:mod:`dcbench.events`) when a cell starts, moves and finishes;
the recorder and the display are subscribers. A runner sees only the :class:`CellQueue` side:
take a ready cell, say it started or moved, hand its record back. A finished condensed set
unlocks its evaluation cells at once, so classification starts while other sets are still being
condensed.

Rerun policy: ``missing`` computes cells with no stored record, ``failed`` also those whose stored
record failed, ``all`` everything. A record is written only when its cell finished, so a grid
killed at any moment leaves only finished records, and running it again computes exactly the rest.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from pathlib import Path
from typing import Any, Callable, Protocol

from dcbench.artifacts import load_artifact, resolve
from dcbench.condenser import Report
from dcbench.errors import ArtifactError, UserError
from dcbench.events import Finished, Progressed, Started, Subscriber, reporter
from dcbench.grid.plan import Join
from dcbench.records import CellRecord as Record
from dcbench.records import ProtocolResult
from dcbench.store import Store
from dcbench.tasks import EVAL, PROTOCOL, SYNTH, Task, eval_tasks, protocol_task

RERUN = ("missing", "failed", "all")


class CellQueue(Protocol):
    """What a runner may ask of the cells it runs."""

    @property
    def finished(self) -> bool: ...

    def take(self) -> Task | None: ...

    def started(self, task: Task) -> None: ...

    def progress(self, task: Task, step: int, total: int | None, metrics: str) -> None: ...

    def finish(self, task: Task, record: Record, where: dict[str, Any]) -> None: ...


class Runner(Protocol):
    """Where cells execute. Entering acquires the workers (a UserError if impossible); ``run`` takes
    cells from the queue until it is finished and hands every record back with ``queue.finish``."""

    description: str

    def __enter__(self) -> "Runner": ...

    def __exit__(self, *exc: object) -> None: ...

    def run(self, queue: CellQueue) -> None: ...


class Scheduler:
    """The cells of one run: what is stored, what is ready, what runs, what came back.

    ``unlocks(artifact_id)``: the evaluation tasks a new condensed set makes ready; ``estimate(task)``:
    how many a synth task will unlock (for the counts shown before its set exists).
    """

    def __init__(self, store: Store, results: Path, *, rerun: str = "missing",
                 unlocks: Callable[[str], list[Task]] = lambda artifact: [],
                 estimate: Callable[[Task], int] = lambda task: 0) -> None:
        if rerun not in RERUN:
            raise UserError(f"--rerun must be one of {', '.join(RERUN)}, got '{rerun}'")
        self.store, self.results, self.rerun = store, results, rerun
        self.unlocks, self.estimate = unlocks, estimate
        self.counts: Counter[str] = Counter()
        self.stored: dict[str, Record] = {}  # records found in the store and kept, by key
        self.records: dict[str, Record] = {}  # records of the cells finished in this run, by key
        self._subscribers: list[Subscriber] = []
        self._ready: dict[str, deque[Task]] = {EVAL: deque(), SYNTH: deque()}
        self._running: dict[str, Task] = {}
        self._expected = 0  # cells to compute, counting the evaluations of sets not made yet

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def _emit(self, event) -> None:
        for subscriber in self._subscribers:
            subscriber(event)

    # what is ready -------------------------------------------------------------------------------

    def admit(self, tasks: list[Task]) -> None:
        """Queue the tasks the rerun policy wants computed; keep the stored records of the others."""
        if not tasks:
            return
        synths = [t for t in tasks if t.kind == SYNTH]
        evals = [t for t in tasks if t.kind != SYNTH]
        for task in synths:
            self._admit_synth(task)
        stored = self.store.evaluations([t.key for t in evals if t.kind == EVAL])
        stored |= self.store.evaluations([t.key for t in evals if t.kind == PROTOCOL], ProtocolResult)
        for task in evals:
            record = stored.get(task.key)
            if self._wanted(record):
                self._ready[EVAL].append(task)
                self._expected += 1
            else:
                self._keep(record)

    def _admit_synth(self, task: Task) -> None:
        record = self.store.condensation(task.key)
        if record is not None and record.done and not self._artifact_exists(record.artifact):
            record = None  # its set was deleted: make it again
        if self._wanted(record):
            self._ready[SYNTH].append(task)
            self._expected += 1 + self.estimate(task)
            return
        self._keep(record)
        if record.done:
            self.admit(self.unlocks(record.artifact))
        else:
            self.counts["blocked"] += self.estimate(task)

    def _keep(self, record: Record) -> None:
        self.stored[record.key] = record
        self.counts["stored" if record.done else "kept failed"] += 1

    def _wanted(self, record: Record | None) -> bool:
        return record is None or self.rerun == "all" or (self.rerun == "failed" and not record.done)

    def _artifact_exists(self, artifact: str | None) -> bool:
        try:
            return artifact is not None and resolve(artifact, self.results).is_file()
        except ArtifactError:
            return False

    @property
    def to_compute(self) -> int:
        return self._expected

    # the runner's side (CellQueue) ------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return not (self._ready[EVAL] or self._ready[SYNTH] or self._running)

    def take(self) -> Task | None:
        """The next ready cell, evaluations first: they finish results, syntheses feed them."""
        queue = self._ready[EVAL] or self._ready[SYNTH]
        if not queue:
            return None
        task = queue.popleft()
        self._running[task.key] = task
        return task

    def started(self, task: Task) -> None:
        self._emit(Started(task.key, task.label))

    def progress(self, task: Task, step: int, total: int | None, metrics: str) -> None:
        self._emit(Progressed(task.key, task.label, step, total, metrics))

    def reporter(self, task: Task) -> Report:
        """A cell's ``report(step, **metrics)`` callback, for runners that run cells in this process."""
        return reporter(self._emit, task.key, task.label)

    def finish(self, task: Task, record: Record, where: dict[str, Any]) -> None:
        """A finished cell (once: a second report of the same cell is ignored): emitted to the
        subscribers, and the evaluations its artifact unlocks made ready."""
        if self._running.pop(task.key, None) is None:
            return
        self.records[task.key] = record
        self.counts["done" if record.done else "failed"] += 1
        try:
            if task.kind == SYNTH:
                estimate = self.estimate(task)
                self._expected -= estimate
                if record.done:
                    self.admit(self.unlocks(record.artifact))
                else:
                    self.counts["blocked"] += estimate
        finally:  # the record is written whatever unlocking its evaluations does
            self._emit(Finished(task.key, task.label, task.kind, record, where, self.counts["done"],
                                self.counts["failed"], self._expected))


def artifact_unlocks(results: Path, cls_nets: dict[str, list[str]], evals: int,
                     recipe: str | None = None) -> Callable[[str], list[Task]]:
    """A grid's ``unlocks``: every classification net of the set's data set, ``evals`` times,
    seeded from the set's own seed, under ``recipe`` (None: the set's own)."""

    def unlocks(artifact: str) -> list[Task]:
        loaded = load_artifact(artifact, results)
        return eval_tasks(loaded, cls_nets[loaded.metadata["dataset"]], evals, base_seed=loaded.metadata["seed"],
                          recipe=recipe)

    return unlocks


def protocol_unlocks(results: Path, joins: list[Join], store: Store) -> tuple[Callable[[str], list[Task]],
                                                                            Callable[[Task], int]]:
    """A protocol grid's ``unlocks`` and ``estimate``: a condenser run's evaluations become ready
    once every set of its views exists (each finished set is remembered until its join is complete);
    a synth task's estimate is the evaluations of the joins whose last set still to make (when the
    grid starts) it is."""
    made: dict[str, str] = {}  # condensation key -> artifact id
    waiting = list(joins)

    def unlocks(artifact: str) -> list[Task]:
        made[load_artifact(artifact, results).metadata["key"]] = artifact
        ready = [join for join in waiting if all(key in made for key in join.synth_keys)]
        tasks = []
        for join in ready:
            waiting.remove(join)
            sets = [load_artifact(made[key], results) for key in join.synth_keys]
            tasks += [protocol_task(cell.bind(sets)) for cell in join.cells(tuple(s.id for s in sets))]
        return tasks

    # read once, as the grid starts: a task's estimate must be the same when it is admitted and when it finishes
    done = {key for join in joins for key in set(join.synth_keys)
            if (record := store.condensation(key)) is not None and record.done}
    last_pending = defaultdict(int)
    for join in joins:
        if pending := [key for key in join.synth_keys if key not in done]:
            last_pending[pending[-1]] += len(join.cls_nets) * join.evals

    def estimate(task: Task) -> int:
        return last_pending.get(task.key, 0)

    return unlocks, estimate
