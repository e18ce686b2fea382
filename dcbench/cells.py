"""The units of work: a synth cell makes one condensed set, an eval cell trains and tests one net.

A cell is first a request (:class:`SynthCell`, :class:`EvalCell`: names as typed, seeds, budgets),
then *bound* (:class:`BoundSynth`, :class:`BoundEval`): its components looked up once, its
configuration built and its key computed, the hash of everything that determines its result
(docs/results.md). Binding raises the user's mistakes (unknown names, a network that cannot take
the data, a bad hyperparameter) before anything runs. Running a bound cell returns its record
(:mod:`dcbench.records`), done or failed; the caller decides where it is written. Cells run the
same way in whichever process calls them: the API's own, or a grid runner's worker.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from dcbench.architecture import estimate_bn_statistics, has_batchnorm, seeded_init
from dcbench.artifacts import Artifact, save_artifact
from dcbench.checkpoint import Checkpoint
from dcbench.classification import LEARNED, STANDARD, Classification, carries_schedule
from dcbench.condenser import Report, check_ipc, check_values, condensed_set_problem, config_dict, details_problem
from dcbench.data import load_dataset
from dcbench.dataset import DatasetOptions, Split
from dcbench.errors import UserError
from dcbench.profiles import Profile
from dcbench.recipe import DC_RECIPE, evaluate_accuracy
from dcbench.records import DONE, FAILED, WHOLE, Condensation, Evaluation
from dcbench.reference import use_cache, whole_data_run
from dcbench.registry import Component, Origin, get_registry
from dcbench.runtime import PeakMemory, derive_seed, device_name, digest, generator, synchronize, versions

# Real images per class used to estimate a synthesis net's BatchNorm statistics (docs/settings.md).
BN_STATS_PER_CLASS = 128


@dataclass(frozen=True)
class Workspace:
    """Where a cell reads and writes, and on which device it computes."""

    results: Path
    data_root: Path
    device: torch.device
    download: bool = False


def cache_dir(ws: Workspace) -> Path:
    """Where shared intermediate results (whole-data runs, checkpoints) live, beside the artifacts."""
    return ws.results / "cache"


# --- synthesis -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SynthCell:
    """A request for one condensed set, with names as the user typed them."""

    condenser: str
    dataset: str
    ipc: int
    seed: int
    profile: str
    synth_net: str | None = None
    options: DatasetOptions = field(default_factory=DatasetOptions)
    overrides: tuple[tuple[str, Any], ...] = ()  # hyperparameter overrides, sorted

    def bind(self) -> "BoundSynth":
        return BoundSynth.of(self)


def _dataset_defaults(config_cls: Any, reg: Any, dataset: str) -> dict[str, Any]:
    """A data set's settings (registry.yaml's dataset_overrides) that name a field of the condenser's
    Config: its defaults on that data set, as DSA's strategy is per data set; ``--set`` still wins."""
    fields = {f.name for f in dataclasses.fields(config_cls)} if dataclasses.is_dataclass(config_cls) else set()
    return {k: v for k, v in reg.dataset_settings(dataset).items() if k in fields}


@dataclass(frozen=True)
class BoundSynth:
    """A synth cell with its components, configuration and key: what running it needs."""

    cell: SynthCell
    condenser: Component
    dataset: Component
    synth_net: Component | None
    profile: Profile
    config: Any
    key: str
    identity: dict[str, Any]

    @classmethod
    def of(cls, cell: SynthCell) -> "BoundSynth":
        if not isinstance(cell.ipc, int) or isinstance(cell.ipc, bool):
            raise UserError(f"--ipc takes a whole number, got {cell.ipc!r}")
        reg = get_registry()
        condenser = reg.component("condenser", cell.condenser)
        spec = condenser.spec
        profile = reg.profile(cell.profile)
        # checked here too: a plugin may build its Config without dcbench.condenser.build_config
        check_values(condenser.value.Config, dict(cell.overrides), owner=condenser.name)
        dataset = reg.component("dataset", cell.dataset)
        config = condenser.value.make_config(profile, {**_dataset_defaults(condenser.value.Config, reg, dataset.name),
                                                       **dict(cell.overrides)})
        synth_net = None
        if spec.needs_network:
            if not cell.synth_net:
                raise UserError(f"{condenser.name} synthesises with a network: give one with --synth")
            synth_net = reg.component("architecture", cell.synth_net)
            size = cell.options.size or dataset.spec.size
            chans = cell.options.channels or dataset.spec.channels
            if reason := synth_net.spec.refusal(in_chans=chans, img_size=size):
                raise UserError(f"{synth_net.name} cannot synthesise {cell.dataset} ({chans}×{size}×{size}): {reason}")
            if spec.needs_embedding and not getattr(synth_net.spec, "embedding", False):
                raise UserError(f"{condenser.name} matches embeddings, and {synth_net.name} provides none "
                                "(its ArchSpec does not declare embedding=True): choose another --synth")
        identity = {
            "condenser": condenser.name, "condenser_version": spec.version, "config": config_dict(config),
            "profile": profile.name, "dataset": dataset.name, "dataset_version": dataset.version,
            "options": cell.options.to_json(), "synth_net": synth_net.name if synth_net else None,
            "synth_net_version": synth_net.version if synth_net else None, "ipc": cell.ipc, "seed": cell.seed,
        }
        return cls(cell, condenser, dataset, synth_net, profile, config, digest(identity), identity)

    @property
    def label(self) -> str:
        net = f"/{self.synth_net.name}" if self.synth_net else ""
        return f"{self.condenser.name}{net} {self.dataset.name} ipc {self.cell.ipc} seed {self.cell.seed}"

    def skeleton(self) -> Condensation:
        """The record as far as it is known before the cell runs: a failed attempt says what it was."""
        ident = self.identity
        return Condensation(
            key=self.key, status=FAILED, condenser=ident["condenser"], condenser_version=ident["condenser_version"],
            condenser_origin=str(self.condenser.origin), third_party=not self.condenser.origin.builtin,
            config=ident["config"], profile=ident["profile"], dataset=ident["dataset"],
            dataset_version=ident["dataset_version"], synth_net=ident["synth_net"],
            synth_net_version=ident["synth_net_version"], ipc=self.cell.ipc, seed=self.cell.seed)


