"""The cell of a protocol other than classification: one network and seed, using the sets of one
condenser run (one per view of the protocol), or none for the protocol's baseline.

Like the other cells it is first a request (:class:`ProtocolCell`), then bound with its sets
(:class:`BoundProtocol`: components looked up, Config built, key computed), then run in whichever
process holds it. The key is the protocol's name, version and Config, the data set and how it is
served, the sets' ids, the network, the profile and the seed (docs/protocols.md).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import torch

from dcbench.architecture import seeded_init
from dcbench.artifacts import Artifact
from dcbench.cells import Workspace, _plugin_versions, _safe, cache_dir, error_text, origin_text
from dcbench.condenser import Report, config_dict
from dcbench.data import load_dataset
from dcbench.dataset import DatasetOptions, Split
from dcbench.errors import UserError
from dcbench.profiles import Profile
from dcbench.protocol import Context, Outcome, View
from dcbench.records import DONE, FAILED, ProtocolResult
from dcbench.reference import use_cache, whole_data_run
from dcbench.registry import Component, get_registry
from dcbench.runtime import PeakMemory, device_name, digest, synchronize


@dataclass(frozen=True)
class ProtocolCell:
    """A request: evaluation ``eval_index`` of ``cls_net`` under ``protocol``, with the sets
    ``artifacts`` (one per view, in order) or, with none, the protocol's baseline."""

    protocol: str
    dataset: str  # the grid's data set, which the protocol's views are taken from
    cls_net: str
    eval_index: int
    seed: int
    profile: str
    options: DatasetOptions = field(default_factory=DatasetOptions)
    overrides: tuple[tuple[str, Any], ...] = ()  # the protocol's --set protocol.key=value, sorted
    artifacts: tuple[str, ...] = ()

    def bind(self, artifacts: Sequence[Artifact] = ()) -> "BoundProtocol":
        return BoundProtocol.of(self, list(artifacts))


def bind_protocol(name: str, profile: Profile, overrides: dict[str, Any]) -> tuple[Component, Any]:
    """The protocol ``name`` loaded, and an instance with the Config of ``profile`` and ``overrides``."""
    component = get_registry().component("protocol", name)
    config = component.value.make_config(profile, overrides)
    return component, component.value(config)


@dataclass(frozen=True)
class BoundProtocol:
    cell: ProtocolCell
    protocol: Component
    instance: Any
    views: tuple[View, ...]
    cls_net: Component
    dataset: Component
    artifacts: tuple[Artifact, ...]
    profile: Profile
    key: str
    identity: dict[str, Any]

    @classmethod
    def of(cls, cell: ProtocolCell, artifacts: list[Artifact]) -> "BoundProtocol":
        if [a.id for a in artifacts] != list(cell.artifacts):
            raise ValueError("a protocol cell is bound with the sets it names, in its order")
        reg = get_registry()
        profile = reg.profile(cell.profile)
        protocol, instance = bind_protocol(cell.protocol, profile, dict(cell.overrides))
        dataset = reg.component("dataset", cell.dataset)
        views = tuple(instance.views(dataset.name, cell.options))
        if artifacts and len(artifacts) != len(views):
            raise UserError(f"protocol {protocol.name} uses {len(views)} set(s) per evaluation, given {len(artifacts)}")
        for view, artifact in zip(views if artifacts else (), artifacts, strict=True):
            made = (artifact.metadata["dataset"], DatasetOptions(**artifact.metadata["options"]))
            if made != (reg.datasets.canonical(view.dataset), view.options):
                raise UserError(f"set {artifact.id[:12]} was made of {made[0]} {made[1].to_json()}, but protocol "
                                f"{protocol.name} needs one of {view.dataset} {view.options.to_json()} there")
        arch = reg.component("architecture", cell.cls_net)
        identity = {
            "protocol": protocol.name, "protocol_version": protocol.version,
            "protocol_config": config_dict(instance.config), "dataset": dataset.name,
            "dataset_version": dataset.version, "options": cell.options.to_json(), "artifacts": list(cell.artifacts),
            "cls_net": arch.name, "cls_net_version": arch.version, "profile": profile.name,
            "eval_index": cell.eval_index, "seed": cell.seed,
        }
        # the other data sets it reads (a sequence's, a source): their versions too; absent when there are
        # none, so that the key of a protocol over one data set has no such part
        others = [{"dataset": component.name, "dataset_version": component.version, "options": view.options.to_json()}
                  for view in [*views, *instance.reads(dataset.name, cell.options)]
                  if (component := reg.component("dataset", view.dataset)).name != dataset.name]
        if others:
            identity["data"] = others
        return cls(cell, protocol, instance, views, arch, dataset, tuple(artifacts), profile, digest(identity),
                   identity)

    @property
    def label(self) -> str:
        what = self.protocol.spec.baseline or "baseline"
        if self.artifacts:
            meta = self.artifacts[0].metadata
            net = f"/{meta['synth_net']}" if meta["synth_net"] else ""
            what = f"{meta['condenser']}{net} ipc {meta['ipc']} seed {meta['seed']}"
        return f"{self.protocol.name} {self.dataset.name}: {self.cls_net.name} net {self.cell.eval_index + 1} ← {what}"

    def skeleton(self) -> ProtocolResult:
        ident = self.identity
        known: dict[str, Any] = dict(
            key=self.key, status=FAILED, protocol=ident["protocol"], protocol_version=ident["protocol_version"],
            protocol_config=ident["protocol_config"], views=[view.to_json() for view in self.views],
            dataset=self.dataset.name, dataset_version=self.dataset.version, dataset_options=ident["options"],
            profile=ident["profile"], cls_net=self.cls_net.name, cls_net_version=self.cls_net.version,
            eval_index=self.cell.eval_index, seed=self.cell.seed, artifacts=list(self.cell.artifacts))
        if self.artifacts:
            meta = self.artifacts[0].metadata
            origin = meta["condenser_origin"]
            known.update(condensations=[a.metadata["key"] for a in self.artifacts], condenser=meta["condenser"],
                         condenser_version=meta["condenser_version"], condenser_origin=origin_text(origin),
                         third_party=bool(origin["third_party"]), synth_net=meta["synth_net"], ipc=meta["ipc"],
                         run_seed=meta["seed"])
        else:
            known.update(condensations=[], condenser=self.protocol.spec.baseline or "baseline")
        return ProtocolResult(**known)


