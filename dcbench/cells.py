"""The units of work: a synth cell makes one condensed set, an eval cell trains and tests one net.

Both are plain data with a key (a hash of everything that determines the result, DESIGN.md), and
both run the same way whichever process calls them (the CLI today, grid runners next). Running a
cell returns a store row; only the caller (the driver) writes it.
"""

from __future__ import annotations

import dataclasses
import inspect
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from dcbench.architecture import estimate_bn_statistics, has_batchnorm, seeded_init
from dcbench.artifacts import load_artifact, save_artifact
from dcbench.checkpoint import Checkpoint
from dcbench.condenser import check_ipc, condensed_set_problem, config_dict
from dcbench.data import load_dataset
from dcbench.dataset import DatasetOptions, Split
from dcbench.errors import UserError
from dcbench.protocol import Recipe, evaluate_accuracy, train_network
from dcbench.reference import use_cache, whole_data_run
from dcbench.registry import get_registry
from dcbench.runtime import PeakMemory, derive_seed, device_name, digest, generator, synchronize, versions
from dcbench.schedule import LR_SCHEDULE, LearnedSchedule, train_with_schedule

Report = Callable[..., None]

# Real images per class used to estimate a synthesis net's BatchNorm statistics (PROTOCOL.md).
BN_STATS_PER_CLASS = 128


@dataclass(frozen=True)
class Workspace:
    """Where a cell reads and writes, and on which device it computes."""

    results: Path
    data_root: Path
    device: torch.device
    download: bool = False


@dataclass(frozen=True)
class SynthCell:
    condenser: str
    dataset: str
    ipc: int
    seed: int
    profile: str
    synth_net: str | None = None
    options: DatasetOptions = field(default_factory=DatasetOptions)
    overrides: tuple[tuple[str, Any], ...] = ()  # hyperparameter overrides, sorted

    def resolved(self) -> "ResolvedSynth":
        return ResolvedSynth.of(self)


@dataclass(frozen=True)
class ResolvedSynth:
    """A synth cell with its components looked up: what its key is made of."""

    cell: SynthCell
    condenser_cls: type
    config: Any
    key: str
    identity: dict[str, Any]

    @classmethod
    def of(cls, cell: SynthCell) -> "ResolvedSynth":
        reg = get_registry()
        name = reg.condensers.canonical(cell.condenser)
        condenser_cls = reg.condenser(name)
        spec = condenser_cls.spec
        profile = reg.profile(cell.profile)
        config = condenser_cls.make_config(profile, dict(cell.overrides))
        dataset = reg.dataset(cell.dataset)
        synth_net = cell.synth_net if spec.needs_network else None
        if spec.needs_network and not synth_net:
            raise UserError(f"{name} synthesises with a network: give one with --synth")
        arch_version = None
        if synth_net:
            arch = reg.architecture(synth_net)
            arch_version = arch.spec.version
            size = cell.options.size or dataset.spec.size
            chans = cell.options.channels or dataset.spec.channels
            if reason := arch.spec.refusal(in_chans=chans, img_size=size):
                raise UserError(f"{synth_net} cannot synthesise {cell.dataset} ({chans}×{size}×{size}): {reason}")
        identity = {
            "condenser": name, "condenser_version": spec.version, "config": config_dict(config),
            "profile": profile.name, "dataset": reg.datasets.canonical(cell.dataset),
            "dataset_version": dataset.spec.version, "options": cell.options.to_json(),
            "synth_net": synth_net, "synth_net_version": arch_version, "ipc": cell.ipc, "seed": cell.seed,
        }
        return cls(cell, condenser_cls, config, digest(identity), identity)


def _plugin_versions(*origins) -> dict[str, str]:
    found = versions()
    for origin in origins:
        if not origin.builtin:
            found[origin.distribution] = origin.version
    return found


def _error_text(exc: BaseException) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" (at {Path(last[0].filename).name}:{last[0].lineno})" if last else ""
    return f"{type(exc).__name__}: {exc}{where}"


