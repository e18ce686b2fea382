"""The application layer: :class:`Bench`, which the CLI, the grid and notebooks share.

Every command of the CLI is one call here, with the same names and defaults, so what a command
does a notebook can do too. Calls return typed, frozen records (:mod:`dcbench.records`); a call
whose result is stored returns the stored record without computing it; a user's mistake raises a
:class:`dcbench.UserError` (the CLI prints its message as one line and exits with 2) before any
run is recorded. Bench is the store's only writer, through :mod:`dcbench.recorder`.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from dcbench.artifacts import Artifact, keep, load_artifact
from dcbench.cells import SynthCell, Workspace, check_inputs
from dcbench.classification import STANDARD
from dcbench.data import load_dataset
from dcbench.dataset import DatasetOptions, default_data_root
from dcbench.errors import UserError
from dcbench.events import Ended, Finished, Planned, Reused, Started, Subscriber, reporter
from dcbench.grid.plan import GridRequest, expand
from dcbench.grid.result import GridResult
from dcbench.grid.scheduler import Runner, Scheduler, artifact_unlocks, protocol_unlocks
from dcbench.imports import Exported, ImportRequest, export_set, prepare, store_prepared
from dcbench.interchange import Keys, format_named
from dcbench.leaderboard import Leaderboard, open_leaderboard
from dcbench.profiles import budget
from dcbench.protocol import DEFAULT_PROTOCOL
from dcbench.recipe import DC_RECIPE, check_recipe
from dcbench.recorder import Recorder, RunLog
from dcbench.records import Benchmark, Condensation, Evaluation
from dcbench.registry import Listing, get_registry
from dcbench.reproduce import Reproduction, compare, plan_study
from dcbench.runner import RunnerOptions, runner_kind
from dcbench.runner.local import LocalRunner
from dcbench.runtime import resolve_device
from dcbench.store import NoResults, Store, check_folder
from dcbench.study import Study
from dcbench.tasks import Task, WorkerSpec, eval_tasks, synth_task, whole_tasks
from dcbench.testing import CheckResult, conformance
from dcbench.timing import time_cell, variant_label, variants, with_variant

#: Where results go when neither ``results=`` nor $DCBENCH_RESULTS says.
DEFAULT_RESULTS = Path("dcbench-results")

Selector = str | Sequence[str]

# The API call being served, as a run records it when the Bench was given no command line.
_CALL: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("dcbench_call", default=None)


def _recorded(method):
    signature = inspect.signature(method)

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        given = list(signature.bind(self, *args, **kwargs).arguments.items())[1:]
        token = _CALL.set([f"Bench.{method.__name__}", *(f"{name}={value!r}" for name, value in given)])
        try:
            return method(self, *args, **kwargs)
        finally:
            _CALL.reset(token)

    return call


class Bench:
    """One results folder, data root and device, and everything dcbench does with them.

    ``results``: the results folder (None: ``$DCBENCH_RESULTS``, else ``./dcbench-results``);
    ``data_root``: the data sets (None: ``$DCBENCH_DATA``, else ``~/.cache/dcbench/data``);
    ``device``: ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``; ``profile``: the
    profile of calls that do not name one; ``download``: fetch missing data sets;
    ``on_event``: called with every event (:mod:`dcbench.events`) of the cells that run, e.g. to
    show progress; ``argv``: the command line to record with each run (None: the Python call).
    """

    def __init__(self, results: str | Path | None = None, data_root: str | Path | None = None,
                 device: str = "auto", profile: str = "smoke", *, download: bool = False,
                 on_event: Subscriber | None = None, argv: Sequence[str] | None = None) -> None:
        self.results = Path(results or os.environ.get("DCBENCH_RESULTS") or DEFAULT_RESULTS).expanduser().resolve()
        self.data_root = Path(data_root or default_data_root()).expanduser().resolve()
        self.device = device
        self.profile = profile
        self.download = download
        self.on_event = on_event
        self.argv = list(argv) if argv is not None else None

    # --- names ---------------------------------------------------------------------------------

    def select(self, kind: str, selector: Selector, *, load: bool = False) -> list[str]:
        """Expand a selector (``all``, comma lists, globs, ``@suites``, ``timm:`` names, or a list of
        them) into the canonical names of ``kind``: condenser, architecture, dataset, study or protocol. ``load``: also
        load each component, so that a plugin that fails to load is an error now."""
        registry = get_registry()
        names = registry.select(kind, _selector(selector))
        if load:
            for name in names:
                registry.component(kind, name)
        return names

    def components(self, kind: str | None = None, pattern: str | None = None) -> list[Listing]:
        """Every registered component of ``kind`` (condenser, architecture, dataset; None: all kinds,
        with the names defined twice and malformed entry points), or those matching the selector
        ``pattern``; each loaded, so a broken plugin's row says why."""
        return get_registry().listing(kind, pattern)

    def check(self, kind: str, name: str, *, overrides: Mapping[str, Any] | None = None,
              profile: str | None = None) -> list[CheckResult]:
        """Run the conformance checks of :mod:`dcbench.testing` on the registered component ``name``
        of ``kind`` (condenser, architecture, dataset or protocol), in order, up to the first that fails."""
        return conformance(kind, name, overrides=dict(_overrides(overrides)), profile=profile or self.profile,
                           root=self.data_root, download=self.download)

    # --- one condensed set ---------------------------------------------------------------------

    @_recorded
    def synthesize(self, condenser: str, *, dataset: str = "digits", ipc: int = 1, seed: int = 0,
                   synth: str | None = None, overrides: Mapping[str, Any] | None = None, profile: str | None = None,
                   size: int | None = None, channels: int | None = None, zca: bool = False,
                   rerun: bool = False) -> Condensation:
        """Condense ``dataset`` into ``ipc`` images per class; returns the condensation record, whose
        ``artifact`` is the set's id. A set already stored is returned as stored (``rerun`` makes it again)."""
        cell = SynthCell(condenser=condenser, dataset=dataset, ipc=ipc, seed=seed, profile=profile or self.profile,
                         synth_net=synth, options=DatasetOptions.of(size, channels, zca),
                         overrides=_overrides(overrides))
        bound = cell.bind()
        task = synth_task(bound)
        queue = self._queue([task], rerun="all" if rerun else "failed")
        if task.key in queue.stored:
            self._emit(Reused(queue.stored[task.key]))
            return queue.stored[task.key]
        ws = self._workspace()
        check_inputs(ws, bound)  # user errors surface before the store is opened for writing
        with self._store() as store:
            log = self._execute(store, queue, "synth", ws.device.type)
        return log.written[task.key]

    # --- evaluation ------------------------------------------------------------------------------

    @_recorded
    def evaluate(self, artifact: str, *, cls: Selector = "convnet", evals: int | None = None, seed: int = 0,
                 profile: str | None = None, size: int | None = None, channels: int | None = None,
                 zca: bool | None = None, recipe: str | None = None) -> list[Evaluation]:
        """Train ``evals`` fresh nets (default: the profile's) of each ``cls`` network on a condensed set
        (id, unique 6+ digit prefix, or file) and test them; under its learned schedule too, when the set
        has one. ``profile``: whose classification budgets (default: the set's; for an imported set, the
        Bench's); ``recipe``: ``dc`` or ``dsa`` (default: the set's condenser's, for imports, as declared). One
        record per net, in the order network, schedule, net; nets already stored are not trained again.
        The data set is served as the set was made; ``size``, ``channels`` and ``zca``, when given, must
        say the same (``zca=False`` for a whitened set is refused: its test split is whitened)."""
        check_recipe(recipe)
        nets = self.select("architecture", cls)
        loaded = load_artifact(artifact, self.results)
        meta = loaded.metadata
        _check_serving(meta, size=size, channels=channels, zca=zca)
        profile = profile or meta["profile"] or self.profile  # an imported set has no profile of its own
        n = budget(evals, get_registry().profile(profile).evals, "--evals")
        tasks = eval_tasks(loaded, nets, n, base_seed=seed, profile=profile, recipe=recipe)
        return self._evaluations(tasks, meta["dataset"], DatasetOptions(**meta["options"]), artifact=loaded)

    @_recorded
    def evaluate_whole(self, *, dataset: str, cls: Selector = "convnet", evals: int | None = None, seed: int = 0,
                       profile: str | None = None, size: int | None = None, channels: int | None = None,
                       zca: bool = False) -> list[Evaluation]:
        """Train ``cls`` networks on the whole training split of ``dataset`` (the "whole dataset"
        reference: the whole-data runs of seeds ``seed`` … ``seed + evals - 1``) and test them."""
        nets = self.select("architecture", cls)
        profile = profile or self.profile
        n = budget(evals, get_registry().profile(profile).evals, "--evals")
        options = DatasetOptions.of(size, channels, zca)
        tasks = whole_tasks(dataset, options, nets, n, base_seed=seed, profile=profile)
        return self._evaluations(tasks, dataset, options)

    def _evaluations(self, tasks: list[Task], dataset: str, options: DatasetOptions, *,
                     artifact: Artifact | None = None) -> list[Evaluation]:
        queue = self._queue(tasks, rerun="failed")
        written: dict[str, Any] = {}
        if not queue.finished:
            # missing data is the user's to fix: found before the run, not as failed cells
            load_dataset(dataset, options, root=self.data_root, download=self.download)
            ws = self._workspace()
            with self._store() as store:
                if artifact is not None:
                    keep(artifact, self.results)  # a set given as a file: its cells find it by id
                written = self._execute(store, queue, "eval", ws.device.type).written
        for record in queue.stored.values():
            self._emit(Reused(record))
        return [written.get(task.key) or queue.stored[task.key] for task in tasks]

    # --- sets made elsewhere ----------------------------------------------------------------------

    @_recorded
    def import_set(self, path: str | Path, *, dataset: str, format: str | None = None,
                   normalization: str | None = None, name: str = "imported", source: str | None = None,
                   size: int | None = None, channels: int | None = None, zca: bool = False,
                   images_key: str = "images", labels_key: str = "labels", recipe: str = "dc") -> list[Condensation]:
        """Import the condensed set(s) of a file or folder made by another codebase, for ``dataset`` served
        as the set was made (``size``, ``channels``, ``zca``). ``format``: dc, mtt, tensors or folder (None:
        told from the content); ``normalization``: dataset, unit or zca (None: unit for a folder of
        images, else dataset), declared, never guessed (docs/import.md); ``recipe``: how its evaluation
        nets train unless told otherwise, ``dsa`` for sets of DSA or DM. Every set is checked before any
        is stored; each becomes an artifact and a done condensation record named ``import:NAME``, one
        per experiment of a dc file. Importing the same file again returns the same records."""
        request = ImportRequest(Path(path), dataset, format=format, normalization=normalization, name=name,
                                source=source, options=DatasetOptions.of(size, channels, zca),
                                keys=Keys(images=images_key, labels=labels_key), recipe=recipe)
        data = load_dataset(get_registry().datasets.canonical(dataset), request.options, root=self.data_root,
                            download=self.download)
        prepared = prepare(request, data)
        with self._store() as store, Recorder(store).run("import", self._argv(), "cpu") as log:
            return [log.record(store_prepared(one, self.results)) for one in prepared]

    def export(self, artifact: str | Path, *, format: str, out: str | Path) -> Exported:
        """Write a stored set as another codebase reads it: ``format`` dc, mtt, tensors (.pt, .safetensors or
        .npz, by ``out``'s suffix) or folder (PNG files, one sub-folder per class). A dc file carries the
        set's stored accuracies per classification net. Importing the export gives the same tensors back
        (for folder, 8-bit pixels)."""
        fmt = format_named(format)
        loaded = load_artifact(artifact, self.results)
        accuracies: dict[str, list[float]] = {}
        own = loaded.metadata.get("recipe", DC_RECIPE)  # a set evaluated under both recipes exports its own's
        with self._store(write=False) as store:
            for row in store.rows("evaluations", "artifact = ? AND status = 'done' AND schedule = ?",
                                  [loaded.id, STANDARD]):
                if json.loads(row["recipe"] or "{}").get("name", DC_RECIPE) == own:
                    accuracies.setdefault(row["cls_net"], []).append(row["accuracy"])
        return export_set(loaded, fmt, Path(out), accuracies)

    # --- grids -----------------------------------------------------------------------------------

    @_recorded
    def grid(self, condenser: Selector | None = None, *, synth: Selector = "convnet", cls: Selector = "convnet",
             dataset: Selector = "digits", ipc: int | str | Iterable[int] = 1, runs: int | None = None,
             evals: int | None = None, seed: int = 0, profile: str | None = None,
             overrides: Mapping[str, Any] | None = None, whole: bool = False, rerun: str = "missing",
             dry_run: bool = False, runner: str = "ray", ray_address: str | None = None,
             gpus_per_cell: float | None = None, cpus_per_cell: float = 1.0, ray_cpus: int | None = None,
             ray_gpus: int | None = None, size: int | None = None, channels: int | None = None,
             zca: bool = False, imports: Selector = (), recipe: str | None = None,
             protocol: str = DEFAULT_PROTOCOL) -> GridResult:
        """Run a grid: condensers × synthesis nets × classification nets × data sets × ipc × runs.

        ``protocol``: what the sets are used for (``dcbench list protocols``; docs/protocols.md), the
        classification of a fresh net by default; its settings are the ``overrides`` named
        ``protocol.KEY`` (the others are the condensers' hyperparameters).

        ``condenser`` None: every condenser, unless ``imports`` names stored sets (ids, prefixes or
        files; imported ones, say): then only those, each evaluated on every ``cls`` net. ``recipe``:
        evaluate every set under one recipe (``dc`` or ``dsa``), for a fair comparison; None: each set
        under its condenser's own.

        Only cells missing from the store are computed (``rerun``: ``missing``, ``failed``, ``all``).
        Pairs that cannot work, plugins that fail to load and selector parts that name nothing are
        left out with their reasons (``GridResult.skipped``) and the rest runs; ``typo_error()`` is
        the user error the typos amount to. ``runner``: ``ray`` (Ray Tune on a private Ray, or the
        cluster at ``ray_address``) or ``local`` (this process)."""
        check_folder(self.results, write=not dry_run)  # before the plan loads any data set
        kind = runner_kind(runner)
        options = RunnerOptions(device=self.device, address=ray_address, cpus_per_cell=cpus_per_cell,
                                gpus_per_cell=gpus_per_cell, num_cpus=ray_cpus, num_gpus=ray_gpus)
        kind.check(options)
        refs = tuple(ref.strip() for ref in _selector(imports).split(",") if ref.strip())
        artifacts = [load_artifact(ref, self.results) for ref in refs]
        if condenser is None:
            condenser = "" if artifacts else "all"
        condenser_overrides, protocol_overrides = _split_protocol(overrides)
        request = GridRequest(condensers=_selector(condenser), datasets=_selector(dataset), synth=_selector(synth),
                              cls=_selector(cls), ipcs=_ipcs(ipc), seed=seed, profile=profile or self.profile,
                              runs=runs, evals=evals, options=DatasetOptions.of(size, channels, zca),
                              overrides=condenser_overrides, whole=whole,
                              imports=tuple(artifact.id for artifact in artifacts), recipe=recipe,
                              protocol=get_registry().protocols.canonical(protocol),
                              protocol_overrides=protocol_overrides)
        plan = expand(request, data_root=self.data_root, download=self.download, artifacts=artifacts)

        def per_set(task: Task) -> int:  # the evaluations a synth task's set will unlock
            return len(plan.cls_nets[task.skeleton.dataset]) * plan.evals

        with self._store(write=not dry_run) as store:
            if request.protocol == DEFAULT_PROTOCOL:
                unlocks, estimate = artifact_unlocks(self.results, plan.cls_nets, plan.evals, recipe), per_set
            else:
                unlocks, estimate = protocol_unlocks(self.results, plan.joins, store)
            queue = Scheduler(store, self.results, rerun=rerun, unlocks=unlocks, estimate=estimate)
            queue.admit([synth_task(bound) for bound in plan.synths] + plan.wholes + plan.imports + plan.baselines)
            planned = queue.to_compute
            self._emit(Planned(plan, planned, queue.counts["stored"]))
            log = None
            if not dry_run and not queue.finished:
                for artifact in artifacts:
                    keep(artifact, self.results)  # a set given as a file: its cells find it by id
                chosen = kind.make(self._worker(), options)
                log = self._execute(store, queue, "grid", None, runner=chosen, first=plan.unloadable,
                                    log_dir=self.results / "logs")
        records = [log.written[key] for key in queue.records] if log else []
        return GridResult(
            run_id=log.id if log else None, done=tuple(r for r in records if r.done),
            failed=tuple(r for r in records if not r.done), skipped=tuple(plan.skipped),
            stored=queue.counts["stored"], kept_failed=queue.counts["kept failed"], blocked=queue.counts["blocked"],
            to_compute=planned, profile=plan.profile, datasets=tuple(plan.datasets), ipcs=tuple(plan.ipcs))

    # --- reproducing a paper's table --------------------------------------------------------------

    def study(self, study: str | Path | Study) -> Study:
        """A study by registered name (``dcbench list studies``), as a YAML file, or as given."""
        if isinstance(study, Study):
            return study
        text = str(study)
        if text.endswith((".yaml", ".yml")) or os.sep in text:
            return Study.from_yaml(Path(text).expanduser())
        return get_registry().component("study", text).value

    @_recorded
    def reproduce(self, study: str | Path | Study, *, dataset: str | None = None, ipc: int | None = None,
                  profile: str | None = None, runs: int | None = None, evals: int | None = None,
                  whole_evals: int = 1, seed: int = 0, rerun: str = "missing", dry_run: bool = False,
                  runner: str = "ray", ray_address: str | None = None, gpus_per_cell: float | None = None,
                  cpus_per_cell: float = 1.0, ray_cpus: int | None = None,
                  ray_gpus: int | None = None) -> Reproduction:
        """Run what a study's cells (of ``dataset`` and ``ipc``, when given) still need, then set each
        beside the paper's number with a verdict: within the combined noise, below or above; cells whose
        data set is missing are listed as such, not failed. ``runs``/``evals``: condensed sets per cell
        and nets per set (default: the profile's); ``whole_evals``: nets per whole-data cell (each one
        trains on the whole split). ``rerun``: ``missing`` (cells with no stored result), ``failed`` (those
        and failed ones) or ``all``. ``dry_run``: compute nothing, compare what is stored. Every cell has
        the key a ``grid`` of the same cell would, so the two share results."""
        return self._reproduce(study, dataset=dataset, ipc=ipc, profile=profile, runs=runs, evals=evals,
                               whole_evals=whole_evals, seed=seed, rerun=rerun, dry_run=dry_run, runner=runner,
                               options=RunnerOptions(device=self.device, address=ray_address,
                                                     cpus_per_cell=cpus_per_cell, gpus_per_cell=gpus_per_cell,
                                                     num_cpus=ray_cpus, num_gpus=ray_gpus))

    def _reproduce(self, study: str | Path | Study, *, dataset: str | None, ipc: int | None, profile: str | None,
                   runs: int | None, evals: int | None, whole_evals: int, seed: int, rerun: str, dry_run: bool,
                   runner: str, options: RunnerOptions, download: bool | None = None,
                   quiet: bool = False) -> Reproduction:
        found = self.study(study)
        cells = found.select(dataset=dataset, ipc=ipc)
        if not cells:
            asked = ", ".join(f"--{k} {v}" for k, v in (("dataset", dataset), ("ipc", ipc)) if v is not None)
            raise UserError(f"study {found.name} has no cell for {asked}; its data sets: "
                            f"{', '.join(found.datasets())}")
        if ipc is not None and all(c.ipc is None for c in cells):  # only the whole-data cells matched
            ipcs = sorted({c.ipc for c in found.select(dataset=dataset) if c.ipc is not None})
            raise UserError(f"study {found.name} has no cell for --ipc {ipc}"
                            f"{' on ' + dataset if dataset else ''}; its ipcs: {', '.join(map(str, ipcs))}")
        if whole_evals < 1:
            raise UserError(f"--whole-evals must be at least 1, got {whole_evals}")
        chosen_profile = get_registry().profile(profile or self.profile)
        check_folder(self.results, write=not dry_run)
        kind = runner_kind(runner)
        kind.check(options)
        try:
            plan = plan_study(cells, profile=chosen_profile.name, runs=runs, evals=evals, whole_evals=whole_evals,
                              seed=seed, data_root=self.data_root,
                              download=self.download if download is None else download, results=self.results)
        except UserError as exc:
            raise UserError(f"study {found.name}, {exc}") from None
        with self._store(write=not dry_run) as store:
            queue = Scheduler(store, self.results, rerun=rerun, unlocks=plan.unlocks, estimate=plan.estimate)
            queue.admit(plan.tasks)
            to_compute, stored = queue.to_compute, queue.counts["stored"]
            if not quiet:
                self._emit(Planned(plan, to_compute, stored))
            log = None
            if not dry_run and not queue.finished:
                log = self._execute(store, queue, "reproduce", None, runner=kind.make(self._worker(), options),
                                    log_dir=self.results / "logs")
        records = {**queue.stored, **(log.written if log else {})}
        return Reproduction(found, chosen_profile.name, not chosen_profile.paper_budgets,
                            tuple(compare(plan, records)), to_compute, stored, log.id if log else None, dry_run,
                            queue.counts["kept failed"])

    # --- timing ----------------------------------------------------------------------------------

    @_recorded
    def benchmark(self, condenser: Selector, *, synth: str | None = None, dataset: str = "digits", ipc: int = 1,
                  iterations: int = 4, compare: bool = False,
                  vary: Mapping[str, Sequence[Any]] | Sequence[tuple[str, Sequence[Any]]] = (), seed: int = 0,
                  profile: str | None = None, overrides: Mapping[str, Any] | None = None, size: int | None = None,
                  channels: int | None = None, zca: bool = False) -> list[Benchmark]:
        """Time condensers without evaluating them, cold, in a scratch folder: seconds per outer iteration
        (``iterations`` of them, the first a warm-up) or in total, and peak memory. ``condenser`` may select
        several (``"gm,dsa,dm"``), timed one after the other on the same data; ``compare`` times every
        implementation each offers, ``vary`` every combination of the given hyperparameter values (each
        selected condenser must have them), all in this process. One record per condenser and variant, in
        order."""
        if iterations < 1:
            raise UserError(f"--iterations must be at least 1, got {iterations}")
        choices: dict[str, list[Any]] = {}
        for name, values in (vary.items() if isinstance(vary, Mapping) else vary):
            if name in choices or (compare and name == "implementation"):
                raise UserError(f"--vary {name}: given twice (or with --compare, which varies implementation); "
                                "list every value once: --vary key=value1,value2")
            if isinstance(values, (str, bytes)) or not list(values):
                raise UserError(f"--vary {name}: give a list of one or more values, got {values!r}")
            choices[name] = list(values)
        planned: list[tuple[SynthCell, dict[str, Any]]] = []
        for name in self.select("condenser", condenser):
            cell = SynthCell(condenser=name, dataset=dataset, ipc=ipc, seed=seed, profile=profile or self.profile,
                             synth_net=synth, options=DatasetOptions.of(size, channels, zca))
            forced = dict(_overrides(overrides))
            if field := cell.bind().condenser.spec.iteration_field:
                forced.setdefault(field, iterations)
            cell = with_variant(cell, forced)
            bound = cell.bind()
            own = dict(choices)
            if compare:
                if not bound.condenser.spec.implementations:
                    raise UserError(f"{bound.condenser.name} has only one implementation; drop --compare")
                own = {"implementation": list(bound.condenser.spec.implementations), **choices}
            for setting in variants(own):  # a typo or a bad value stops here, before anything is timed
                with_variant(cell, setting).bind()
                planned.append((cell, setting))
        ws = self._workspace()
        for cell, _ in planned:
            check_inputs(ws, cell.bind())
        timed = []
        with self._store() as store, Recorder(store).run("bench", self._argv(), ws.device.type) as log:
            try:
                for i, (cell, setting) in enumerate(planned):
                    label = f"{cell.bind().condenser.name} {variant_label(setting) if setting else ''}".strip()
                    self._emit(Started(label, label))
                    record = log.record(time_cell(ws, cell, variant=setting, report=reporter(self._emit, label, label)))
                    timed.append(record)
                    failed = sum(not r.done for r in timed)
                    self._emit(Finished(label, label, "bench", record, {}, i + 1 - failed, failed, len(planned)))
            finally:
                self._emit(Ended())
        return timed

    # --- results ---------------------------------------------------------------------------------

    def leaderboard(self, *, dataset: str | None = None, ipc: int | None = None,
                    profile: str | None = None) -> Leaderboard:
        """The leaderboard of everything stored (or of one data set, ipc, profile): a user error when it
        has no entry."""
        registry = get_registry()
        return open_leaderboard(self.results, dataset=dataset, ipc=ipc, profile=profile,
                                headline_net=registry.headline_net, baseline=registry.baseline)

    def publish(self, out: str | Path, *, dataset: str | None = None, ipc: int | None = None,
                profile: str | None = None):
        """Write the leaderboard as files into ``out``: README.md, index.html, results.csv and .json,
        image grids of the condensed sets and plots. Replaces only the files an earlier publish wrote."""
        from dcbench.publish import publish

        board = self.leaderboard(dataset=dataset, ipc=ipc, profile=profile)
        return publish(board, Path(out), self.results, {"dataset": dataset, "ipc": ipc, "profile": profile},
                       self._stored_reproductions(board, dataset=dataset, ipc=ipc))

    def _stored_reproductions(self, board: Leaderboard, *, dataset: str | None,
                              ipc: int | None) -> list[Reproduction]:
        """Every registered study under every profile of ``board`` that has a stored cell, computing nothing:
        as many sets and nets per cell as the profile's (whole data: its evals) are looked for."""
        registry = get_registry()
        found = []
        for name in registry.studies.names():
            try:
                study = registry.component("study", name).value
            except UserError:  # a broken study plugin is `dcbench plugins`' to report, not the page's
                continue
            for profile in board.profiles():
                try:
                    budgets = registry.profile(profile)
                    rep = self._reproduce(study, dataset=dataset, ipc=ipc, profile=profile, runs=None, evals=None,
                                          whole_evals=budgets.evals, seed=0, rerun="missing", dry_run=True,
                                          runner="local", options=RunnerOptions(device="cpu"), download=False,
                                          quiet=True)
                except UserError:  # no cell of the filters, or a study that cannot be planned here: not shown
                    continue
                if any(c.ours is not None for c in rep.cells):
                    found.append(rep)
        return found

    def artifact(self, ref: str | Path) -> Artifact:
        """A stored condensed set by id, unique 6+ digit prefix, or file; checked against its checksum."""
        return load_artifact(ref, self.results)

    # --- plumbing --------------------------------------------------------------------------------

    def _queue(self, tasks: list[Task], *, rerun: str) -> Scheduler:
        """A single call's cells, checked against the store by reading it (a call whose results are
        all stored writes nothing, so it works on a read-only store too)."""
        check_folder(self.results, write=False)
        with self._store(write=False) as store:
            queue = Scheduler(store, self.results, rerun=rerun)
            queue.admit(tasks)
        return queue

    @contextmanager
    def _store(self, *, write: bool = True) -> Iterator[Store]:
        """The results store; for reading only, it is not written (and need not exist yet)."""
        if write:
            store = Store(self.results)
        else:
            try:
                store = Store(self.results, write=False)
            except NoResults:
                store = Store.empty()
        try:
            yield store
        finally:
            store.close()

    def _workspace(self) -> Workspace:
        return Workspace(results=self.results, data_root=self.data_root, device=resolve_device(self.device),
                         download=self.download)

    def _worker(self) -> WorkerSpec:
        return WorkerSpec(results=str(self.results), data_root=str(self.data_root), device=self.device,
                          registry=os.environ.get("DCBENCH_REGISTRY"))

    def _emit(self, event) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def _execute(self, store: Store, queue: Scheduler, command: str, device: str | None, *,
                 runner: Runner | None = None, first: Sequence[Any] = (), log_dir: Path | None = None) -> RunLog:
        """Run every ready cell of ``queue`` with ``runner`` as one recorded run; by default in this
        process, where a cell's user error is raised as the user's (a grid records it as the cell's)."""
        runner = runner or LocalRunner(self._worker(), user_errors=True)
        with runner, Recorder(store).run(command, self._argv(), device or runner.description,
                                         log_dir=log_dir) as log:
            for record in first:
                log.record(record)
            queue.subscribe(log)
            if self.on_event is not None:
                queue.subscribe(self.on_event)
            try:
                runner.run(queue)
            finally:
                self._emit(Ended())
        return log

    def _argv(self) -> list[str]:
        """What a run records as its command line: the CLI's, or the Python call that made it."""
        return self.argv if self.argv is not None else (_CALL.get() or ["Bench"])


