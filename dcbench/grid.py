"""The grid: condensers × synthesis nets × classification nets × data sets × ipc × runs, as cells.

``expand`` turns selectors into synth cells (one condensed set each) and lists the pairs a network
cannot take, with the reason, before anything runs. ``GridRun`` is the driver's side of a run: it
knows what the store already holds, hands out the cells that are ready (a cls cell as soon as its
artifact exists, so classification starts while other sets are still being condensed), and
records every row a runner brings back; it is the only writer of the store. ``execute`` runs one
cell wherever a runner puts it and never raises for the cell's own failures. Runners
(``dcbench.runner``) only decide where cells execute.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import socket
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

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
from rich.table import Table

from dcbench.artifacts import load_artifact, resolve
from dcbench.cells import (
    EvalCell,
    ResolvedSynth,
    SynthCell,
    Workspace,
    _error_text,
    eval_identity,
    eval_seed,
    run_eval,
    run_synth,
    schedules_of,
)
from dcbench.condenser import check_ipc
from dcbench.data import load_dataset
from dcbench.dataset import DatasetOptions
from dcbench.errors import ArtifactError, RegistryError, UserError
from dcbench.registry import NameConflict, PluginError, get_registry
from dcbench.runtime import digest, resolve_device
from dcbench.store import Store

RERUN = ("missing", "failed", "all")
WHOLE = "whole_data"


# --- expansion -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class GridRequest:
    """What the user asked for: selectors as typed (``all``, lists, globs, ``@suites``) and budgets."""

    condensers: str
    datasets: str = "digits"
    synth: str = "convnet"
    cls: str = "convnet"
    ipcs: tuple[int, ...] = (1,)
    seed: int = 0
    profile: str = "smoke"
    runs: int | None = None  # None: the profile's
    evals: int | None = None  # None: the profile's
    options: DatasetOptions = field(default_factory=DatasetOptions)
    overrides: tuple[tuple[str, Any], ...] = ()
    whole: bool = False  # also train every classification net on the whole training split


@dataclass(frozen=True)
class Skip:
    what: str
    reason: str
    # "refused": a pair that cannot work; "broken": a plugin that failed to load; "unknown": a selector
    # part that names nothing (a user's typo, reported again when the rest of the grid has run)
    cause: str = "refused"


@dataclass
class Plan:
    """The cells a request stands for. Cls cells are derived per artifact (their keys contain it)."""

    profile: str
    runs: int
    evals: int
    synths: list[ResolvedSynth]
    cls_nets: dict[str, list[str]]  # data set -> the classification nets that can take it
    wholes: list[EvalCell]
    skipped: list[Skip]
    datasets: list[str]
    condensers: list[str]
    ipcs: tuple[int, ...]
    # Failed rows for the cells of condensers that could not be loaded: there is no key to compute for
    # them, but the store should say that they were asked for and why they did not run.
    unloadable: list[dict[str, Any]] = field(default_factory=list)


def expand(request: GridRequest, *, data_root: Path, download: bool = False) -> Plan:
    """Every synth cell of the request, checked: names, plugins, hyperparameters, data and ipc.

    Everything a user can get wrong raises a UserError here, before any cell runs, except a plugin
    that fails to load and a selector part that names nothing: each is skipped with its error, so that
    one broken package (say, among ``all``) or one typo in a list does not stop the grid of every other
    component. A selector left with nothing at all still raises. Selection methods take no synthesis
    net, so they are expanded once per data set whatever ``--synth`` says.
    """
    skipped: list[Skip] = []
    try:
        return _expand(request, data_root, download, skipped)
    except UserError as exc:
        # the grid stops here, so the typos left out so far would otherwise go unreported
        typos = [skip.what for skip in skipped if skip.cause == "unknown" and skip.reason != str(exc)]
        if typos:
            raise UserError(f"{exc} (also unknown: {', '.join(typos)})") from exc
        raise


def _expand(request: GridRequest, data_root: Path, download: bool, skipped: list[Skip]) -> Plan:
    reg = get_registry()
    profile = reg.profile(request.profile)
    runs = _positive(request.runs, profile.runs, "--runs")
    evals = _positive(request.evals, profile.evals, "--evals")
    if not request.ipcs:
        raise UserError("--ipc needs at least one value")

    def chosen(option: str, kind: str, selector: str) -> list[str]:
        unknown: list[tuple[str, UserError]] = []
        names = reg.select(kind, selector, unknown=unknown)
        skipped.extend(Skip(f"{option} {part}", str(exc), cause=_cause(exc)) for part, exc in unknown)
        return names

    def loaded(option: str, kind: str, selector: str, load: Callable[[str], Any]) -> dict[str, Any]:
        return _loaded(kind, option, chosen(option, kind, selector), load, skipped)

    condensers = loaded("-c/--condenser", "condenser", request.condensers, reg.condenser)
    datasets = chosen("--dataset", "dataset", request.datasets)
    users = [name for name, cls in condensers.items() if cls.spec.needs_network]
    synth_nets = list(loaded("--synth", "architecture", request.synth, reg.architecture)) if users else []
    cls_nets = list(loaded("--cls", "architecture", request.cls, reg.architecture))
    overrides = _split_overrides(condensers, request.overrides)

    synths: dict[str, ResolvedSynth] = {}
    cls_by_dataset: dict[str, list[str]] = {}
    wholes: list[EvalCell] = []
    unloadable: list[dict[str, Any]] = []
    for dataset in datasets:
        try:
            data = load_dataset(dataset, request.options, root=data_root, download=download)
        except PluginError as exc:
            skipped.append(Skip(f"dataset {dataset}", str(exc), cause="broken"))
            continue
        for ipc in request.ipcs:
            check_ipc(data.train, ipc)
        spec = data.spec
        shape = f"{spec.channels}×{spec.size}×{spec.size}"
        refused = {net: reason for net in dict.fromkeys([*synth_nets, *cls_nets])
                   if (reason := reg.architecture(net).spec.refusal(in_chans=spec.channels, img_size=spec.size))}
        skipped += [Skip(f"synthesis net {net} on {dataset} ({shape}) for {', '.join(users)}", refused[net])
                    for net in synth_nets if net in refused]
        skipped += [Skip(f"classification net {net} on {dataset} ({shape})", refused[net])
                    for net in cls_nets if net in refused]
        cls_by_dataset[dataset] = [net for net in cls_nets if net not in refused]
        unloadable += [
            {"key": digest({"unloadable": skip.what, "dataset": dataset, "options": dataclasses.asdict(request.options),
                            "ipc": ipc, "seed": request.seed + run, "profile": profile.name}),
             "status": "failed", "error": f"its plugin failed to load: {skip.reason}",
             "condenser": skip.what.removeprefix("condenser "), "dataset": dataset, "ipc": ipc,
             "seed": request.seed + run, "profile": profile.name}
            for skip in skipped if skip.cause == "broken" and skip.what.startswith("condenser ")
            for ipc, run in itertools.product(request.ipcs, range(runs))]
        for name, condenser in condensers.items():
            nets = [n for n in synth_nets if n not in refused] if condenser.spec.needs_network else [None]
            for net, ipc, run in itertools.product(nets, request.ipcs, range(runs)):
                cell = SynthCell(condenser=name, dataset=dataset, ipc=ipc, seed=request.seed + run,
                                 profile=profile.name, synth_net=net, options=request.options,
                                 overrides=overrides[name])
                resolved = cell.resolved()
                synths.setdefault(resolved.key, resolved)
        if request.whole:
            wholes += [EvalCell(cls_net=net, eval_index=i, seed=eval_seed(request.seed, None, net, i),
                                profile=profile.name, dataset=dataset, options=request.options)
                       for net in cls_by_dataset[dataset] for i in range(evals)]
    if not synths and not wholes:
        raise UserError("nothing to run: every pair of this grid was skipped (see the list above)")
    return Plan(profile.name, runs, evals, list(synths.values()), cls_by_dataset, wholes, skipped, datasets,
                list(condensers), tuple(request.ipcs), unloadable)


def _cause(exc: Exception) -> str:
    """A typo is the user's to fix; a plugin that fails to load or clashes with another is its package's."""
    return "broken" if isinstance(exc, (PluginError, NameConflict)) else "unknown"


def _positive(value: int | None, default: int, option: str) -> int:
    if value is None:
        return default
    if value < 1:
        raise UserError(f"{option} must be at least 1, got {value}")
    return value


def _loaded(kind: str, option: str, names: list[str], load: Callable[[str], Any],
            skipped: list[Skip]) -> dict[str, Any]:
    """The components that load, by name; each one that fails to is added to ``skipped`` (once).

    A name space's unknown model (``timm:nosuch``) is only found out here, so it is a typo like an
    unknown selector part: left out, unless nothing else was selected.
    """
    found: dict[str, Any] = {}
    unknown: list[RegistryError] = []
    for name in names:
        try:
            found[name] = load(name)
        except (PluginError, RegistryError) as exc:
            if _cause(exc) == "broken":
                skip = Skip(f"{kind} {name}", str(exc), cause="broken")
            else:
                unknown.append(exc)
                skip = Skip(f"{option} {name}", str(exc), cause="unknown")
            if skip not in skipped:
                skipped.append(skip)
    if unknown and not found:
        raise unknown[0]
    return found


def _split_overrides(condensers: dict[str, type], overrides: Iterable[tuple[str, Any]]):
    """``--set`` applies to every selected condenser that has the key; a key none has is a typo."""
    fields = {name: {f.name for f in dataclasses.fields(cls.Config)} if dataclasses.is_dataclass(cls.Config)
              else set() for name, cls in condensers.items()}
    overrides = tuple(overrides)
    for key, _ in overrides:
        if not any(key in names for names in fields.values()):
            raise UserError(f"--set {key}: none of the selected condensers ({', '.join(condensers)}) has a "
                            f"hyperparameter '{key}'; see their Config in `dcbench list condensers`")
    return {name: tuple((k, v) for k, v in overrides if k in names) for name, names in fields.items()}


# --- cells as tasks ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Task:
    """One cell to execute. ``known`` holds the store columns the driver knows before the cell runs,
    so that a cell which dies without a row of its own still gets a failed row that says what it was."""

    kind: str  # "synth" or "eval"
    key: str
    label: str
    cell: SynthCell | EvalCell
    known: dict[str, Any]

    def failed_row(self, error: str) -> dict[str, Any]:
        return {**self.known, "key": self.key, "status": "failed", "error": error}


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


Report = Callable[..., None]


def execute(task: Task, worker: WorkerSpec, report: Report | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run one cell; returns its store row and where and when it ran. Never raises for the cell's failures:
    a condenser's or a network's exception, a plugin that breaks in the worker, missing data there —
    each is the cell's failed row, and the grid goes on."""
    started = time.time()
    try:
        ws = worker.workspace()
        if isinstance(task.cell, SynthCell):
            row = run_synth(ws, task.cell.resolved(), report=report)
        else:
            row = run_eval(ws, task.cell, report=report)
        if row["key"] != task.key:
            row = task.failed_row(f"the worker computed key {row['key']} for this cell, the driver {task.key}: "
                                  "driver and workers must run the same dcbench and plugin versions")
    except (Exception, SystemExit) as exc:  # a plugin's sys.exit() ends its cell, not the grid
        row = task.failed_row(_error_text(exc))
    return row, {"host": socket.gethostname(), "pid": os.getpid(), "started_at": started, "finished_at": time.time()}


