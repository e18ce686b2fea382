"""Evaluation protocols: what a condensed set is used for, as a component kind.

A protocol turns condensed sets into a number. The built-in default, ``classification``, trains a
fresh network on one set and tests it (dcbench.classification; its results are the evaluations
every leaderboard shows). Others use sets differently: as the rehearsal memory of a continual
learner, as the few target images a pretrained net is fine-tuned on. A protocol is a class with

- ``spec``, a :class:`ProtocolSpec`: its name, an integer version (bump it when what ``run``
  computes changes: the version is in every result's key), what its number is, the further
  columns its leaderboard section shows, and the name of its baseline;
- ``Config``, a frozen dataclass of its settings (``--set protocol.key=value``), built by
  ``make_config(profile, overrides)``; every field is in its results' keys;
- ``views(dataset, options)``: the data the sets of one evaluation are made of, in order (a
  :class:`View` each): the grid makes one set per view with the condenser under test; optionally
  ``reads(dataset, options)``, other data it reads (checked before anything runs);
- ``run(context)``: one evaluation (one network, one seed) with those sets, or with none (the
  protocol's baseline, e.g. no rehearsal memory), returning an :class:`Outcome`.

dcbench plans the sets, schedules the runs, caches what is shared and stores every outcome with its
key; a protocol only says what to do with the sets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping

import torch
from torch import nn

from dcbench.condenser import CondensedSet, Report, config_for
from dcbench.dataset import DatasetOptions, LoadedDataset
from dcbench.profiles import Profile

#: The protocol a grid runs when none is named.
DEFAULT_PROTOCOL = "classification"


@dataclass(frozen=True)
class ProtocolSpec:
    name: str
    version: int = 1
    description: str = ""
    metric: str = "accuracy"  # what Outcome.value measures, in percent
    columns: tuple[str, ...] = ()  # keys of Outcome.metrics its leaderboard section shows (mean over runs)
    baseline: str = ""  # what an evaluation with no set is called ("no memory"); "" when there is none


@dataclass(frozen=True)
class View:
    """One data set as a protocol's set is made of it and tested on: a name and how it is served."""

    dataset: str
    options: DatasetOptions = field(default_factory=DatasetOptions)

    def to_json(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "options": self.options.to_json()}


@dataclass(frozen=True)
class Outcome:
    """What one evaluation measured: ``value`` (the spec's metric, in percent) and any further
    JSON-able numbers (per-stage accuracies, the baseline's score, …)."""

    value: float
    metrics: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    """What ``run`` is given. ``sets``: one condensed set per view, its labels those the view serves
    (0 … k-1 of a class subset), on ``device``; empty for the baseline. ``load(view)``: the view's
    data, normalised. ``network(classes, generator)``: a fresh classification-stage ``cls_net`` for
    the views' image shape. ``whole_data_run(split, epochs=, seed=)``: ``cls_net`` trained on a whole
    split, cached in the results folder and shared by every evaluation that asks for the same run
    (its ``model`` must not be changed: copy it). ``report(step, **metrics)``: progress."""

    sets: tuple[CondensedSet, ...]
    views: tuple[View, ...]
    cls_net: str
    seed: int
    ipc: int | None
    profile: Profile
    device: torch.device
    load: Callable[[View], LoadedDataset]
    network: Callable[[int, torch.Generator], nn.Module]
    whole_data_run: Callable[..., Any]
    report: Report


class ProtocolBase:
    """Shared plumbing: the Config from a profile and overrides, one view of the grid's data set."""

    spec: ClassVar[ProtocolSpec]

    @dataclass(frozen=True)
    class Config:
        pass

    def __init__(self, config: Any = None) -> None:
        self.config = config if config is not None else self.make_config()

    @classmethod
    def make_config(cls, profile: Profile | None = None, overrides: Mapping[str, Any] | None = None) -> Any:
        """The Config for ``profile`` with the user's overrides; an unknown key or a bad value is an error.
        Protocols whose budgets scale with the profile override :meth:`profile_defaults`."""
        return config_for(cls, profile, overrides, owner=f"protocol {cls.spec.name}")

    @classmethod
    def profile_defaults(cls, profile: Profile) -> Mapping[str, Any]:
        return {}

    def views(self, dataset: str, options: DatasetOptions) -> list[View]:
        return [View(dataset, options)]

    def reads(self, dataset: str, options: DatasetOptions) -> list[View]:
        """Data an evaluation reads besides its views (domain adaptation's source): a grid loads them
        before anything runs, so that missing files are the user's one-line error, not failed cells."""
        return []

    def run(self, context: Context) -> Outcome:
        raise NotImplementedError

