"""The classification protocol: what "evaluating a set" means, as one explicit configuration.

An evaluation trains one fresh classification-stage network on a set (a condensed set, or the
whole training split) and tests it on the whole test split. :class:`Classification` is everything
that decides how that happens beyond the network, the set and the seed: the training recipe
(derived from the profile and the data set's settings, :mod:`dcbench.recipe`) and the schedule.
All of it is in the result's key; :meth:`Classification.identity` is exactly the part of the key
it contributes, and fields added later must leave that part unchanged at their defaults, so that
no stored result is voided.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from dcbench.architecture import seeded_init
from dcbench.condenser import CondensedSet
from dcbench.dataset import DatasetSpec
from dcbench.errors import UserError
from dcbench.profiles import Profile
from dcbench.protocol import Context, Outcome, ProtocolBase, ProtocolSpec
from dcbench.recipe import DC_RECIPE, RECIPES, Recipe, evaluate_accuracy, train_network
from dcbench.registry import get_registry
from dcbench.runtime import generator
from dcbench.schedule import LR_SCHEDULE, LearnedSchedule, train_with_schedule

#: "standard": the recipe below; "learned": replay the training schedule a condenser learned with
#: its set (dataset distillation's per-step rates, dcbench.schedule).
STANDARD, LEARNED = "standard", "learned"
SCHEDULES = (STANDARD, LEARNED)
#: What a learned-schedule result records as its recipe (the rates are the set's own).
LEARNED_RECIPE = {"kind": "learned_schedule", "init": "xavier_normal", "optimizer": "sgd",
                  "lr": "the set's learned rate per step", "momentum": 0.0, "weight_decay": 0.0}

#: How a set's labels are trained on: class indices, or soft labels (the set's extra SOFT_LABELS,
#: N × classes) given as probabilities or as logits (turned into probabilities by a softmax).
HARD, PROBABILITIES, LOGITS = "hard", "probabilities", "logits"
LABELS = (HARD, PROBABILITIES, LOGITS)
SOFT_LABELS = "soft_labels"


@dataclass(frozen=True)
class Classification:
    """How a fresh network is trained on a set before it is tested: the protocol's Config."""

    recipe: Recipe
    schedule: str = STANDARD
    labels: str = HARD
    # a step size learned with the set (MTT's syn_lr), which replaces the recipe's learning rate
    set_lr: float | None = None

    @classmethod
    def of(cls, profile: Profile, dataset_settings: dict[str, Any], *, whole: bool, schedule: str = STANDARD,
           labels: str = HARD, set_lr: float | None = None, recipe: str = DC_RECIPE) -> "Classification":
        """The configuration a profile gives on a data set: for a condensed set (with its labels and
        learned step size, if it has them, trained under ``recipe``), or the whole split."""
        if recipe not in RECIPES:
            raise UserError(f"recipe {recipe!r} is not one of {', '.join(RECIPES)}")
        if schedule not in SCHEDULES:
            raise UserError(f"schedule {schedule!r} is not one of {', '.join(SCHEDULES)}")
        if labels not in LABELS:
            raise UserError(f"labels {labels!r} is not one of {', '.join(LABELS)}")
        if whole and (schedule != STANDARD or labels != HARD or set_lr is not None or recipe != DC_RECIPE):
            raise UserError("the whole training split is trained with the standard schedule and recipe only")
        made = Recipe.whole_data(profile, dataset_settings) if whole else \
            Recipe.condensed(profile, dataset_settings, recipe)
        if set_lr is not None:
            made = dataclasses.replace(made, lr=set_lr)
        return cls(made, schedule, labels, set_lr)

    @classmethod
    def for_set(cls, profile: Profile, dataset_settings: dict[str, Any], artifact_meta: dict[str, Any], *,
                schedule: str = STANDARD, recipe: str | None = None) -> "Classification":
        """The configuration of a stored set's evaluations: its labels and step size are the set's,
        and so is the recipe (its condenser's paper's) unless ``recipe`` asks for another."""
        return cls.of(profile, dataset_settings, whole=False, schedule=schedule,
                      labels=artifact_meta.get("labels", HARD), set_lr=artifact_meta.get("set_lr"),
                      recipe=recipe or artifact_meta.get("recipe", DC_RECIPE))

    @property
    def recorded_recipe(self) -> dict[str, Any]:
        """The recipe a result records (its ``recipe`` column)."""
        return LEARNED_RECIPE if self.schedule == LEARNED else self.recipe.to_json()

    def identity(self) -> dict[str, Any]:
        """This configuration's part of an evaluation's key (a field at its default adds nothing)."""
        identity: dict[str, Any] = {"recipe": self.recorded_recipe, "schedule": self.schedule}
        if self.labels != HARD:
            identity["labels"] = self.labels
        if self.set_lr is not None:
            identity["set_lr"] = self.set_lr
        return identity

    def targets(self, condensed: CondensedSet) -> torch.Tensor:
        """What the net is trained to predict: class indices, or the set's soft labels as probabilities."""
        if self.labels == HARD:
            return condensed.labels
        soft = condensed.extras[SOFT_LABELS].float()
        return soft.softmax(1) if self.labels == LOGITS else soft

    def train(self, arch: Callable[..., nn.Module], spec: DatasetSpec, condensed: CondensedSet, *, seed: int,
              device: torch.device, report: Callable[..., None]) -> nn.Module:
        """A fresh classification-stage net, its weights and every later draw from ``seed``, trained
        on ``condensed`` (its images on ``device``)."""
        gen = generator(seed)
        with seeded_init(gen):
            net = arch(in_chans=spec.channels, num_classes=spec.classes, img_size=spec.size, stage="classification")
        net = net.to(device)
        images, labels = condensed.images.to(device), self.targets(condensed).to(device)
        if self.schedule == LEARNED:
            return train_with_schedule(net, images, labels, LearnedSchedule.from_extras(condensed.extras),
                                       generator=gen)
        on_epoch = lambda epoch, loss, acc: report(epoch, loss=loss, train_acc=acc, total=self.recipe.epochs)
        return train_network(net, images, labels, self.recipe, generator=gen, on_epoch=on_epoch)


