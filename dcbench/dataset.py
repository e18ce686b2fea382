"""Data sets: the plugin contract and the served, normalised tensors every stage works on.

A dataset plugin only returns images in [0, 1] at their native size. The framework then serves
them at the size and channel count asked for (the paper's continual learning uses MNIST at 32×32
RGB) and normalises them, so every plugin gets resizing and channel conversion for free and the
options are recorded the same way everywhere.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import torch
import torch.nn.functional as F

from dcbench.errors import UserError

# ITU-R BT.601 luma weights: the usual RGB → grey conversion (what PIL's "L" mode uses).
_LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class DatasetSpec:
    """Shape and normalisation of a data set as served.

    ``mean``/``std`` are per channel; ``None`` in a plugin's static spec means "computed from the
    training split at load time" (digits, usps). ``options`` records how the served copy differs
    from the native one (size, channels) and ``details`` anything else that identifies the data
    (e.g. the seeded split of digits).
    """

    name: str
    channels: int
    size: int
    classes: int
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    version: int = 1
    class_names: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: The regularisation of ZCA whitening, as MTT whitens (kornia's ``eps``): added to the covariance's
#: eigenvalues, so that directions of little variance are not blown up.
ZCA_REGULARISATION = 0.1


@dataclass(frozen=True)
class DatasetOptions:
    """How to serve a data set: ``size`` (square side) and ``channels`` (1 or 3), None = native;
    ``zca``: the regularisation of ZCA whitening of the [0, 1] pixels, which then replaces the
    mean/std normalisation; None = not whitened. ``classes``: serve only these classes, relabelled
    0, 1, … in the order given and normalised as the whole data set is (a task of a class-split
    sequence, dcbench.protocol); None = every class."""

    size: int | None = None
    channels: int | None = None
    zca: float | None = None
    classes: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.classes is not None:
            classes = tuple(self.classes)  # a list read back from JSON: hashable again
            object.__setattr__(self, "classes", classes)
            if not classes or len(set(classes)) != len(classes) or \
                    not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in classes):
                raise UserError(f"classes must be distinct class indices, got {list(classes)}")
        if self.channels not in (None, 1, 3):
            raise UserError(f"channels must be 1 or 3, got {self.channels}")
        if self.size is not None and self.size < 4:
            raise UserError(f"image size must be at least 4 pixels, got {self.size}")
        if self.zca is not None and not self.zca > 0:
            raise UserError(f"the ZCA regularisation must be positive, got {self.zca}")

    @classmethod
    def of(cls, size: int | None = None, channels: int | None = None, zca: bool = False) -> "DatasetOptions":
        """The options as commands take them: ``zca`` whitens with :data:`ZCA_REGULARISATION`."""
        return cls(size=size, channels=channels, zca=ZCA_REGULARISATION if zca else None)

    def to_json(self) -> dict[str, Any]:
        # options left at None are left out, so that keys made before an option existed stay the same
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
                if v is not None}


@dataclass
class Split:
    """One split of a data set as normalised tensors in memory."""

    images: torch.Tensor  # (N, C, H, W) float32, normalised
    labels: torch.Tensor  # (N,) int64
    spec: DatasetSpec

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def class_indices(self, c: int) -> torch.Tensor:
        """Positions of class ``c`` (cached: condensers ask for them in hot loops)."""
        cache = self.__dict__.setdefault("_class_indices", {})
        if c not in cache:
            cache[c] = torch.nonzero(self.labels == c, as_tuple=True)[0]
        return cache[c]

    def to(self, device: torch.device | str) -> "Split":
        return Split(self.images.to(device), self.labels.to(device), self.spec)


# The names of the design: condensers receive a TrainSet, the protocol tests on a TestSet.
TrainSet = Split
TestSet = Split


@dataclass
class RawData:
    """What a dataset plugin returns: images in [0, 1], native size, (N, C, H, W) float32."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    details: dict[str, Any] = field(default_factory=dict)


class DatasetFactory(Protocol):
    """A dataset plugin: a static ``spec`` and ``load(root, download=...) -> RawData``.

    ``load`` raises :class:`dcbench.errors.DataError` naming the data set, where it looked and
    how to get the files when they are missing.
    """

    spec: DatasetSpec

    def load(self, root: Path, *, download: bool) -> RawData: ...


@dataclass(frozen=True)
class Dataset:
    """A ready-made :class:`DatasetFactory` from a spec and a loading function."""

    spec: DatasetSpec
    loader: Callable[[Path, bool], RawData]

    def load(self, root: Path, *, download: bool) -> RawData:
        return self.loader(root, download)


@dataclass
class LoadedDataset:
    train: TrainSet
    test: TestSet
    spec: DatasetSpec


def default_data_root() -> Path:
    """``$DCBENCH_DATA``, else ``$XDG_CACHE_HOME/dcbench/data`` (``~/.cache/dcbench/data``)."""
    if env := os.environ.get("DCBENCH_DATA"):
        return Path(env).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "dcbench" / "data"


