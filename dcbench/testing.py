"""Conformance checks that plugin authors run in their own tests.

Each check is a plain function that raises ``AssertionError`` with a message saying what is wrong
and how to fix it, so it works under pytest (or any runner) as it is::

    from dcbench import testing

    def test_my_condenser():
        testing.check_condenser(MyCondenser, overrides={"iterations": 1})

    def test_my_network():
        testing.check_architecture(my_net)

    def test_my_data_set(tmp_path):
        testing.check_dataset(my_data, root=tmp_path)

    def test_my_protocol():
        testing.check_protocol(MyProtocol, overrides={"iterations": 5})

They run on small generated data (:func:`tiny_train_set`) and take seconds. They check what the
framework relies on and cannot repair: a condenser's output (shapes, counts per class, labels,
finite values, a selection's indices), its determinism under a fixed generator, its Config and
spec; a network's output shape and dependence on its input in both stage variants, its declared
embedding, and the absence of BatchNorm where the protocol wants instance norm; a data set's
agreement with its spec; a protocol's spec, Config and views, and the outcome of its ``run`` with
sets and (when it has one) for its baseline, the same twice for the same seed.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from dcbench.architecture import (
    STAGES,
    ArchSpec,
    embedding,
    estimate_bn_statistics,
    freeze_batchnorm,
    has_batchnorm,
    seeded_init,
)
from dcbench.condenser import CondensedSet, condensed_set_problem, details_problem
from dcbench.dataset import DatasetOptions, DatasetSpec, RawData, Split, TrainSet, serve
from dcbench.errors import UserError
from dcbench.registry import NAME_RE, condenser_problems

# Logits of different inputs must differ by more than this fraction of their magnitude: a network
# whose output ignores its input (e.g. instance norm of 1×1 feature maps) gives rounding noise,
# about 1e-4 at most in float32.
MIN_SENSITIVITY = 1e-3

__all__ = ["CheckResult", "check_architecture", "check_condensed_set", "check_condenser", "check_condenser_spec",
           "check_dataset", "check_protocol", "conformance", "tiny_train_set"]


def tiny_train_set(*, classes: int = 3, per_class: int = 10, channels: int = 1, size: int = 8,
                   seed: int = 0) -> TrainSet:
    """A small learnable training split (a fixed prototype per class plus noise, normalised), so
    that condensers and networks can be checked in seconds without any file."""
    gen = torch.Generator().manual_seed(seed)
    prototypes = torch.randn(classes, channels, size, size, generator=gen)
    labels = torch.arange(classes).repeat_interleave(per_class)
    images = prototypes[labels] + 0.5 * torch.randn(len(labels), channels, size, size, generator=gen)
    images = (images - images.mean()) / images.std()
    spec = DatasetSpec(name="tiny", channels=channels, size=size, classes=classes, mean=(0.0,) * channels,
                       std=(1.0,) * channels)
    return Split(images.contiguous(), labels, spec)


# --- condensers --------------------------------------------------------------------------------

def check_condenser_spec(condenser_cls: type) -> None:
    """The class-level contract, checked as the registry checks it when a plugin loads: ``spec``,
    ``Config`` (a frozen dataclass), ``make_config``, ``condense``'s signature and every hook the
    spec declares (``resumable``, ``iteration_field``, ``implementations``, ``extras``)."""
    name = getattr(condenser_cls, "__name__", repr(condenser_cls))
    problems = condenser_problems(condenser_cls)
    assert not problems, f"{name}: " + "; ".join(problems)


def _check_config(condenser_cls: type, profile: Any, overrides: Mapping[str, Any]) -> Any:
    """The config a profile gives survives dataclasses.asdict → make_config, and typos are refused."""
    name = condenser_cls.__name__
    config = condenser_cls.make_config(profile, overrides)
    values = dataclasses.asdict(config)
    try:
        json.dumps(values, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{name}.Config values must be plain JSON (numbers, strings, booleans, None, "
                             f"lists): {exc}") from None
    again = condenser_cls.make_config(profile, values)
    assert again == config, f"{name}: make_config(profile, asdict(config)) gave {again}, not {config}"
    try:
        condenser_cls.make_config(profile, {"no_such_hyperparameter": 1})
    except UserError:
        pass
    else:
        raise AssertionError(f"{name}.make_config accepted an unknown hyperparameter: unknown --set keys "
                             "must be refused (subclass dcbench.CondenserBase, whose make_config does)")
    return config


def check_condenser(condenser_cls: type, *, train: TrainSet | None = None, ipc: int = 2,
                    overrides: Mapping[str, Any] | None = None, profile: str = "smoke",
                    synth_net: str = "convnet_d1", device: str | torch.device = "cpu",
                    seed: int = 0) -> CondensedSet:
    """Run ``condenser_cls`` as the framework does and check everything it returns.

    ``overrides`` shrink the budgets for a test (``{"iterations": 1}``); ``synth_net`` is the
    registered network that condensers needing one get through ``model_factory``. Returns the
    condensed set for further checks of your own.
    """
    checks = _CondenserChecks(condenser_cls, train=train, ipc=ipc, overrides=overrides, profile=profile,
                              synth_net=synth_net, device=device, seed=seed)
    for _, check in checks.steps():
        check()
    return checks.first


class _CondenserChecks:
    """check_condenser as named steps, each relying on the ones before (``dcbench check`` names them)."""

    def __init__(self, condenser_cls: type, *, train, ipc, overrides, profile, synth_net, device, seed) -> None:
        self.cls, self.ipc, self.seed = condenser_cls, ipc, seed
        self.overrides, self.profile, self.synth_net = dict(overrides or {}), profile, synth_net
        self.device = torch.device(device)
        self.train = (train if train is not None else tiny_train_set()).to(self.device)
        self.reported: list[int] = []

    def steps(self) -> list[tuple[str, Callable[[], None]]]:
        return [("contract", lambda: check_condenser_spec(self.cls)), ("configuration", self.configuration),
                ("condensed set", self.condensed_set), ("determinism", self.determinism)]

    def configuration(self) -> None:
        from dcbench.registry import get_registry

        self.config = _check_config(self.cls, get_registry().profile(self.profile), self.overrides)

    def run(self, global_seed: int) -> CondensedSet:
        from dcbench.cells import SynthesisFactory
        from dcbench.registry import get_registry

        spec = self.cls.spec
        factory = (SynthesisFactory(get_registry().component("architecture", self.synth_net), self.train, self.device)
                   if spec.needs_network else None)
        self.reported.clear()

        def report(step: int, **metrics: Any) -> None:
            assert isinstance(step, int), f"report(step, ...) takes an integer step, got {step!r}"
            self.reported.append(step)

        condenser = self.cls(self.config)
        # A different global RNG state on each run: a condenser that draws from it is caught below.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(global_seed)
            condensed = condenser.condense(self.train, ipc=self.ipc, generator=torch.Generator().manual_seed(self.seed),
                                           device=self.device, model_factory=factory, report=report)
        problem = details_problem(getattr(condenser, "details", {}), spec)
        assert problem is None, f"{spec.name}: {problem}"
        return condensed

    def condensed_set(self) -> None:
        spec = self.cls.spec
        before = self.train.images.clone()
        self.first = self.run(1)
        problem = condensed_set_problem(self.first, self.train, ipc=self.ipc, kind=spec.kind, extras=spec.extras)
        assert problem is None, f"{spec.name}: {problem}"
        iterations = getattr(self.config, spec.iteration_field) if spec.iteration_field else None
        if isinstance(iterations, int):
            assert len(self.reported) == iterations, (
                f"{spec.name}: spec.iteration_field {spec.iteration_field!r} is {iterations}, but condense called "
                f"report {len(self.reported)} times: `dcbench bench` times one report per outer iteration")
        assert torch.equal(self.train.images, before), f"{spec.name} changed the training images in place"

    def determinism(self) -> None:
        spec = self.cls.spec
        if not spec.deterministic:
            return
        second = self.run(2)
        for field in ("images", "labels", "indices"):
            a, b = getattr(self.first, field), getattr(second, field)
            assert (a is None) == (b is None) and (a is None or torch.equal(a.cpu(), b.cpu())), (
                f"{spec.name}: two runs with the same generator seed gave different {field}. Draw all randomness "
                "from `generator` (never torch's global RNG), or declare spec.deterministic=False")


def check_condensed_set(condensed: CondensedSet, train: TrainSet, *, ipc: int, kind: str = "synthesis",
                        name: str = "the condenser") -> None:
    """What every stored condensed set must be (:func:`dcbench.condensed_set_problem`, which dcbench
    also enforces at run time): exactly ``ipc`` finite float32 images per class in the training
    split's shape, int64 labels in range, and for selection methods the distinct indices of the very
    training images it returns."""
    problem = condensed_set_problem(condensed, train, ipc=ipc, kind=kind)
    assert problem is None, f"{name}: {problem}"


# --- architectures -----------------------------------------------------------------------------

def check_architecture(arch: Any, *, shapes: Iterable[tuple[int, int]] | None = None, num_classes: int = 4,
                       batch: int = 4, seed: int = 0) -> None:
    """Build both stage variants for every (channels, size) in ``shapes`` and check them.

    By default ``shapes`` are the spec's channels × its sizes (28 and 32 px where it takes any size),
    less those its refusal declines; shapes given explicitly must not be refused. Each variant must
    give finite ``(batch, num_classes)`` logits that differ for different inputs and finite
    gradients; the classification variant must have no BatchNorm unless the spec declares it
    (an explicit ``_bn`` variant: ``batchnorm`` includes "classification"). Where the spec declares
    an embedding (``embedding=True``), :func:`dcbench.embedding` must give finite ``(batch, D)``
    features through which gradients reach the images.
    """
    spec = getattr(arch, "spec", None)
    assert callable(arch) and isinstance(spec, ArchSpec), f"{arch!r} must be a factory with an ArchSpec `spec`"
    name = spec.family
    assert isinstance(spec.version, int) and not isinstance(spec.version, bool) and spec.version >= 1, \
        f"{name}: spec.version must be an integer >= 1, got {spec.version!r}"
    assert isinstance(spec.embedding, bool), f"{name}: spec.embedding must be True or False, got {spec.embedding!r}"
    for field in ("stages", "batchnorm"):
        unknown = set(getattr(spec, field)) - set(STAGES)
        assert not unknown, f"{name}: spec.{field} names unknown stages {sorted(unknown)}; stages are {STAGES}"
    if shapes is None:
        candidates = [(c, s) for c in spec.channels for s in (spec.sizes or (28, 32))]
        shapes = [(c, s) for c, s in candidates if _refusal(spec, name, c, s) is None]
        assert shapes, f"{name} refuses every shape tried ({candidates}): pass the shapes it takes as shapes="
    for in_chans, img_size in shapes:
        reason = _refusal(spec, name, in_chans, img_size)
        assert reason is None, f"{name} refuses {in_chans}×{img_size}×{img_size}: {reason}"
        for stage in STAGES:
            _check_variant(arch, name, stage, in_chans, img_size, num_classes, batch, seed)


def _refusal(spec: ArchSpec, name: str, in_chans: int, img_size: int) -> str | None:
    reason = spec.refusal(in_chans=in_chans, img_size=img_size)
    assert reason is None or (isinstance(reason, str) and reason.strip()), \
        f"{name}: spec.refusal must return None or a non-empty reason, got {reason!r}"
    return reason


def _check_variant(arch: Any, name: str, stage: str, in_chans: int, img_size: int, num_classes: int,
                   batch: int, seed: int) -> None:
    where = f"{name} ({stage} variant, {in_chans}×{img_size}×{img_size})"
    gen = torch.Generator().manual_seed(seed)
    with seeded_init(gen):
        net = arch(in_chans=in_chans, num_classes=num_classes, img_size=img_size, stage=stage)
    assert isinstance(net, nn.Module), f"{where}: the factory must return an nn.Module, got {type(net)}"
    if stage == "classification" and "classification" not in arch.spec.batchnorm:
        kinds = sorted({type(m).__name__ for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)})
        assert not kinds, (f"{where} still has BatchNorm ({', '.join(kinds)}): classify with instance norm "
                           "(dcbench.batchnorm_to_instancenorm), or declare an explicit _bn variant with "
                           "batchnorm=(..., 'classification')")
    images = torch.randn(batch, in_chans, img_size, img_size, generator=gen)
    if has_batchnorm(net):  # as the framework does: real statistics, then frozen
        estimate_bn_statistics(net, torch.randn(4 * batch, in_chans, img_size, img_size, generator=gen))
    net.eval()
    with torch.no_grad():
        logits = net(images)
    assert isinstance(logits, torch.Tensor) and tuple(logits.shape) == (batch, num_classes), \
        f"{where}: expected logits of shape {(batch, num_classes)}, got {getattr(logits, 'shape', type(logits))}"
    assert bool(torch.isfinite(logits).all()), f"{where}: logits contain NaN or infinite values"
    spread = float((logits - logits[:1]).abs().max())
    assert spread > MIN_SENSITIVITY * float(logits.abs().max()), (
        f"{where}: different inputs give the same logits (they differ by {spread:.2g}); the output ignores "
        "the input, e.g. instance norm of 1×1 feature maps: refuse this input in ArchSpec.refusal")
    net.train()
    freeze_batchnorm(net)  # BatchNorm stays frozen while a condenser or the protocol trains
    loss = F.cross_entropy(net(images), torch.arange(batch) % num_classes)
    loss.backward()
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert grads and all(g is not None and bool(torch.isfinite(g).all()) for g in grads), \
        f"{where}: a backward pass left parameters without finite gradients"
    if arch.spec.embedding:
        _check_embedding(net, where, images)


def _check_embedding(net: nn.Module, where: str, images: torch.Tensor) -> None:
    """The declared embedding: (N, D) finite features, differentiable with respect to the images."""
    inputs = images.clone().requires_grad_(True)
    try:
        features = embedding(net, inputs)
    except TypeError as exc:
        raise AssertionError(f"{where}: spec.embedding is True but {exc}; declare embedding=False") from None
    assert isinstance(features, torch.Tensor) and features.ndim == 2 and features.shape[0] == len(inputs) \
        and features.shape[1] >= 1, (f"{where}: dcbench.embedding must give ({len(inputs)}, D) features, "
                                     f"got {getattr(features, 'shape', type(features))}")
    assert bool(torch.isfinite(features).all()), f"{where}: the embedding contains NaN or infinite values"
    assert features.requires_grad, f"{where}: the embedding is cut off from the images (detached, or under no_grad)"
    features.square().sum().backward()
    grad = inputs.grad
    assert grad is not None and bool(torch.isfinite(grad).all()) and bool(grad.abs().sum() > 0), \
        f"{where}: no finite, nonzero gradient reaches the images through the embedding (detached features?)"


# --- data sets ---------------------------------------------------------------------------------

def check_dataset(factory: Any, *, root: str | Path | None = None, download: bool = False) -> None:
    """Load a data set plugin and check its splits against its spec, raw and as dcbench serves it.

    ``root`` is where it finds its files (a fresh temporary folder by default, enough for data sets
    generated on the spot or shipped inside a package).
    """
    spec = getattr(factory, "spec", None)
    assert isinstance(spec, DatasetSpec), f"{factory!r} must have a dcbench.DatasetSpec `spec`"
    name = spec.name
    assert isinstance(name, str) and NAME_RE.match(name), f"spec.name {name!r} must be lower-case [a-z0-9_]+"
    assert spec.channels in (1, 3), f"{name}: spec.channels must be 1 or 3, got {spec.channels}"
    assert spec.size >= 1 and spec.classes >= 2, f"{name}: spec.size must be >= 1 and spec.classes >= 2"
    assert isinstance(spec.version, int) and not isinstance(spec.version, bool) and spec.version >= 1, \
        f"{name}: spec.version must be an integer >= 1, got {spec.version!r}"
    _check_normalisation(name, spec, "spec")
    assert not spec.class_names or len(spec.class_names) == spec.classes, \
        f"{name}: spec.class_names has {len(spec.class_names)} names for {spec.classes} classes"
    if root is None:
        with tempfile.TemporaryDirectory() as tmp:
            raw = factory.load(Path(tmp), download=download)
    else:
        raw = factory.load(Path(root), download=download)
    assert isinstance(raw, RawData), f"{name}: load() must return a dcbench.RawData, got {type(raw)}"
    for split, images, labels in (("train", raw.train_images, raw.train_labels),
                                  ("test", raw.test_images, raw.test_labels)):
        _check_split(name, spec, split, images, labels)
    loaded = serve(factory, raw, DatasetOptions())
    served = loaded.spec
    assert (served.channels, served.size, served.classes) == (spec.channels, spec.size, spec.classes), \
        f"{name}: served as {served.channels}×{served.size}×{served.size}, {served.classes} classes, not as its spec"
    _check_normalisation(name, served, "served spec")
    assert served.mean is not None and served.std is not None, f"{name}: no mean/std after serving"
    assert bool(torch.isfinite(loaded.train.images).all()), f"{name}: normalised images are not finite"


def _check_normalisation(name: str, spec: DatasetSpec, what: str) -> None:
    for field in ("mean", "std"):
        values = getattr(spec, field)
        assert values is None or len(values) == spec.channels, \
            f"{name}: {what} {field} has {len(values)} values for {spec.channels} channel(s)"
    assert spec.std is None or all(s > 0 for s in spec.std), f"{name}: {what} std must be positive, got {spec.std}"


def _check_split(name: str, spec: DatasetSpec, split: str, images: torch.Tensor, labels: torch.Tensor) -> None:
    where = f"{name} {split} split"
    expected = (spec.channels, spec.size, spec.size)
    assert images.ndim == 4 and tuple(images.shape[1:]) == expected, \
        f"{where}: images must be (N, {', '.join(map(str, expected))}) as the spec says, got {tuple(images.shape)}"
    assert images.is_floating_point(), f"{where}: images must be floating point in [0, 1], got {images.dtype}"
    assert bool(torch.isfinite(images).all()) and float(images.min()) >= 0 and float(images.max()) <= 1, \
        f"{where}: images must be finite and in [0, 1] (dcbench normalises them)"
    assert labels.shape == (images.shape[0],) and not labels.is_floating_point(), \
        f"{where}: labels must be integers, one per image (got {labels.dtype}, shape {tuple(labels.shape)})"
    assert bool(((labels >= 0) & (labels < spec.classes)).all()), \
        f"{where}: labels must lie in 0..{spec.classes - 1}"
    missing = sorted(set(range(spec.classes)) - set(labels.tolist()))
    assert not missing, f"{where}: classes {missing} have no image"


# --- all of a component's checks, as `dcbench check` runs them ----------------------------------

def check_protocol(protocol_cls: type, *, dataset: str = "digits", overrides: Mapping[str, Any] | None = None,
                   profile: str = "smoke", cls_net: str = "convnet_d1", ipc: int = 1,
                   root: str | Path | None = None) -> None:
    """Run ``protocol_cls`` (the class, registered or not) on a registered data set (``digits``
    needs no files) with sets of ``ipc`` random training images per class of each of its views, and
    for its baseline: every outcome must be a valid :class:`dcbench.Outcome`, and the same seed must
    give the same value. ``overrides``: its Config's settings (keep its budgets small)."""
    for _ in _protocol_steps(protocol_cls, dataset=dataset, overrides=overrides or {}, profile=profile,
                             cls_net=cls_net, ipc=ipc, root=root):
        pass