def metrics_text(metrics: dict[str, Any]) -> str:
    return "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())


# --- the driver ----------------------------------------------------------------------------------

class Runner(Protocol):
    """Where cells execute. Entering acquires the workers (a UserError if impossible); ``run`` takes
    cells from the grid until it is finished and hands every row back with ``grid.finish``."""

    description: str

    def __enter__(self) -> "Runner": ...

    def __exit__(self, *exc: object) -> None: ...

    def run(self, grid: "GridRun") -> None: ...


class GridRun:
    """The driver's state of one grid run: what is stored, what is ready, what runs, what came back.

    Rerun policy: ``missing`` computes cells with no stored row, ``failed`` also those whose stored row
    failed, ``all`` everything. A row is written only when its cell finished, so a grid killed at any
    moment leaves only finished rows, and running it again computes exactly the rest.
    """

    def __init__(self, plan: Plan, store: Store, results: Path, rerun: str = "missing",
                 console: Console | None = None) -> None:
        if rerun not in RERUN:
            raise UserError(f"--rerun must be one of {', '.join(RERUN)}, got '{rerun}'")
        self.plan, self.store, self.results, self.rerun = plan, store, results, rerun
        self.console = console or Console(stderr=True)
        self.counts: Counter[str] = Counter()
        self.failures: list[tuple[str, str]] = []
        self.run_id: str | None = None
        self._ready: dict[str, deque[Task]] = {"eval": deque(), "synth": deque()}
        self._running: dict[str, Task] = {}
        self._expected = 0  # cells to compute this run, counting the cls cells of sets not made yet
        self._display: GridDisplay | None = None
        self._log = None
        for resolved in plan.synths:
            self._admit_synth(resolved)
        self._admit([_whole_task(cell, plan.evals) for cell in plan.wholes])

    # what is ready -----------------------------------------------------------------------------

    def _evals_per_set(self, dataset: str) -> int:
        return len(self.plan.cls_nets[dataset]) * self.plan.evals

    def _admit_synth(self, resolved: ResolvedSynth) -> None:
        row = self.store.condensation(resolved.key)
        status = row["status"] if row else None
        if status == "done" and not self._artifact_exists(row["artifact"]):
            status = None
        if self._wanted(status):
            self._ready["synth"].append(_synth_task(resolved))
            self._expected += 1 + self._evals_per_set(resolved.identity["dataset"])
        elif status == "done":
            self.counts["stored"] += 1
            self._admit(self._eval_tasks(row["artifact"]))
        else:
            self.counts["kept failed"] += 1
            self.counts["blocked"] += self._evals_per_set(resolved.identity["dataset"])

    def _admit(self, tasks: list[Task]) -> int:
        status = self.store.evaluation_status([t.key for t in tasks])
        wanted = 0
        for task in tasks:
            if self._wanted(status.get(task.key)):
                self._ready["eval"].append(task)
                wanted += 1
            else:
                self.counts["stored" if status[task.key] == "done" else "kept failed"] += 1
        self._expected += wanted
        return wanted

    def _wanted(self, status: str | None) -> bool:
        return status is None or self.rerun == "all" or (self.rerun == "failed" and status == "failed")

    def _artifact_exists(self, artifact: str | None) -> bool:
        try:
            return artifact is not None and resolve(artifact, self.results).is_file()
        except ArtifactError:
            return False

    def _eval_tasks(self, artifact: str) -> list[Task]:
        meta = load_artifact(artifact, self.results).metadata
        known = {"artifact": artifact, "condensation": meta["key"], "condenser": meta["condenser"],
                 "condenser_version": meta["condenser_version"], "synth_net": meta["synth_net"], "ipc": meta["ipc"],
                 "run_seed": meta["seed"], "dataset": meta["dataset"], "profile": meta["profile"]}
        what = f"{meta['condenser']}{'/' + meta['synth_net'] if meta['synth_net'] else ''} {meta['dataset']} " \
               f"ipc {meta['ipc']} seed {meta['seed']}"
        tasks = []
        for net, schedule, i in itertools.product(self.plan.cls_nets[meta["dataset"]], schedules_of(meta),
                                                  range(self.plan.evals)):
            cell = EvalCell(cls_net=net, eval_index=i, seed=eval_seed(meta["seed"], artifact, net, i),
                            profile=meta["profile"], artifact=artifact, schedule=schedule)
            key, identity, _ = eval_identity(cell, meta)
            label = f"{net}{'' if schedule == 'standard' else f' ({schedule})'} net {i + 1}/{self.plan.evals} ← {what}"
            tasks.append(Task("eval", key, label, cell, {
                **known, "cls_net": net, "cls_net_version": identity["cls_net_version"], "schedule": schedule,
                "eval_index": i, "seed": cell.seed}))
        return tasks

    # the runner's side ------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return not (self._ready["eval"] or self._ready["synth"] or self._running)

    def take(self) -> Task | None:
        """The next ready cell, cls cells first: they finish results, synth cells feed them."""
        queue = self._ready["eval"] or self._ready["synth"]
        if not queue:
            return None
        task = queue.popleft()
        self._running[task.key] = task
        return task

    def started(self, task: Task) -> None:
        if self._display:
            self._display.started(task)

    def progress(self, task: Task, step: int, total: int | None, metrics: str) -> None:
        if self._display:
            self._display.advanced(task, step, total, metrics)

    def reporter(self, task: Task) -> Report:
        def report(step: int, **metrics: Any) -> None:
            total = metrics.pop("total", None)
            self.progress(task, step, total, metrics_text(metrics))

        return report

    def finish(self, task: Task, row: dict[str, Any], where: dict[str, Any]) -> None:
        """Record a finished cell (once: a second report of the same cell is ignored) and release
        the cls cells its artifact unlocks."""
        if self._running.pop(task.key, None) is None:
            return
        row = {**row, "run_id": self.run_id}
        if task.kind == "synth":
            self.store.record_condensation(row)
        else:
            self.store.record_evaluation(row)
        done = row["status"] == "done"
        self.counts["done" if done else "failed"] += 1
        if not done:
            self.failures.append((task.label, row.get("error") or "unknown error"))
        if self._log:
            self._log.write(json.dumps({"key": task.key, "kind": task.kind, "label": task.label,
                                        "status": row["status"], **where}) + "\n")
            self._log.flush()
        if task.kind == "synth":
            estimate = self._evals_per_set(task.cell.dataset)
            self._expected -= estimate
            if done:
                self._admit(self._eval_tasks(row["artifact"]))
            else:
                self.counts["blocked"] += estimate
        if self._display:
            self._display.finished(task, row, self._expected)

    # the run ------------------------------------------------------------------------------------

    @property
    def to_compute(self) -> int:
        return self._expected

    def execute_with(self, runner: Runner, argv: list[str]) -> None:
        """Run every ready cell with ``runner``, recording the run in the store and a cell log.

        ``<results>/logs/grid-<run id>.jsonl`` gets one line per finished cell: its key, status, and
        where and when it ran (host, pid, start and end, and under Ray the GPU ids Ray assigned)."""
        with runner:
            self.run_id = self.store.start_run("grid", argv, runner.description, _versions())
            for row in self.plan.unloadable:
                self.store.record_condensation({**row, "run_id": self.run_id})
            log_dir = self.results / "logs"
            log_dir.mkdir(parents=True, exist_ok=True)
            status = "interrupted"
            try:
                with open(log_dir / f"grid-{self.run_id}.jsonl", "a") as self._log, \
                        GridDisplay(self.console, self.counts, self._expected) as self._display:
                    runner.run(self)
                status = "failed" if self.counts["failed"] else "done"
            finally:
                self._display = self._log = None
                self.store.finish_run(self.run_id, status)


