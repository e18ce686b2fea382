"""Loading registered data sets, served with the options asked for, cached per process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from dcbench.dataset import DatasetOptions, DatasetSpec, LoadedDataset, serve
from dcbench.registry import get_registry


def load_dataset(name: str, options: DatasetOptions | None = None, *, root: Path,
                 download: bool = False) -> LoadedDataset:
    """The data set ``name`` as normalised tensors; raises DataError with instructions if missing."""
    registry = get_registry()
    canonical = registry.datasets.canonical(name)
    return _load(canonical, options or DatasetOptions(), Path(root).expanduser().resolve(), download)


def dataset_spec(name: str) -> DatasetSpec:
    """The registered data set's native spec (shape, classes), without loading it."""
    return get_registry().component("dataset", name).spec


@lru_cache(maxsize=8)  # a protocol's views: e.g. the five tasks of a class split, and the whole
def _load(name: str, options: DatasetOptions, root: Path, download: bool) -> LoadedDataset:
    factory = get_registry().dataset(name)
    raw = factory.load(root, download=download)
    return serve(factory, raw, options)