def build_context(ws: Workspace, arch: Component, views: Sequence[View], sets: Sequence[Any], *, seed: int,
                  ipc: int | None, profile: Profile, report: Report) -> Context:
    """A protocol's Context: its views' data from the workspace's data root, fresh ``arch`` nets and
    its whole-data runs (cached under the results folder inside ``use_cache``)."""

    def load(view: View):
        return load_dataset(view.dataset, view.options, root=ws.data_root, download=ws.download)

    first = load(views[0]).spec

    def network(classes: int, gen: torch.Generator) -> torch.nn.Module:
        with seeded_init(gen):
            net = arch.value(in_chans=first.channels, num_classes=classes, img_size=first.size,
                             stage="classification")
        return net.to(ws.device)

    def shared_run(split: Split, *, epochs: int | None = None, seed: int, test: Split | None = None):
        return whole_data_run(split, net=arch.name, epochs=epochs or profile.whole_epochs, seed=seed,
                              device=ws.device, test=test, report=report)

    on_device = tuple(replace(s, images=s.images.to(ws.device), labels=s.labels.to(ws.device)) for s in sets)
    return Context(sets=on_device, views=tuple(views), cls_net=arch.name, seed=seed, ipc=ipc, profile=profile,
                   device=ws.device, load=load, network=network, whole_data_run=shared_run, report=report)


def run_protocol(ws: Workspace, bound: BoundProtocol, *, report: Report | None = None) -> ProtocolResult:
    """Run one evaluation of the protocol; returns its record (failed with the error when it raises)."""
    record = replace(bound.skeleton(), device=ws.device.type, device_name=device_name(ws.device),
                     versions=_plugin_versions(bound.protocol.origin, bound.cls_net.origin))
    start = time.perf_counter()
    try:
        ipc = bound.artifacts[0].metadata["ipc"] if bound.artifacts else None
        context = build_context(ws, bound.cls_net, bound.views, [a.condensed for a in bound.artifacts],
                                seed=bound.cell.seed, ipc=ipc, profile=bound.profile, report=_safe(report))
        with PeakMemory(ws.device) as peak, use_cache(cache_dir(ws)):
            outcome = bound.instance.run(context)
            synchronize(ws.device)
        if problem := outcome_problem(outcome):
            raise ValueError(f"protocol {bound.protocol.name} returned {problem}")
    except UserError:
        raise
    except Exception as exc:
        return replace(record, error=error_text(exc), wall_s=time.perf_counter() - start, finished_at=time.time())
    wall = time.perf_counter() - start
    return replace(record, status=DONE, value=float(outcome.value), metrics=dict(outcome.metrics), train_s=wall,
                   wall_s=wall, peak_mem_bytes=peak.bytes, peak_mem_kind=peak.kind, finished_at=time.time())


def outcome_problem(outcome: Any) -> str | None:
    """What is wrong with what a protocol's ``run`` returned, or None: the one definition of a valid
    outcome, enforced on every run and asserted by dcbench.testing."""
    if not isinstance(outcome, Outcome):
        return f"{type(outcome).__name__}, not a dcbench.Outcome"
    if not isinstance(outcome.value, (int, float)) or isinstance(outcome.value, bool) or \
            not math.isfinite(outcome.value):
        return f"a value of {outcome.value!r}, not a finite number"
    try:
        json.dumps(dict(outcome.metrics), allow_nan=False)
    except (TypeError, ValueError) as exc:
        return f"metrics that are not plain JSON ({exc})"
    return None