def _protocol_steps(protocol_cls, *, dataset, overrides, profile, cls_net, ipc, root):
    """The protocol checks, run one by one as they are iterated: yields each step's name once it passed."""
    from dcbench.cells import Workspace
    from dcbench.data import load_dataset
    from dcbench.protocol import ProtocolSpec
    from dcbench.protocol_cell import build_context, outcome_problem
    from dcbench.registry import get_registry, protocol_problems

    problems = protocol_problems(protocol_cls)
    assert not problems, f"{getattr(protocol_cls, '__name__', protocol_cls)}: it {'; it '.join(problems)}"
    spec = protocol_cls.spec
    assert isinstance(spec, ProtocolSpec) and isinstance(spec.name, str) and NAME_RE.match(spec.name), \
        f"spec.name {spec.name!r} must be lower-case [a-z0-9_]+"
    assert isinstance(spec.version, int) and spec.version >= 1, f"spec.version must be an int ≥ 1, got {spec.version!r}"
    registry = get_registry()
    chosen = registry.profile(profile)
    config = protocol_cls.make_config(chosen, overrides)
    assert dataclasses.is_dataclass(config) and type(config).__dataclass_params__.frozen, \
        "make_config must return an instance of the frozen dataclass Config"
    json.dumps(dataclasses.asdict(config))  # it is part of every key: plain values only
    instance = protocol_cls(config)
    views = instance.views(registry.datasets.canonical(dataset), DatasetOptions())
    assert views, "views() returned no view: a protocol uses at least one data set"
    yield "spec, Config and views"
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(results=Path(tmp), data_root=Path(root or tmp), device=torch.device("cpu"))
        arch = registry.component("architecture", cls_net)
        sets = []
        for i, view in enumerate(views):
            train = load_dataset(view.dataset, view.options, root=ws.data_root).train
            gen = torch.Generator().manual_seed(i)
            chosen_idx = torch.cat([train.class_indices(c)[torch.randperm(len(train.class_indices(c)),
                                                                          generator=gen)[:ipc]]
                                    for c in range(train.spec.classes)])
            sets.append(CondensedSet(train.images[chosen_idx], train.labels[chosen_idx]))

        def outcome(with_sets: list) -> Any:
            context = build_context(ws, arch, views, with_sets, seed=0, ipc=ipc if with_sets else None,
                                    profile=chosen, report=lambda step, **metrics: None)
            found = instance.run(context)
            problem = outcome_problem(found)
            assert problem is None, f"run() returned {problem}"
            return found

        first = outcome(sets)
        yield "outcome with sets"
        assert outcome(sets).value == first.value, "the same seed gave another value: draw from context.seed only"
        yield "determinism"
        if spec.baseline:
            outcome([])
            yield f"baseline ({spec.baseline})"