class SynthesisFactory:
    """``model_factory(generator)`` for condensers: a fresh synthesis-stage net on ``device``.

    Variants that keep BatchNorm in synthesis get statistics estimated over real images (up to
    BN_STATS_PER_CLASS per class, drawn from the same generator) and frozen, as PROTOCOL.md asks.
    ``name`` and ``spec`` tell a condenser which network it synthesises with (e.g. the paper
    lowers the image learning rate for MLPs).
    """

    def __init__(self, arch_name: str, train: Split, device: torch.device) -> None:
        self.name = arch_name
        self.arch = get_registry().architecture(arch_name)
        self.spec = self.arch.spec
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


def check_inputs(ws: Workspace, resolved: ResolvedSynth) -> None:
    """Raise the user errors a synth cell can have (missing data, impossible ipc) before any work."""
    cell = resolved.cell
    data = load_dataset(cell.dataset, cell.options, root=ws.data_root, download=ws.download)
    check_ipc(data.train, cell.ipc)


def run_synth(ws: Workspace, resolved: ResolvedSynth, *, report: Report | None = None) -> dict[str, Any]:
    """Condense and save the artifact; returns the condensations row (status done or failed).

    A user error in the cell's inputs (ipc, unknown names, missing data) raises; an exception from
    the condenser is recorded in the row so a grid goes on.
    """
    cell = resolved.cell
    reg = get_registry()
    data = load_dataset(cell.dataset, cell.options, root=ws.data_root, download=ws.download)
    check_ipc(data.train, cell.ipc)
    condenser_origin = reg.condensers.entry(resolved.identity["condenser"]).origin
    origins = [condenser_origin]
    if cell.synth_net and resolved.identity["synth_net"]:
        origins.append(reg.architecture_origin(cell.synth_net))
    row: dict[str, Any] = {
        "key": resolved.key, "condenser": resolved.identity["condenser"],
        "condenser_version": resolved.identity["condenser_version"], "condenser_origin": str(condenser_origin),
        "third_party": int(not condenser_origin.builtin), "config": resolved.identity["config"],
        "profile": cell.profile, "dataset": resolved.identity["dataset"],
        "dataset_version": resolved.identity["dataset_version"], "dataset_options": data.spec.options,
        "synth_net": resolved.identity["synth_net"], "synth_net_version": resolved.identity["synth_net_version"],
        "ipc": cell.ipc, "seed": cell.seed, "device": ws.device.type, "device_name": device_name(ws.device),
        "versions": _plugin_versions(*origins),
    }
    train = data.train.to(ws.device)
    factory = SynthesisFactory(cell.synth_net, train, ws.device) if row["synth_net"] else None
    condenser = resolved.condenser_cls(resolved.config)
    checkpoint = Checkpoint(cache_dir(ws) / "checkpoints" / f"{resolved.key}.pt",
                            context={"device": ws.device.type, "versions": versions()})
    resumable = {"checkpoint": checkpoint} if "checkpoint" in inspect.signature(condenser.condense).parameters else {}
    try:
        with PeakMemory(ws.device) as peak, use_cache(cache_dir(ws)):
            condensed = condenser.condense(train, ipc=cell.ipc, generator=generator(cell.seed), device=ws.device,
                                           model_factory=factory, report=_safe(report), **resumable)
        if problem := condensed_set_problem(condensed, data.train, ipc=cell.ipc,
                                            kind=resolved.condenser_cls.spec.kind):
            raise BadCondensedSet(problem)
    except UserError:
        checkpoint.clear()
        raise
    except Exception as exc:  # the condenser's failure is a result, recorded so the grid goes on
        checkpoint.clear()  # a rerun computes the cell afresh
        return {**row, "status": "failed", "error": _error_text(exc), "wall_s": checkpoint.elapsed()}
    wall = checkpoint.elapsed()  # the stopped attempts' time included
    metadata = {
        **resolved.identity, "key": resolved.key, "condenser_origin": condenser_origin.to_json(),
        "dataset_spec": data.spec.to_json(), "normalisation": {"mean": data.spec.mean, "std": data.spec.std},
        "details": getattr(condenser, "details", {}),
    }
    if LR_SCHEDULE in condensed.extras:  # the set carries its own training schedule (dcbench.schedule)
        metadata["learned_schedule"] = True
    artifact_id, _ = save_artifact(condensed, metadata, ws.results)
    checkpoint.clear()
    return {**row, "status": "done", "artifact": artifact_id, "wall_s": wall, "peak_mem_bytes": peak.bytes,
            "peak_mem_kind": peak.kind, "details": metadata["details"]}