def _synth_task(resolved: ResolvedSynth) -> Task:
    ident, cell = resolved.identity, resolved.cell
    label = f"{ident['condenser']}{'/' + ident['synth_net'] if ident['synth_net'] else ''} {ident['dataset']} " \
            f"ipc {cell.ipc} seed {cell.seed}"
    known = {"condenser": ident["condenser"], "condenser_version": ident["condenser_version"],
             "config": ident["config"], "profile": ident["profile"], "dataset": ident["dataset"],
             "dataset_version": ident["dataset_version"], "synth_net": ident["synth_net"],
             "synth_net_version": ident["synth_net_version"], "ipc": cell.ipc, "seed": cell.seed}
    return Task("synth", resolved.key, label, cell, known)


def _whole_task(cell: EvalCell, evals: int) -> Task:
    key, identity, _ = eval_identity(cell, None)
    known = {"condenser": WHOLE, "condenser_version": 1, "dataset": identity["dataset"], "cls_net": cell.cls_net,
             "cls_net_version": identity["cls_net_version"], "profile": cell.profile, "schedule": cell.schedule,
             "eval_index": cell.eval_index, "seed": cell.seed}
    return Task("eval", key, f"{cell.cls_net} net {cell.eval_index + 1}/{evals} ← whole {identity['dataset']}",
                cell, known)