def check_inputs(ws: Workspace, bound: BoundSynth) -> None:
    """Raise the user errors a synth cell can have (missing data, impossible ipc) before any work."""
    cell = bound.cell
    data = load_dataset(bound.dataset.name, cell.options, root=ws.data_root, download=ws.download)
    check_ipc(data.train, cell.ipc)


class SynthesisFactory:
    """``model_factory(generator)`` for condensers: a fresh synthesis-stage net on ``device``.

    Variants that keep BatchNorm in synthesis get statistics estimated over real images (up to
    BN_STATS_PER_CLASS per class, drawn from the same generator) and frozen. ``name`` and ``spec``
    tell a condenser which network it synthesises with (e.g. the paper lowers the image learning
    rate for MLPs).
    """

    def __init__(self, arch: Component, train: Split, device: torch.device) -> None:
        self.name = arch.name
        self.arch = arch.value
        self.spec = arch.spec
        self.train = train
        self.device = device

    def __call__(self, gen: torch.Generator) -> torch.nn.Module:
        spec = self.train.spec
        with seeded_init(gen):
            net = self.arch(in_chans=spec.channels, num_classes=spec.classes, img_size=spec.size, stage="synthesis")
        net = net.to(self.device)
        if has_batchnorm(net):
            sample = torch.cat([
                idx[torch.randperm(len(idx), generator=gen)[:BN_STATS_PER_CLASS].to(idx.device)]
                for idx in (self.train.class_indices(c) for c in range(spec.classes))
            ])
            estimate_bn_statistics(net, self.train.images[sample])
        return net


class BadCondensedSet(RuntimeError):
    """A condenser returned something that is not ipc images per class of the data set's shape."""