class BadCondensedSet(RuntimeError):
    """A condenser returned something that is not ipc images per class of the data set's shape."""


def cache_dir(ws: Workspace) -> Path:
    """Where shared intermediate results (whole-data runs) live, beside the artifacts."""
    return ws.results / "cache"


def _safe(report: Report | None) -> Report:
    def call(step: int, **metrics: Any) -> None:
        if report is None:
            return
        try:
            report(step, **metrics)
        except Exception:  # progress display must never break a run
            pass

    return call


# --- evaluation --------------------------------------------------------------------------------

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
    # "standard": the profile's classification recipe; "learned": replay the training schedule a
    # condenser learned with its set (DD's per-step rates), see dcbench.schedule.
    schedule: str = "standard"


SCHEDULES = ("standard", "learned")
LEARNED_RECIPE = {"kind": "learned_schedule", "init": "xavier_normal", "optimizer": "sgd",
                  "lr": "the set's learned rate per step", "momentum": 0.0, "weight_decay": 0.0}


def schedules_of(artifact_meta: dict[str, Any]) -> tuple[str, ...]:
    """The schedules an artifact is evaluated under: its learned one too, when it has one."""
    return SCHEDULES if artifact_meta.get("learned_schedule") else ("standard",)


def eval_identity(cell: EvalCell, artifact_meta: dict[str, Any] | None) -> tuple[str, dict[str, Any], Recipe]:
    reg = get_registry()
    arch = reg.architecture(cell.cls_net)
    profile = reg.profile(cell.profile)
    dataset = artifact_meta["dataset"] if artifact_meta else reg.datasets.canonical(cell.dataset)
    settings = reg.dataset_settings(dataset)
    recipe = Recipe.condensed(profile, settings) if cell.artifact else Recipe.whole_data(profile, settings)
    if cell.schedule not in SCHEDULES or (cell.schedule == "learned" and not (artifact_meta or {}).get(
            "learned_schedule")):
        raise UserError(f"schedule {cell.schedule!r} does not apply here: the learned schedule exists only for "
                        "sets that carry one (dataset_distillation)")
    identity = {
        "artifact": cell.artifact, "dataset": dataset,
        "options": artifact_meta["options"] if artifact_meta else cell.options.to_json(),
        "dataset_version": None if artifact_meta else reg.dataset(dataset).spec.version,
        "cls_net": cell.cls_net, "cls_net_version": arch.spec.version,
        "recipe": LEARNED_RECIPE if cell.schedule == "learned" else recipe.to_json(),
        "profile": profile.name, "eval_index": cell.eval_index, "seed": cell.seed, "schedule": cell.schedule,
    }
    return digest(identity), identity, recipe


