"""Planning a grid: from what the user asked for to the cells it stands for, checked.

``expand`` turns selectors into bound synth cells (one condensed set each), the classification
nets each data set can take and the whole-data cells, and lists what it leaves out and why (a pair a
network cannot take, a plugin that fails to load, a selector part that names nothing) before
anything runs. The evaluation cells of a set are derived once the set exists (their keys contain
its id): see :mod:`dcbench.grid.scheduler`.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from dcbench.artifacts import Artifact
from dcbench.cells import BoundSynth, SynthCell
from dcbench.condenser import check_ipc
from dcbench.data import load_dataset
from dcbench.dataset import DatasetOptions
from dcbench.errors import RegistryError, UserError
from dcbench.profiles import budget
from dcbench.protocol import DEFAULT_PROTOCOL, View
from dcbench.protocol_cell import ProtocolCell, bind_protocol
from dcbench.recipe import check_recipe
from dcbench.records import FAILED, Condensation
from dcbench.registry import NameConflict, PluginError, get_registry
from dcbench.runtime import digest
from dcbench.tasks import Task, eval_tasks, protocol_task, whole_tasks


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
    imports: tuple[str, ...] = ()  # ids of stored sets (imported ones, say) to evaluate on every --cls net
    recipe: str | None = None  # one evaluation recipe for every set (dcbench.recipe.RECIPES); None: each its own
    protocol: str = DEFAULT_PROTOCOL  # what the sets are used for (dcbench.protocol)
    protocol_overrides: tuple[tuple[str, Any], ...] = ()  # --set protocol.key=value, sorted


class NothingToRun(UserError):
    """Every pair of a grid was left out; ``skipped`` says why."""

    def __init__(self, skipped: list["Skip"]) -> None:
        super().__init__("nothing to run: every pair of this grid was skipped (see the list above)")
        self.skipped = list(skipped)


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
    synths: list[BoundSynth]
    cls_nets: dict[str, list[str]]  # data set -> the classification nets that can take it
    wholes: list[Task]
    skipped: list[Skip]
    datasets: list[str]
    ipcs: tuple[int, ...]
    # Failed records for the cells of condensers that could not be loaded: there is no key to compute
    # for them, but the store should say that they were asked for and why they did not run.
    unloadable: list[Condensation] = field(default_factory=list)
    imports: list[Task] = field(default_factory=list)  # the evaluations of the stored sets asked for
    # a protocol other than classification: the evaluations each condenser run's sets unlock together,
    # and the protocol's baseline evaluations (no set), ready at once
    joins: list["Join"] = field(default_factory=list)
    baselines: list[Task] = field(default_factory=list)


@dataclass(frozen=True)
class Join:
    """The evaluations of a protocol that one condenser run's sets (one per view) unlock together."""

    synth_keys: tuple[str, ...]  # in the protocol's view order
    dataset: str
    options: DatasetOptions
    cls_nets: tuple[str, ...]
    evals: int
    base_seed: int
    profile: str
    protocol: str
    overrides: tuple[tuple[str, Any], ...]

    def cells(self, artifacts: tuple[str, ...] = ()) -> list[ProtocolCell]:
        """Evaluation ``i`` of every net has seed ``base_seed + i`` whatever the sets (and for the
        baseline), so that condensers are compared on the same nets and draws."""
        return [ProtocolCell(protocol=self.protocol, dataset=self.dataset, cls_net=net, eval_index=i,
                             seed=self.base_seed + i, profile=self.profile, options=self.options,
                             overrides=self.overrides, artifacts=artifacts)
                for net, i in itertools.product(self.cls_nets, range(self.evals))]


def expand(request: GridRequest, *, data_root: Path, download: bool = False,
           artifacts: Iterable[Artifact] = ()) -> Plan:
    """Every synth cell of the request, checked: names, plugins, hyperparameters, data and ipc.

    Everything a user can get wrong raises a UserError here, before any cell runs, except a plugin
    that fails to load and a selector part that names nothing: each is skipped with its error, so that
    one broken package (say, among ``all``) or one typo in a list does not stop the grid of every other
    component. A selector left with nothing at all still raises. Selection methods take no synthesis
    net, so they are expanded once per data set whatever ``--synth`` says. ``artifacts``: the stored
    sets ``request.imports`` names, loaded; an empty ``request.condensers`` asks for no condenser
    (a grid of those sets alone, on their own data sets).
    """
    skipped: list[Skip] = []
    try:
        return _expand(request, data_root, download, skipped, list(artifacts))
    except UserError as exc:
        # the grid stops here, so the typos left out so far would otherwise go unreported
        typos = [skip.what for skip in skipped if skip.cause == "unknown" and skip.reason != str(exc)]
        if typos:
            raise UserError(f"{exc} (also unknown: {', '.join(typos)})") from exc
        raise