def run_synth(ws: Workspace, bound: BoundSynth, *, report: Report | None = None) -> Condensation:
    """Condense and save the artifact; returns the record (done, or failed with the condenser's error).

    A user error in the cell's inputs (ipc, missing data) raises; an exception from the condenser
    is the record's error, so a grid goes on.
    """
    cell = bound.cell
    data = load_dataset(bound.dataset.name, cell.options, root=ws.data_root, download=ws.download)
    check_ipc(data.train, cell.ipc)
    origins = [bound.condenser.origin, *([bound.synth_net.origin] if bound.synth_net else [])]
    record = replace(bound.skeleton(), dataset_options=data.spec.options, device=ws.device.type,
                                 device_name=device_name(ws.device), versions=_plugin_versions(*origins))
    train = data.train.to(ws.device)
    factory = SynthesisFactory(bound.synth_net, train, ws.device) if bound.synth_net else None
    condenser = bound.condenser.value(bound.config)
    checkpoint = Checkpoint(cache_dir(ws) / "checkpoints" / f"{bound.key}.pt",
                            context={"device": ws.device.type, "versions": versions()})
    spec = bound.condenser.spec
    resumable = {"checkpoint": checkpoint} if spec.resumable else {}
    try:
        with PeakMemory(ws.device) as peak, use_cache(cache_dir(ws)):
            condensed = condenser.condense(train, ipc=cell.ipc, generator=generator(cell.seed), device=ws.device,
                                           model_factory=factory, report=_safe(report), **resumable)
        details = getattr(condenser, "details", {})
        if problem := (condensed_set_problem(condensed, data.train, ipc=cell.ipc, kind=spec.kind, extras=spec.extras)
                       or details_problem(details, spec)):
            raise BadCondensedSet(problem)
    except UserError:
        checkpoint.clear()
        raise
    except Exception as exc:  # the condenser's failure is a result, recorded so the grid goes on
        checkpoint.clear()  # a rerun computes the cell afresh
        return replace(record, error=error_text(exc), wall_s=checkpoint.elapsed(), finished_at=time.time())
    wall = checkpoint.elapsed()  # the stopped attempts' time included
    metadata = {
        **bound.identity, "key": bound.key, "condenser_origin": bound.condenser.origin.to_json(),
        "dataset_spec": data.spec.to_json(), "normalisation": {"mean": data.spec.mean, "std": data.spec.std},
        "details": dict(details),
    }
    if carries_schedule(condensed):  # the set carries its own training schedule (dcbench.schedule)
        metadata["learned_schedule"] = True
    if spec.recipe != DC_RECIPE:  # absent at the default, so that sets made before recipes keep their ids
        metadata["recipe"] = spec.recipe
    artifact_id, _ = save_artifact(condensed, metadata, ws.results)
    checkpoint.clear()
    return replace(record, status=DONE, artifact=artifact_id, wall_s=wall, peak_mem_bytes=peak.bytes,
                   peak_mem_kind=peak.kind, details=metadata["details"], finished_at=time.time())


# --- evaluation ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class EvalCell:
    """Train ``cls_net`` number ``eval_index`` on an artifact (or, with no artifact, on the whole data)."""

    cls_net: str
    eval_index: int
    seed: int
    profile: str
    artifact: str | None = None
    dataset: str | None = None  # whole-data cells name their data set
    options: DatasetOptions = field(default_factory=DatasetOptions)
    schedule: str = STANDARD  # see dcbench.classification
    recipe: str | None = None  # dcbench.recipe.RECIPES; None: the set's own (its condenser's paper's)

    def bind(self, artifact: Artifact | None = None) -> "BoundEval":
        """Bound with its artifact, loaded (a whole-data cell has none)."""
        return BoundEval.of(self, artifact)


@dataclass(frozen=True)
class BoundEval:
    """An eval cell with its network, data set, set, classification configuration and key."""

    cell: EvalCell
    cls_net: Component
    dataset: Component
    artifact: Artifact | None
    protocol: Classification
    key: str
    identity: dict[str, Any]

    @classmethod
    def of(cls, cell: EvalCell, artifact: Artifact | None) -> "BoundEval":
        if (cell.artifact is None) != (artifact is None) or (artifact and artifact.id != cell.artifact):
            raise ValueError("an eval cell is bound with the artifact it names, and a whole-data cell without one")
        reg = get_registry()
        arch = reg.component("architecture", cell.cls_net)
        profile = reg.profile(cell.profile)
        meta = artifact.metadata if artifact else None
        if cell.schedule == LEARNED and not (meta or {}).get("learned_schedule"):
            raise UserError(f"schedule {cell.schedule!r} does not apply here: the learned schedule exists only for "
                            "sets that carry one (dataset_distillation)")
        if meta:
            dataset = reg.component("dataset", meta["dataset"])
            served = meta["dataset_spec"]
            chans, size = served["channels"], served["size"]
        else:
            dataset = reg.component("dataset", cell.dataset)
            chans, size = cell.options.channels or dataset.spec.channels, cell.options.size or dataset.spec.size
        if reason := arch.spec.refusal(in_chans=chans, img_size=size):
            raise UserError(f"{arch.name} cannot classify {dataset.name} ({chans}×{size}×{size}): {reason}")
        settings = reg.dataset_settings(dataset.name)
        protocol = (Classification.for_set(profile, settings, meta, schedule=cell.schedule, recipe=cell.recipe)
                    if meta else Classification.of(profile, settings, whole=True, recipe=cell.recipe or DC_RECIPE))
        identity = {
            "artifact": cell.artifact, "dataset": dataset.name,
            "options": meta["options"] if meta else cell.options.to_json(),
            "dataset_version": None if meta else dataset.version,
            "cls_net": arch.name, "cls_net_version": arch.version, **protocol.identity(),
            "profile": profile.name, "eval_index": cell.eval_index, "seed": cell.seed,
        }
        return cls(cell, arch, dataset, artifact, protocol, digest(identity), identity)

    @property
    def options(self) -> DatasetOptions:
        """How the data set is served: as the set was made, or as a whole-data cell asks."""
        return DatasetOptions(**self.artifact.metadata["options"]) if self.artifact else self.cell.options

    def skeleton(self) -> Evaluation:
        """The record as far as it is known before the cell runs: a failed attempt says what it was."""
        cell = self.cell
        known: dict[str, Any] = dict(
            key=self.key, status=FAILED, dataset=self.dataset.name, profile=self.identity["profile"],
            cls_net=self.cls_net.name, cls_net_version=self.cls_net.version,
            cls_net_origin=str(self.cls_net.origin), recipe=self.protocol.recorded_recipe,
            schedule=cell.schedule, eval_index=cell.eval_index, seed=cell.seed)
        if self.artifact is None:
            known.update(condenser=WHOLE, condenser_version=1, condenser_origin=str(Origin()), third_party=False)
        else:
            meta = self.artifact.metadata
            origin = meta["condenser_origin"]
            known.update(artifact=cell.artifact, condensation=meta["key"], condenser=meta["condenser"],
                         condenser_version=meta["condenser_version"], condenser_origin=origin_text(origin),
                         third_party=bool(origin["third_party"]), synth_net=meta["synth_net"], ipc=meta["ipc"],
                         run_seed=meta["seed"])
        return Evaluation(**known)