@dataclass(frozen=True)
class CheckResult:
    """One named conformance check and what it found (``error`` None: passed)."""

    name: str
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None


def conformance(kind: str, name: str, *, overrides: Mapping[str, Any] | None = None, profile: str = "smoke",
                root: str | Path | None = None, download: bool = False) -> list[CheckResult]:
    """Load the registered component ``name`` of ``kind`` (condenser, architecture, dataset or protocol) and
    run its checks in order, stopping at the first that fails (the later ones rely on it).

    A condenser's declared ``iteration_field`` is set to 2 unless ``overrides`` set it, so the
    checks take seconds; a data set is loaded from ``root`` (the user's data root)."""
    from dcbench.registry import PluginError, get_registry

    try:
        component = get_registry().component(kind, name)
    except PluginError as exc:
        return [CheckResult("loads", str(exc))]
    value = component.value
    if kind == "condenser":
        budget = {value.spec.iteration_field: 2} if value.spec.iteration_field else {}
        steps = _CondenserChecks(value, train=None, ipc=2, overrides=budget | dict(overrides or {}), profile=profile,
                                 synth_net="convnet_d1", device="cpu", seed=0).steps()
    elif kind == "architecture":
        steps = [("both stage variants", lambda: check_architecture(value))]
    elif kind == "dataset":
        steps = [("splits and serving", lambda: check_dataset(value, root=root, download=download))]
    elif kind == "protocol":
        return _run_protocol_steps(value, overrides=dict(overrides or {}), profile=profile, root=root)
    else:
        raise UserError(f"cannot check a {kind}: check a condenser, architecture, dataset or protocol")
    results = [CheckResult("loads")]
    for step, check in steps:
        try:
            check()
        except AssertionError as exc:
            return [*results, CheckResult(step, str(exc) or "failed")]
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - a crash in the component is what the check found
            return [*results, CheckResult(step, f"raised {type(exc).__name__}: {exc}")]
        results.append(CheckResult(step))
    return results


def _run_protocol_steps(value: Any, *, overrides: dict[str, Any], profile: str, root: Any) -> list[CheckResult]:
    results = [CheckResult("loads")]
    steps = _protocol_steps(value, dataset="digits", overrides=overrides, profile=profile, cls_net="convnet_d1",
                            ipc=1, root=root)
    names = ["spec, Config and views", "outcome with sets", "determinism", "baseline"]
    while True:
        try:
            name = next(steps)
        except StopIteration:
            return results
        except AssertionError as exc:
            return [*results, CheckResult(names[len(results) - 1], str(exc) or "failed")]
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - a crash in the protocol is what the check found
            return [*results, CheckResult(names[len(results) - 1], f"raised {type(exc).__name__}: {exc}")]
        results.append(CheckResult(name))