def schedules_of(artifact_meta: dict[str, Any]) -> tuple[str, ...]:
    """The schedules a set is evaluated under: its learned one too, when it carries one."""
    return SCHEDULES if artifact_meta.get("learned_schedule") else (STANDARD,)


def carries_schedule(condensed: CondensedSet) -> bool:
    return LR_SCHEDULE in condensed.extras


class ClassificationProtocol(ProtocolBase):
    """The default protocol as a registered component. Grids run it through dcbench's evaluation
    cells (dcbench.cells), whose keys predate protocols and stay as they were; ``run`` is the same
    computation through the protocol contract for a set of class labels under the standard schedule
    and the Config's recipe, and gives the eval cell's accuracy for the same seed."""

    spec = ProtocolSpec(name="classification", version=1, metric="accuracy",
                        description="train a fresh network on the set, test it on the whole test split (the default)")
    @dataclass(frozen=True)
    class Config:
        recipe: str = DC_RECIPE  # the grid's --recipe; the rest of the configuration comes from the set

    @classmethod
    def make_config(cls, profile: Profile | None = None, overrides: Any = None) -> "ClassificationProtocol.Config":
        if overrides:
            raise UserError("protocol classification has no protocol.* settings: its recipe is chosen with "
                            "--recipe and its budgets by --profile")
        return cls.Config()

    def run(self, context: Context) -> Outcome:
        if len(context.sets) != 1:
            raise UserError("protocol classification trains on exactly one set")
        data = context.load(context.views[0])
        config = Classification.of(context.profile, get_registry().dataset_settings(data.spec.name), whole=False,
                                   recipe=self.config.recipe)
        gen = generator(context.seed)
        net = context.network(data.spec.classes, gen)
        condensed = context.sets[0]
        train_network(net, condensed.images, config.targets(condensed), config.recipe, generator=gen)
        return Outcome(100 * evaluate_accuracy(net, data.test.to(context.device)))