def _versions() -> dict[str, str]:
    from dcbench.runtime import versions

    return versions()


# --- display -------------------------------------------------------------------------------------

class GridDisplay:
    """Live progress on stderr: one line for the grid (cells done of those to compute, failures, ETA)
    and one per running cell, moved by the cell's ``report`` callback (through Ray: its throttled
    intermediate results)."""

    def __init__(self, console: Console, counts: Counter[str], expected: int) -> None:
        self.counts = counts
        # ETA over a long window: cells differ by orders of magnitude in cost (synth vs cls)
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[metrics]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                            console=console, speed_estimate_period=3600)
        self.grid = self.bar.add_task("grid", total=expected, metrics="")
        self.cells: dict[str, TaskID] = {}

    def __enter__(self) -> "GridDisplay":
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def started(self, task: Task) -> None:
        self.cells[task.key] = self.bar.add_task(f"  {escape(task.label)}", total=None, metrics="")
        self._show_counts()

    def advanced(self, task: Task, step: int, total: int | None, metrics: str) -> None:
        if task.key in self.cells:
            self.bar.update(self.cells[task.key], completed=step, metrics=escape(metrics),
                            **({"total": total} if total else {}))

    def finished(self, task: Task, row: dict[str, Any], expected: int) -> None:
        if task.key in self.cells:
            self.bar.remove_task(self.cells.pop(task.key))
        if row["status"] != "done":
            self.bar.console.print(f"[red]failed[/red] {escape(task.label)}: {escape(row.get('error') or '')}",
                                   highlight=False)
        self.bar.update(self.grid, completed=self.counts["done"] + self.counts["failed"], total=expected)
        self._show_counts()

    def _show_counts(self) -> None:
        self.bar.update(self.grid, metrics=f"running {len(self.cells)}  failed {self.counts['failed']}")


def skipped_table(skipped: list[Skip]) -> Table:
    table = Table("skipped", "why", title="left out of this grid", title_justify="left")
    for skip in skipped:
        table.add_row(escape(skip.what), escape(skip.reason))
    return table


def summary_table(run: GridRun) -> Table:
    counts = run.counts
    table = Table("cells", "count", title="grid summary", title_justify="left")
    for label, value in (("computed now", counts["done"]), ("failed now", counts["failed"]),
                         ("already stored", counts["stored"]), ("failed earlier (kept)", counts["kept failed"]),
                         ("blocked (their synthesis failed)", counts["blocked"]),
                         ("left out (listed above)", len(run.plan.skipped))):
        if value:
            table.add_row(label, str(value))
    return table


def leaderboard_tables(run: GridRun) -> list[Table]:
    """The leaderboard of this grid's data sets (and ipc, when it has one) under its profile."""
    from dcbench.leaderboard import load_board, terminal_tables

    plan = run.plan
    ipc = plan.ipcs[0] if len(plan.ipcs) == 1 else None
    tables = []
    for dataset in plan.datasets:
        board = load_board(run.store, dataset=dataset, ipc=ipc, profile=plan.profile)
        if board.entries:
            tables += terminal_tables(board)
    return tables