def _check_serving(meta: dict[str, Any], *, size: int | None, channels: int | None, zca: bool | None) -> None:
    """Serving options given for a stored set must be the set's own."""
    served = meta["options"]
    if zca is not None and bool(served.get("zca")) != zca:
        raise UserError("this set was made (or imported) ZCA-whitened and is tested on the whitened test split: "
                        "add --zca" if served.get("zca") else
                        "--zca: this set was not made whitened; its test split is served as it was made, drop --zca")
    for name, value in (("size", size), ("channels", channels)):
        made = meta["dataset_spec"][name]
        if value is not None and made != value:
            raise UserError(f"--{name} {value}: this set was made with the data set served at {name} {made}, "
                            f"and is evaluated so; drop --{name}")


def _selector(value: Selector) -> str:
    return value if isinstance(value, str) else ",".join(value)


def _overrides(overrides: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> tuple[tuple[str, Any], ...]:
    items = overrides.items() if isinstance(overrides, Mapping) else (overrides or ())
    return tuple(sorted(dict(items).items()))


#: The prefix of a protocol's settings among ``--set`` overrides.
PROTOCOL_PREFIX = "protocol."


def _split_protocol(overrides: Mapping[str, Any] | Iterable[tuple[str, Any]] | None):
    """The condensers' overrides and the protocol's (``protocol.KEY``, prefix removed), each sorted."""
    both = _overrides(overrides)
    ours = tuple((key.removeprefix(PROTOCOL_PREFIX), value) for key, value in both if key.startswith(PROTOCOL_PREFIX))
    return tuple((key, value) for key, value in both if not key.startswith(PROTOCOL_PREFIX)), ours


def _ipcs(value: int | str | Iterable[int]) -> tuple[int, ...]:
    """Images per class as an int, a list, or the CLI's comma list ("1,10,50"); duplicates dropped."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
        if not all(p.lstrip("-").isascii() and p.lstrip("-").isdigit() for p in parts):
            raise UserError(f"--ipc takes whole numbers separated by commas, got '{value}'")
        values: list[Any] = [int(p) for p in parts]
    else:
        values = [value] if isinstance(value, int) else list(value)
    if not values:
        raise UserError("--ipc needs at least one value")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise UserError(f"ipc takes whole numbers, got {value!r}")
    return tuple(dict.fromkeys(values))