def run_eval(ws: Workspace, cell: EvalCell, *, report: Report | None = None) -> dict[str, Any]:
    """Train one fresh classification-stage net and test it; returns the evaluations row."""
    reg = get_registry()
    meta = None
    if cell.artifact:
        artifact = load_artifact(cell.artifact, ws.results)
        meta = artifact.metadata
        options = DatasetOptions(**meta["options"])
        data = load_dataset(meta["dataset"], options, root=ws.data_root, download=ws.download)
        cell = dataclasses.replace(cell, artifact=artifact.id)
    else:
        data = load_dataset(cell.dataset, cell.options, root=ws.data_root, download=ws.download)
    key, identity, recipe = eval_identity(cell, meta)
    spec = data.spec
    arch = reg.architecture(cell.cls_net)
    if reason := arch.spec.refusal(in_chans=spec.channels, img_size=spec.size):
        raise UserError(f"{cell.cls_net} cannot classify {spec.name} ({spec.channels}×{spec.size}×{spec.size}): "
                        f"{reason}")
    cls_origin = reg.architecture_origin(cell.cls_net)
    row: dict[str, Any] = {
        "key": key, "artifact": cell.artifact, "dataset": identity["dataset"],
        "dataset_version": spec.version, "dataset_options": spec.options, "cls_net": cell.cls_net,
        "cls_net_version": arch.spec.version, "cls_net_origin": str(cls_origin), "recipe": identity["recipe"],
        "schedule": cell.schedule, "profile": cell.profile, "eval_index": cell.eval_index, "seed": cell.seed,
        "device": ws.device.type, "device_name": device_name(ws.device),
    }
    if meta:
        row.update(condensation=meta["key"], condenser=meta["condenser"], condenser_version=meta["condenser_version"],
                   condenser_origin=_origin_text(meta["condenser_origin"]),
                   third_party=int(meta["condenser_origin"]["third_party"]), synth_net=meta["synth_net"],
                   ipc=meta["ipc"], run_seed=meta["seed"])
    else:
        row.update(condenser="whole_data", condenser_version=1, condenser_origin="built-in", third_party=0)
    origins = [cls_origin]
    row["versions"] = _plugin_versions(*origins) | (
        {meta["condenser_origin"]["distribution"]: meta["condenser_origin"]["version"]}
        if meta and meta["condenser_origin"]["third_party"] else {})
    safe = _safe(report)
    start = time.perf_counter()
    try:
        with PeakMemory(ws.device) as peak, use_cache(cache_dir(ws)):
            if meta is None:
                # The whole-data run of this seed: shared with the selection cells of the same seed.
                run = whole_data_run(data.train, net=cell.cls_net, epochs=recipe.epochs, seed=cell.seed,
                                     device=ws.device, test=data.test, report=safe)
                accuracy, train_s = run.test_accuracy, run.wall_s
            else:
                net = _train_on_set(arch, spec, artifact.condensed, recipe, cell, ws.device, safe)
                synchronize(ws.device)
                train_s = time.perf_counter() - start
                accuracy = evaluate_accuracy(net, data.test.to(ws.device))
    except UserError:
        raise
    except Exception as exc:
        return {**row, "status": "failed", "error": _error_text(exc), "wall_s": time.perf_counter() - start}
    return {**row, "status": "done", "accuracy": accuracy, "train_s": train_s,
            "wall_s": time.perf_counter() - start, "peak_mem_bytes": peak.bytes, "peak_mem_kind": peak.kind}


def _train_on_set(arch, spec, condensed, recipe: Recipe, cell: EvalCell, device: torch.device,
                  report: Report) -> torch.nn.Module:
    """A fresh classification-stage net trained on a condensed set under the cell's schedule."""
    gen = generator(cell.seed)
    with seeded_init(gen):
        net = arch(in_chans=spec.channels, num_classes=spec.classes, img_size=spec.size, stage="classification")
    net = net.to(device)
    images, labels = condensed.images.to(device), condensed.labels.to(device)
    if cell.schedule == "learned":
        return train_with_schedule(net, images, labels, LearnedSchedule.from_extras(condensed.extras), generator=gen)
    on_epoch = lambda epoch, loss, acc: report(epoch, loss=loss, train_acc=acc, total=recipe.epochs)
    return train_network(net, images, labels, recipe, generator=gen, on_epoch=on_epoch)


def _origin_text(origin: dict[str, Any]) -> str:
    return "built-in" if not origin["third_party"] else f"{origin['distribution']} {origin['version']}"


def eval_seed(base_seed: int, artifact: str | None, cls_net: str, eval_index: int) -> int:
    """Each evaluation net's own seed: independent across artifacts, networks and indices.

    Whole-data evaluations (no artifact) are the whole-data runs of seeds base, base+1, …: the
    same runs that selection cells of those seeds train their feature models with, so the paper's
    "whole dataset" column costs nothing more once the baselines have run."""
    if artifact is None:
        return base_seed + eval_index
    return derive_seed("eval", base_seed, artifact, cls_net, eval_index)