def serve(factory: DatasetFactory, raw: RawData, options: DatasetOptions) -> LoadedDataset:
    """Resize, convert channels and normalise a plugin's raw data as ``options`` ask."""
    native = factory.spec
    size = options.size or native.size
    channels = options.channels or native.channels
    train = _reshape(raw.train_images, size, channels)
    test = _reshape(raw.test_images, size, channels)
    mean, std = _normalisation(native, train, channels, raw.train_images)
    spec = dataclasses.replace(
        native, size=size, channels=channels, mean=mean, std=std, options=options.to_json(),
        details={**native.details, **raw.details},
    )
    if options.zca is not None:
        # MTT whitens the [0, 1] pixels and skips the mean/std normalisation; the regularisation is not
        # scale-invariant, so whitening normalised images would serve another data set.
        whiten = Whitening.fit(train, options.zca)  # fitted on the training split only
        train, test = whiten(train), whiten(test)
    else:
        m = torch.tensor(mean).view(1, -1, 1, 1)
        s = torch.tensor(std).view(1, -1, 1, 1)
        train, test = (train - m) / s, (test - m) / s
    train_labels, test_labels = raw.train_labels.long(), raw.test_labels.long()
    if options.classes is not None:
        # after normalising: every task of a class split is served in the whole data set's units
        if bad := [c for c in options.classes if c >= native.classes]:
            raise UserError(f"{native.name} has classes 0..{native.classes - 1}; classes {bad} do not exist")
        train, train_labels = _only(train, train_labels, options.classes)
        test, test_labels = _only(test, test_labels, options.classes)
        names = tuple(native.class_names[c] for c in options.classes) if native.class_names else ()
        spec = dataclasses.replace(spec, classes=len(options.classes), class_names=names)
    return LoadedDataset(
        train=Split(train.contiguous(), train_labels, spec),
        test=Split(test.contiguous(), test_labels, spec),
        spec=spec,
    )


def _only(images: torch.Tensor, labels: torch.Tensor, classes: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """The images of ``classes``, in their original order, labelled by position in ``classes``."""
    relabel = torch.full((int(labels.max()) + 1,), -1, dtype=torch.long)
    known = [c for c in classes if c < len(relabel)]
    relabel[torch.tensor(known, dtype=torch.long)] = torch.tensor([classes.index(c) for c in known])
    new = relabel[labels]
    keep = new >= 0
    return images[keep], new[keep]


@dataclass(frozen=True)
class Whitening:
    """ZCA whitening of images: ``(x - mean) W`` with ``W = U (S + eps)^-1/2 Uᵀ`` from the
    eigendecomposition ``U S Uᵀ`` of the images' covariance (unbiased). With ``eps`` → 0 the whitened
    training images have identity covariance; ``eps`` keeps directions of little variance from
    being amplified, and the image stays close to the original (ZCA, unlike PCA, does not rotate)."""

    mean: torch.Tensor  # (D,)
    matrix: torch.Tensor  # (D, D), symmetric

    @classmethod
    def fit(cls, images: torch.Tensor, regularisation: float) -> "Whitening":
        flat = images.reshape(len(images), -1).double()
        mean = flat.mean(0)
        centred = flat - mean
        covariance = centred.T @ centred / (len(flat) - 1)
        values, vectors = torch.linalg.eigh(covariance)
        scale = (values.clamp_min(0) + regularisation).rsqrt()
        return cls(mean, (vectors * scale) @ vectors.T)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        flat = images.reshape(len(images), -1).double()
        return ((flat - self.mean) @ self.matrix).to(images.dtype).reshape(images.shape)


def _reshape(images: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    images = images.float()
    if images.shape[1] != channels:
        if channels == 3:
            images = images.expand(-1, 3, -1, -1)
        else:
            weights = torch.tensor(_LUMA).view(1, 3, 1, 1)
            images = (images * weights).sum(dim=1, keepdim=True)
    if images.shape[-1] != size or images.shape[-2] != size:
        # Antialiased bilinear is what PIL's resize does; it keeps 8×8 → 32×32 digits smooth.
        images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True,
                               align_corners=False).clamp_(0.0, 1.0)
    return images.contiguous()


def _normalisation(native: DatasetSpec, served_train: torch.Tensor, channels: int,
                   native_train: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The published constants where the protocol fixes them, adapted to a channel change."""
    if native.mean is None or native.std is None:
        flat = served_train.transpose(0, 1).reshape(channels, -1)
        return tuple(round(float(v), 4) for v in flat.mean(1)), tuple(round(float(v), 4) for v in flat.std(1))
    mean, std = tuple(native.mean), tuple(native.std)
    if channels == native.channels:
        return mean, std
    if channels == 3:  # grey repeated into RGB keeps its statistics in every channel
        return mean * 3, std * 3
    flat = served_train.reshape(-1)  # RGB → grey has no published constant: measure it
    return (round(float(flat.mean()), 4),), (round(float(flat.std()), 4),)
