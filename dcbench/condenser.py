"""The condenser contract: what every condensation method, built-in or third-party, implements."""

from __future__ import annotations

import collections.abc
import dataclasses
import inspect
import types
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal, Mapping, Protocol

import torch
from torch import nn

from dcbench.dataset import TrainSet
from dcbench.errors import UserError
from dcbench.recipe import RECIPES
from dcbench.schedule import LearnedSchedule

if TYPE_CHECKING:
    from dcbench.profiles import Profile

Kind = Literal["selection", "synthesis"]

#: ``report(step, **metrics)``: cheap progress callback; implementations never raise.
Report = Callable[..., None]

#: ``model_factory(generator)`` builds a freshly initialised synthesis-stage network whose weights
#: are drawn from ``generator`` (so condensers stay reproducible without global RNG state).
ModelFactory = Callable[[torch.Generator], nn.Module]


@dataclass(frozen=True)
class CondenserSpec:
    """What the framework needs to know about a condenser before running it.

    ``version`` is the integer a plugin author bumps whenever the method's outputs change: it is
    part of every cache key, so bumping it makes grids recompute, while a release that changes
    nothing does not void finished work.

    The last five fields declare the hooks a condenser offers beyond ``condense``. dcbench uses a
    hook only where it is declared, and checks each declaration when the plugin loads
    (:func:`contract_problems`), so a misdeclared condenser is a broken plugin, named with the
    reason, rather than a cell that fails hours into a grid.
    """

    name: str
    kind: Kind
    version: int
    needs_network: bool
    deterministic: bool = True
    description: str = ""
    #: ``condense`` takes ``checkpoint=`` (a :class:`dcbench.Checkpoint`) and resumes from it.
    resumable: bool = False
    #: The Config field that counts outer iterations, one ``report`` call each: ``dcbench bench
    #: --iterations`` sets it and times the gaps between reports.
    iteration_field: str | None = None
    #: The values of the Config field ``implementation`` that ``dcbench bench --compare`` times.
    implementations: tuple[str, ...] = ()
    #: The keys ``condense`` may record in ``self.details`` (JSON values, stored with the result).
    details: tuple[str, ...] = ()
    #: The names of the tensors its sets carry in :attr:`CondensedSet.extras`; a set carrying
    #: :attr:`dcbench.LearnedSchedule.EXTRAS` is also evaluated with its own learned schedule.
    extras: tuple[str, ...] = ()
    #: The evaluation recipe its paper used (one of :data:`dcbench.recipe.RECIPES`): its sets are
    #: evaluated under it unless a grid or ``dcbench eval`` asks for another (``--recipe``).
    recipe: str = "dc"
    #: It synthesises with the network's embedding (:func:`dcbench.embedding`): only networks whose
    #: ``ArchSpec.embedding`` declares one are given; others are refused before anything runs.
    needs_embedding: bool = False

    def __post_init__(self) -> None:
        for name in ("implementations", "details", "extras"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not all(isinstance(v, str) and v for v in value):
                raise TypeError(f"CondenserSpec.{name} must be a tuple of names, got {value!r}")
        if self.iteration_field is not None and not (isinstance(self.iteration_field, str) and self.iteration_field):
            raise TypeError(f"CondenserSpec.iteration_field must be a Config field name or None, "
                            f"got {self.iteration_field!r}")


@dataclass
class CondensedSet:
    """A small training set, in the normalised space of the data set it came from."""

    images: torch.Tensor  # (N, C, H, W) float32, normalised
    labels: torch.Tensor  # (N,) int64
    indices: torch.Tensor | None = None  # positions in the training split, for selection methods
    extras: dict[str, torch.Tensor] = field(default_factory=dict)  # e.g. DD's learned step sizes

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError("labels must hold one label per image")

    def detached(self) -> "CondensedSet":
        """A CPU copy without autograd history, ready to be saved."""

        def cpu(t: torch.Tensor) -> torch.Tensor:
            return t.detach().to("cpu").contiguous()

        return CondensedSet(
            images=cpu(self.images).float(),
            labels=cpu(self.labels).long(),
            indices=None if self.indices is None else cpu(self.indices).long(),
            extras={k: cpu(v) for k, v in self.extras.items()},
        )


class Condenser(Protocol):
    """A condensation method. Subclass :class:`CondenserBase` or implement this protocol directly.

    ``details`` holds what a run chose or measured (keys declared in ``spec.details``), read after
    ``condense`` returns and stored with the result. ``condense`` also takes ``checkpoint=`` when
    ``spec.resumable`` says so.
    """

    spec: ClassVar[CondenserSpec]
    Config: ClassVar[type]
    details: Mapping[str, Any]

    def __init__(self, config: Any) -> None: ...

    @classmethod
    def make_config(cls, profile: "Profile | None" = None, overrides: Mapping[str, Any] | None = None) -> Any: ...

    def condense(
        self,
        train: TrainSet,
        *,
        ipc: int,
        generator: torch.Generator,
        device: torch.device,
        model_factory: ModelFactory | None = None,
        report: Report | None = None,
    ) -> CondensedSet: ...


def _no_report(step: int, **metrics: float) -> None:
    return None


class CondenserBase:
    """Shared plumbing: config construction from a profile, validation of ``ipc``."""

    spec: ClassVar[CondenserSpec]

    @dataclass(frozen=True)
    class Config:
        pass

    def __init__(self, config: Any = None) -> None:
        self.config = config if config is not None else self.Config()
        self.details: dict[str, Any] = {}

    @classmethod
    def make_config(cls, profile: "Profile | None" = None, overrides: Mapping[str, Any] | None = None):
        """Build the Config for ``profile`` with user overrides; unknown keys are an error.

        Subclasses whose budgets scale with the profile override :meth:`profile_defaults`.
        """
        return config_for(cls, profile, overrides, owner=cls.spec.name)

    @classmethod
    def profile_defaults(cls, profile: "Profile") -> Mapping[str, Any]:
        return {}

    def condense(self, train, *, ipc, generator, device, model_factory=None, report=None):
        raise NotImplementedError


class SelectionCondenser(CondenserBase):
    """A coreset method: it only has to choose ``ipc`` training indices per class."""

    def select(self, train: TrainSet, *, ipc: int, generator: torch.Generator, device: torch.device,
               model_factory: ModelFactory | None, report: Report) -> torch.Tensor:
        raise NotImplementedError

    def condense(self, train, *, ipc, generator, device, model_factory=None, report=None):
        check_ipc(train, ipc)
        indices = self.select(train, ipc=ipc, generator=generator, device=device,
                              model_factory=model_factory, report=report or _no_report)
        indices = torch.as_tensor(indices, dtype=torch.long).cpu()
        return CondensedSet(images=train.images[indices].clone(), labels=train.labels[indices].clone(),
                            indices=indices)


#: The keyword arguments dcbench passes to every ``condense`` call.
CONDENSE_KEYWORDS = ("ipc", "generator", "device", "model_factory", "report")


def contract_problems(condenser_cls: Any) -> list[str]:
    """What is wrong with a condenser class, checked without running it: its spec, Config,
    ``make_config`` and ``condense``, and each hook its spec declares against what the class
    offers. Empty when it honours the contract; the registry refuses to load it otherwise."""
    spec = getattr(condenser_cls, "spec", None)
    if not isinstance(spec, CondenserSpec):
        return [f"`spec` must be a dcbench.CondenserSpec, got {spec!r}"]
    problems = []
    if spec.kind not in ("selection", "synthesis"):
        problems.append(f"spec.kind must be 'selection' or 'synthesis', got {spec.kind!r}")
    if not isinstance(spec.version, int) or isinstance(spec.version, bool) or spec.version < 1:
        problems.append(f"spec.version must be an integer >= 1 (bump it when outputs change), got {spec.version!r}")
    for flag in ("needs_network", "deterministic", "resumable", "needs_embedding"):
        if not isinstance(getattr(spec, flag), bool):
            problems.append(f"spec.{flag} must be True or False")
    if spec.recipe not in RECIPES:
        problems.append(f"spec.recipe must be one of {', '.join(RECIPES)}, got {spec.recipe!r}")
    config_cls = getattr(condenser_cls, "Config", None)
    if not (isinstance(config_cls, type) and dataclasses.is_dataclass(config_cls)):
        problems.append("`Config` must be a dataclass of hyperparameters")
        config_cls = None
    elif not config_cls.__dataclass_params__.frozen:
        problems.append("`Config` must be frozen (@dataclass(frozen=True)): a configuration is part of a cache key")
    if not callable(getattr(condenser_cls, "make_config", None)):
        problems.append("no make_config(profile, overrides) classmethod: subclass dcbench.CondenserBase")
    condense = getattr(condenser_cls, "condense", None)
    if not callable(condense):
        return [*problems, "it lacks a `condense` method"]
    problems += _signature_problems(condense, spec)
    if config_cls is not None:
        problems += _declared_field_problems(spec, config_cls)
    schedule = set(LearnedSchedule.EXTRAS)
    if schedule & set(spec.extras) and not schedule <= set(spec.extras):
        missing = ", ".join(sorted(schedule - set(spec.extras)))
        problems.append(f"spec.extras declares part of a learned schedule but not {missing}: "
                        "declare all of dcbench.LearnedSchedule.EXTRAS")
    return problems


def _signature_problems(condense: Callable, spec: CondenserSpec) -> list[str]:
    try:
        parameters = inspect.signature(condense).parameters
    except (TypeError, ValueError):
        return []
    kinds = {p.kind for p in parameters.values()}
    takes_any = inspect.Parameter.VAR_KEYWORD in kinds
    problems = []
    missing = [k for k in CONDENSE_KEYWORDS if k not in parameters and not takes_any]
    if missing:
        problems.append(f"condense() does not take {', '.join(missing)}: its signature must be "
                        "condense(self, train, *, ipc, generator, device, model_factory=None, report=None)")
    known = {"self", "train", *CONDENSE_KEYWORDS, "checkpoint"}
    required = [n for n, p in parameters.items() if n not in known and p.default is p.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if required:
        problems.append(f"condense() requires {', '.join(required)}, which dcbench never passes: give it a default")
    takes_checkpoint = "checkpoint" in parameters
    if spec.resumable and not takes_checkpoint:
        problems.append("spec.resumable is True but condense() takes no `checkpoint` argument")
    if takes_checkpoint and not spec.resumable:
        problems.append("condense() takes `checkpoint` but spec.resumable is False: declare resumable=True")
    return problems


def _declared_field_problems(spec: CondenserSpec, config_cls: type) -> list[str]:
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    problems = []
    if spec.iteration_field is not None and spec.iteration_field not in fields:
        problems.append(f"spec.iteration_field names {spec.iteration_field!r}, which Config lacks; "
                        f"its fields: {', '.join(fields) or '(none)'}")
    if spec.implementations:
        if "implementation" not in fields:
            problems.append("spec.implementations is declared but Config has no `implementation` field")
        else:
            for choice in spec.implementations:
                try:
                    config_cls(implementation=choice)
                except Exception as exc:  # noqa: BLE001 - any refusal means the declaration is wrong
                    problems.append(f"spec.implementations lists {choice!r}, which Config refuses: {exc}")
    return problems


def details_problem(details: Any, spec: CondenserSpec) -> str | None:
    """What is wrong with what ``condense`` recorded in ``details``, or None."""
    if not isinstance(details, Mapping):
        return f"details must be a dict, got {type(details).__name__}"
    undeclared = sorted(set(details) - set(spec.details))
    if undeclared:
        return f"details {', '.join(map(repr, undeclared))} not declared in spec.details"
    return None


def condensed_set_problem(condensed: Any, train: TrainSet, *, ipc: int, kind: str = "synthesis",
                          extras: tuple[str, ...] | None = None) -> str | None:
    """What is wrong with a condenser's output, or None: the one definition of a valid set, which
    dcbench enforces on every run and :func:`dcbench.testing.check_condensed_set` asserts for authors.

    Exactly ``ipc`` finite float32 images per class in the training split's shape and int64 labels in
    range; the extras the spec declares (when ``extras`` is given) and no others; for selection
    methods, the distinct int64 indices of the very training images returned.
    """
    spec = train.spec
    if not isinstance(condensed, CondensedSet):
        return f"returned {type(condensed).__name__}, not a dcbench.CondensedSet"
    images, labels = condensed.images, condensed.labels.cpu()
    expected = (spec.classes * ipc, spec.channels, spec.size, spec.size)
    if tuple(images.shape) != expected:
        return f"images have shape {tuple(images.shape)}, expected {expected} ({ipc} per class)"
    if images.dtype != torch.float32 or labels.dtype != torch.int64:
        return f"images must be float32 and labels int64, got {images.dtype} and {labels.dtype}"
    if not bool(((labels >= 0) & (labels < spec.classes)).all()):
        return f"labels must lie in 0..{spec.classes - 1}, got {sorted(set(labels.tolist()))}"
    counts = torch.bincount(labels, minlength=spec.classes).tolist()
    if counts != [ipc] * spec.classes:
        return f"expected exactly {ipc} images per class, got counts {counts}"
    if not bool(torch.isfinite(images).all()):
        return "images contain NaN or infinite values"
    if extras is not None and set(condensed.extras) != set(extras):
        return (f"extras are {sorted(condensed.extras) or 'none'} but spec.extras declares "
                f"{sorted(extras) or 'none'}")
    if kind != "selection":
        return None
    if condensed.indices is None:
        return "a selection method must return the indices of the images it chose"
    indices = condensed.indices.cpu()
    if indices.dtype != torch.int64 or indices.shape != labels.shape:
        return f"indices must be int64, one per image, got {indices.dtype} of shape {tuple(indices.shape)}"
    if not bool(((indices >= 0) & (indices < len(train))).all()):
        return f"indices out of range: they must lie in 0..{len(train) - 1}"
    if len(torch.unique(indices)) != len(indices):
        return "the same training image was chosen twice"
    if not torch.equal(train.labels.cpu()[indices], labels):
        return "labels differ from the training labels at the chosen indices"
    if not torch.equal(train.images.cpu()[indices], images.cpu()):
        return "images differ from the training images at the chosen indices"
    return None


def check_ipc(train: TrainSet, ipc: int) -> None:
    """Refuse an ``ipc`` that no class can supply, naming the smallest class."""
    if ipc < 1:
        raise UserError(f"--ipc must be at least 1, got {ipc}")
    counts = torch.bincount(train.labels, minlength=train.spec.classes)
    smallest = int(counts.min())
    if ipc > smallest:
        cls = int(counts.argmin())
        raise UserError(f"--ipc {ipc} is more than class {cls} of {train.spec.name} has ({smallest} images); "
                        f"use --ipc {smallest} or less")


def config_for(component: Any, profile: "Profile | None", overrides: Mapping[str, Any] | None, *, owner: str):
    """A component's Config: its ``profile_defaults(profile)``, then the user's ``overrides``, checked."""
    values = dict(component.profile_defaults(profile)) if profile is not None else {}
    values.update(overrides or {})
    return build_config(component.Config, values, owner=owner)


def build_config(config_cls: type, values: Mapping[str, Any], *, owner: str):
    """Instantiate a frozen Config dataclass from ``values``, checked by :func:`check_values` first."""
    check_values(config_cls, values, owner=owner)
    try:
        return config_cls(**values)
    except (TypeError, ValueError) as exc:
        raise UserError(f"bad hyperparameters for {owner}: {exc}") from None


def check_values(config_cls: type, values: Mapping[str, Any], *, owner: str) -> None:
    """Refuse keys the Config lacks (listing the valid ones) and values that do not fit a field's
    type (int, float, bool, str, optional, literal choices, lists and tuples), naming the field, the
    value and the type expected, so a bad ``--set`` stops a grid before any cell runs."""
    if not dataclasses.is_dataclass(config_cls):
        return
    names = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise UserError(f"{owner} has no hyperparameter {', '.join(map(repr, unknown))}; "
                        f"valid: {', '.join(sorted(names)) or '(none)'}")
    try:
        hints = typing.get_type_hints(config_cls)
    except Exception:  # an annotation that does not resolve: leave the values to the Config
        return
    for name, value in values.items():
        if name in hints and not _fits(value, hints[name]):
            raise UserError(f"{owner}: hyperparameter {name}={value!r} is {_kind(value)}, expected "
                            f"{_expected(hints[name])}")


def _fits(value: Any, hint: Any) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if origin is typing.Literal:  # by type too: True == 1 == 1.0
        return any(value == choice and type(value) is type(choice) for choice in args)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin in (list, collections.abc.Sequence):
        return isinstance(value, (list, tuple)) and all(_fits(v, args[0] if args else Any) for v in value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return len(value) == len(args) and all(_fits(v, a) for v, a in zip(value, args, strict=True))
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # a typing construct not checked here: the Config's own checks decide


def _expected(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("None" if arg is type(None) else _expected(arg) for arg in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin in (list, tuple, collections.abc.Sequence):
        return f"a list of {_expected(args[0]) if args else 'values'}"
    return getattr(hint, "__name__", str(hint))


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


_ADDED = "dcbench.added"


def added_field(default: Any) -> Any:
    """A Config field added after results were stored, e.g. ``precision: str = added_field("default")``.

    A cell's key holds its condenser's whole configuration, so a plain new field would make every
    stored cell of that condenser look new and a grid would compute them all again. A field declared
    this way is left out of the configuration (key, artifact, store) while it holds its default, so
    stored cells stay found; set to anything else, it is recorded and keyed like any field.
    The default must be what every stored result was computed with, and a plain JSON scalar."""
    return field(default=default, metadata={_ADDED: True})


def config_dict(config: Any) -> dict[str, Any]:
    """A Config as plain JSON-able values (for keys, artifacts and the store); ``added_field``s at
    their default are left out."""
    if not dataclasses.is_dataclass(config):
        return dict(config or {})
    values = dataclasses.asdict(config)
    for f in dataclasses.fields(config):
        if f.metadata.get(_ADDED) and values[f.name] == f.default:
            del values[f.name]
    return values