def _expand(request: GridRequest, data_root: Path, download: bool, skipped: list[Skip],
            artifacts: list[Artifact]) -> Plan:
    reg = get_registry()
    profile = reg.profile(request.profile)
    runs = budget(request.runs, profile.runs, "--runs")
    evals = budget(request.evals, profile.evals, "--evals")
    if not request.ipcs:
        raise UserError("--ipc needs at least one value")
    check_recipe(request.recipe)
    protocol = None
    if request.protocol != DEFAULT_PROTOCOL:
        _, protocol = bind_protocol(request.protocol, profile, dict(request.protocol_overrides))
        name = protocol.spec.name
        for given, what in ((request.whole, "--whole"), (artifacts, "--import"), (request.recipe, "--recipe")):
            if given:
                raise UserError(f"{what} belongs to the classification protocol; protocol {name} has its own "
                                f"settings (--set protocol.KEY=VALUE) and baseline")
    elif request.protocol_overrides:
        bind_protocol(request.protocol, profile, dict(request.protocol_overrides))  # says why it takes none

    def chosen(option: str, kind: str, selector: str) -> list[str]:
        unknown: list[tuple[str, UserError]] = []
        names = reg.select(kind, selector, unknown=unknown)
        skipped.extend(Skip(f"{option} {part}", str(exc), cause=_cause(exc)) for part, exc in unknown)
        return names

    def loaded(option: str, kind: str, selector: str, load: Callable[[str], Any]) -> dict[str, Any]:
        return _loaded(kind, option, chosen(option, kind, selector), load, skipped)

    condensers = loaded("-c/--condenser", "condenser", request.condensers, reg.condenser) if request.condensers else {}
    datasets = chosen("--dataset", "dataset", request.datasets) if request.condensers or not artifacts else []
    users = [name for name, cls in condensers.items() if cls.spec.needs_network]
    synth_nets = list(loaded("--synth", "architecture", request.synth, reg.architecture)) if users else []
    cls_nets = list(loaded("--cls", "architecture", request.cls, reg.architecture))
    overrides = _split_overrides(condensers, request.overrides)
    # a condenser that synthesises with embeddings is refused the nets that declare none, on every data set
    no_embedding = {(name, net) for name, cls in condensers.items() if cls.spec.needs_embedding
                    for net in synth_nets if not getattr(reg.architecture(net).spec, "embedding", False)}
    skipped += [Skip(f"synthesis net {net} for {name}", "provides no embedding (its ArchSpec does not declare "
                     "embedding=True), which this condenser matches") for name, net in sorted(no_embedding)]

    synths: dict[str, BoundSynth] = {}
    cls_by_dataset: dict[str, list[str]] = {}
    wholes: list[Task] = []
    unloadable: list[Condensation] = []
    joins: list[Join] = []
    baselines: list[Task] = []
    for dataset in datasets:
        views = protocol.views(dataset, request.options) if protocol else [View(dataset, request.options)]
        try:
            served = [load_dataset(view.dataset, view.options, root=data_root, download=download) for view in views]
            read = [load_dataset(view.dataset, view.options, root=data_root, download=download)
                    for view in (protocol.reads(dataset, request.options) if protocol else ())]
        except PluginError as exc:
            skipped.append(Skip(f"dataset {dataset}", str(exc), cause="broken"))
            continue
        for data, ipc in itertools.product(served, request.ipcs):
            check_ipc(data.train, ipc)
        shapes = {f"{d.spec.name} {d.spec.channels}×{d.spec.size}×{d.spec.size}": (d.spec.channels, d.spec.size)
                  for d in served + read}
        if len(set(shapes.values())) > 1:
            raise UserError(f"protocol {request.protocol} feeds one network with {', '.join(shapes)}: serve them "
                            "at one shape with --size and --channels (e.g. --size 32 --channels 3)")
        spec = served[0].spec
        shape = f"{spec.channels}×{spec.size}×{spec.size}"
        refused = {net: reason for net in dict.fromkeys([*synth_nets, *cls_nets])
                   if (reason := next(filter(None, (reg.architecture(net).spec.refusal(
                       in_chans=data.spec.channels, img_size=data.spec.size) for data in served)), None))}
        skipped += [Skip(f"synthesis net {net} on {dataset} ({shape}) for {', '.join(users)}", refused[net])
                    for net in synth_nets if net in refused]
        skipped += [Skip(f"classification net {net} on {dataset} ({shape})", refused[net])
                    for net in cls_nets if net in refused]
        cls_by_dataset[dataset] = [net for net in cls_nets if net not in refused]

        def join(keys: tuple[str, ...], dataset: str = dataset) -> Join:
            return Join(keys, dataset, request.options, tuple(cls_by_dataset[dataset]), evals, request.seed,
                        profile.name, request.protocol, tuple(request.protocol_overrides))
        unloadable += [
            Condensation(key=digest({"unloadable": skip.what, "dataset": dataset,
                                     "options": _unloadable_options(request.options), "ipc": ipc,
                                     "seed": request.seed + run, "profile": profile.name}),
                         status=FAILED, error=f"its plugin failed to load: {skip.reason}",
                         condenser=skip.what.removeprefix("condenser "), dataset=dataset, ipc=ipc,
                         seed=request.seed + run, profile=profile.name)
            for skip in skipped if skip.cause == "broken" and skip.what.startswith("condenser ")
            for ipc, run in itertools.product(request.ipcs, range(runs))]
        for name, condenser in condensers.items():
            nets = ([n for n in synth_nets if n not in refused and (name, n) not in no_embedding]
                    if condenser.spec.needs_network else [None])
            for net, ipc, run in itertools.product(nets, request.ipcs, range(runs)):
                keys = []
                for view in views:
                    cell = SynthCell(condenser=name, dataset=view.dataset, ipc=ipc, seed=request.seed + run,
                                     profile=profile.name, synth_net=net, options=view.options,
                                     overrides=overrides[name])
                    bound = cell.bind()
                    synths.setdefault(bound.key, bound)
                    keys.append(bound.key)
                if protocol:
                    joins.append(join(tuple(keys)))
        if protocol:
            baseline = join(())
            if protocol.spec.baseline and baseline.cls_nets:
                baselines += [protocol_task(cell.bind()) for cell in baseline.cells()]
        if request.whole:
            wholes += whole_tasks(dataset, request.options, cls_by_dataset[dataset], evals, base_seed=request.seed,
                                  profile=profile.name)
    imports: list[Task] = []
    ipcs = list(request.ipcs) if condensers else []
    # an imported set's whole-data row is of its data set as it is served, which the grid's options need not be
    whole_served = {(dataset, digest(request.options.to_json())) for dataset in datasets}
    for artifact in artifacts:
        if artifact.metadata["ipc"] not in ipcs:
            ipcs.append(artifact.metadata["ipc"])
        served = artifact.metadata["dataset_spec"]
        shape = f"{served['channels']}×{served['size']}×{served['size']}"
        nets = []
        for net in cls_nets:
            if reason := reg.architecture(net).spec.refusal(in_chans=served["channels"], img_size=served["size"]):
                skipped.append(Skip(f"classification net {net} on {artifact.metadata['condenser']} "
                                    f"{artifact.id[:12]} ({shape})", reason))
            else:
                nets.append(net)
        imports += eval_tasks(artifact, nets, evals, base_seed=request.seed, profile=profile.name,
                              recipe=request.recipe)
        served_as = (artifact.metadata["dataset"], digest(artifact.metadata["options"]))
        if request.whole and served_as not in whole_served:
            whole_served.add(served_as)
            wholes += whole_tasks(artifact.metadata["dataset"], DatasetOptions(**artifact.metadata["options"]), nets,
                                  evals, base_seed=request.seed, profile=profile.name)
        if artifact.metadata["dataset"] not in datasets:
            datasets.append(artifact.metadata["dataset"])
    if not synths and not wholes and not imports and not baselines:
        raise NothingToRun(skipped)
    return Plan(profile.name, runs, evals, list(synths.values()), cls_by_dataset, wholes, skipped, datasets,
                tuple(ipcs), unloadable, imports, joins, baselines)


def _unloadable_options(options: DatasetOptions) -> dict[str, Any]:
    # the form these keys had before ZCA serving existed, so that the rows already stored keep theirs
    return {"size": options.size, "channels": options.channels, **({"zca": options.zca} if options.zca else {})}


def _cause(exc: Exception) -> str:
    """A typo is the user's to fix; a plugin that fails to load or clashes with another is its package's."""
    return "broken" if isinstance(exc, (PluginError, NameConflict)) else "unknown"


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