def run_eval(ws: Workspace, bound: BoundEval, *, report: Report | None = None) -> Evaluation:
    """Train one fresh classification-stage net and test it; returns its record."""
    cell, arch = bound.cell, bound.cls_net
    data = load_dataset(bound.dataset.name, bound.options, root=ws.data_root, download=ws.download)
    spec = data.spec
    origin = bound.artifact.metadata["condenser_origin"] if bound.artifact else None
    condenser_package = {origin["distribution"]: origin["version"]} if origin and origin["third_party"] else {}
    record = replace(bound.skeleton(), dataset_version=spec.version, dataset_options=spec.options,
                     device=ws.device.type, device_name=device_name(ws.device),
                     versions=_plugin_versions(arch.origin) | condenser_package)
    safe = _safe(report)
    start = time.perf_counter()
    try:
        with PeakMemory(ws.device) as peak, use_cache(cache_dir(ws)):
            if bound.artifact is None:
                # The whole-data run of this seed: shared with the selection cells of the same seed.
                run = whole_data_run(data.train, net=arch.name, epochs=bound.protocol.recipe.epochs, seed=cell.seed,
                                     device=ws.device, test=data.test, report=safe)
                accuracy, train_s = run.test_accuracy, run.wall_s
            else:
                net = bound.protocol.train(arch.value, spec, bound.artifact.condensed, seed=cell.seed,
                                           device=ws.device, report=safe)
                synchronize(ws.device)
                train_s = time.perf_counter() - start
                accuracy = evaluate_accuracy(net, data.test.to(ws.device))
    except UserError:
        raise
    except Exception as exc:
        return replace(record, error=error_text(exc), wall_s=time.perf_counter() - start, finished_at=time.time())
    return replace(record, status=DONE, accuracy=accuracy, train_s=train_s, wall_s=time.perf_counter() - start,
                   peak_mem_bytes=peak.bytes, peak_mem_kind=peak.kind, finished_at=time.time())


def eval_seed(base_seed: int, artifact: str | None, cls_net: str, eval_index: int) -> int:
    """Each evaluation net's own seed: independent across artifacts, networks and indices.

    Whole-data evaluations (no artifact) are the whole-data runs of seeds base, base+1, …: the
    same runs that selection cells of those seeds train their feature models with, so the paper's
    "whole dataset" column costs nothing more once the baselines have run."""
    if artifact is None:
        return base_seed + eval_index
    return derive_seed("eval", base_seed, artifact, cls_net, eval_index)


# --- helpers -------------------------------------------------------------------------------------

def _plugin_versions(*origins: Origin) -> dict[str, str]:
    found = versions()
    for origin in origins:
        if not origin.builtin:
            found[origin.distribution] = origin.version
    return found


def origin_text(origin: dict[str, Any]) -> str:
    """Where a set's condenser came from, as rows show it: built-in, a plugin's package, or an import."""
    if origin.get("imported"):
        source = f"{origin['source']}; " if origin.get("source") else ""
        return f"imported: {source}{origin['file']} ({origin['format']}, sha256 {origin['sha256'][:12]})"
    return "built-in" if not origin["third_party"] else f"{origin['distribution']} {origin['version']}"


def error_text(exc: BaseException) -> str:
    """An exception as one line for a failed record: its type, message and where it was raised."""
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" (at {Path(last[0].filename).name}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _safe(report: Report | None) -> Report:
    def call(step: int, **metrics: Any) -> None:
        if report is None:
            return
        try:
            report(step, **metrics)
        except Exception:  # progress display must never break a run
            pass

    return call
