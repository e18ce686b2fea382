"""The condenser contract: what every condensation method, built-in or third-party, implements."""

from __future__ import annotations

import collections.abc
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal, Mapping, Protocol

import torch
from torch import nn

from dcbench.dataset import TrainSet
from dcbench.errors import UserError

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
    """

    name: str
    kind: Kind
    version: int
    needs_network: bool
    deterministic: bool = True
    description: str = ""


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
    """A condensation method. Subclass :class:`CondenserBase` or implement this protocol directly."""

    spec: ClassVar[CondenserSpec]
    Config: ClassVar[type]

    def __init__(self, config: Any) -> None: ...

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

    @classmethod
    def make_config(cls, profile: "Profile | None" = None, overrides: Mapping[str, Any] | None = None):
        """Build the Config for ``profile`` with user overrides; unknown keys are an error.

        Subclasses whose budgets scale with the profile override :meth:`profile_defaults`.
        """
        values = dict(cls.profile_defaults(profile)) if profile is not None else {}
        values.update(overrides or {})
        return build_config(cls.Config, values, owner=cls.spec.name)

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


def condensed_set_problem(condensed: Any, train: TrainSet, *, ipc: int, kind: str = "synthesis") -> str | None:
    """What is wrong with a condenser's output, or None: the one definition of a valid set, which
    dcbench enforces on every run and :func:`dcbench.testing.check_condensed_set` asserts for authors.

    Exactly ``ipc`` finite float32 images per class in the training split's shape and int64 labels in
    range; for selection methods, the distinct int64 indices of the very training images returned.
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

