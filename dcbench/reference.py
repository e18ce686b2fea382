"""Whole-data training runs: the one expensive model several baselines share.

Herding and k-center select in the feature space of a network trained on the whole training
split, forgetting ranks examples by what happened to them during that training, and the paper's
"whole dataset" column is that network's test accuracy. One run per (data set and options,
network, recipe, seed) yields all three, and is cached under ``<results>/cache/whole_data`` by a
key of exactly those things, so a grid trains it once however many cells need it.

The cache is a plain safetensors file (weights, the per-epoch correctness history) whose JSON
header carries the key's identity and a SHA-256 of the tensors. A file that does not parse, is
from another cache format, belongs to another identity or fails its checksum is rebuilt, never
used. A lock file makes concurrent cells (a Ray grid) wait for one training instead of doing two.
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from torch import nn

from dcbench.architecture import penultimate_features, seeded_init
from dcbench.dataset import TestSet, TrainSet
from dcbench.errors import UserError
from dcbench.files import write_atomically
from dcbench.recipe import Recipe, evaluate_accuracy, train_network
from dcbench.registry import get_registry
from dcbench.runtime import digest, generator

#: Bump when the file layout or what a run computes changes: older files are then rebuilt.
CACHE_FORMAT = 1
_MODEL = "model."

_cache_root: contextvars.ContextVar[Path | None] = contextvars.ContextVar("dcbench_cache_root", default=None)


@contextlib.contextmanager
def use_cache(root: Path | None) -> Iterator[None]:
    """Cache whole-data runs under ``root`` for the duration of the block (cells set it to
    ``<results>/cache``). Outside such a block runs are trained and not kept, which is what a
    plugin author's unit test wants."""
    token = _cache_root.set(root)
    try:
        yield
    finally:
        _cache_root.reset(token)


@dataclass
class WholeDataRun:
    """A network trained on the whole training split, and what was recorded while training it."""

    key: str
    identity: dict[str, Any]
    model: nn.Module  # classification-stage network, trained, in eval mode
    correct: torch.Tensor  # (epochs, N) bool: example i was classified correctly in its step of epoch e
    test_accuracy: float | None
    wall_s: float  # training time when it was computed (0 for none recorded)
    cached: bool  # loaded from the cache rather than trained now

    def features(self, images: torch.Tensor, *, batch_size: int = 512) -> torch.Tensor:
        """Penultimate features of the trained network (:func:`dcbench.penultimate_features`)."""
        return penultimate_features(self.model, images, batch_size=batch_size)

    def forgetting_counts(self) -> torch.Tensor:
        return forgetting_counts(self.correct)


def forgetting_counts(correct: torch.Tensor) -> torch.Tensor:
    """Forgetting events per example from its (epochs, N) correctness history: the number of times
    it went from correct at one epoch to incorrect at the next. An example never classified
    correctly counts as forgotten infinitely often, as in Toneva et al. (2019): it is the hardest
    to learn, so it ranks first."""
    correct = correct.bool()
    events = (correct[:-1] & ~correct[1:]).sum(0).double()
    events[~correct.any(0)] = float("inf")
    return events


def whole_data_run(train: TrainSet, *, net: str, epochs: int, seed: int, device: torch.device,
                   test: TestSet | None = None, report: Callable[..., None] | None = None) -> WholeDataRun:
    """Train ``net`` (its classification stage) on the whole of ``train`` with the whole-data
    recipe for ``epochs`` epochs, or load that run from the cache. ``seed`` names the run: cells
    that pass the same seed share it (a selection cell passes its own seed, and the whole-data
    evaluation of the same seed reads the same run)."""
    registry = get_registry()
    component = registry.component("architecture", net)
    name, arch = component.name, component.value
    spec = train.spec
    if reason := arch.spec.refusal(in_chans=spec.channels, img_size=spec.size):
        raise UserError(f"{name} cannot be trained on {spec.name} ({spec.channels}×{spec.size}×{spec.size}): {reason}; "
                        "choose another network (e.g. --set net=convnet)")
    recipe = Recipe.whole_data_epochs(epochs, registry.dataset_settings(spec.name))
    identity = {
        "format": CACHE_FORMAT, "dataset": spec.name, "dataset_version": spec.version, "options": spec.options,
        "details": spec.details, "n_train": len(train), "net": name, "net_version": arch.spec.version,
        "recipe": recipe.to_json(), "seed": seed,
    }
    key = digest(identity)

    def build() -> nn.Module:
        return arch(in_chans=spec.channels, num_classes=spec.classes, img_size=spec.size, stage="classification")

    root = _cache_root.get()
    if root is None:
        run = _train(key, identity, build, train, recipe, seed, device, report)
    else:
        path = root / "whole_data" / f"{key}.safetensors"
        with _locked(path):
            run = _load(path, key, identity, build, device)
            if run is None:
                run = _train(key, identity, build, train, recipe, seed, device, report)
                _save(path, run)
    if test is not None and run.test_accuracy is None:
        run.test_accuracy = evaluate_accuracy(run.model, test.to(device))
    return run


def _train(key, identity, build, train, recipe, seed, device, report) -> WholeDataRun:
    gen = generator(seed)
    with seeded_init(gen):
        model = build()
    model = model.to(device)
    n = len(train)
    history = torch.zeros(recipe.epochs, n, dtype=torch.bool)
    epoch_correct = torch.zeros(n, dtype=torch.bool, device=device)

    def on_batch(indices: torch.Tensor, hits: torch.Tensor) -> None:
        epoch_correct[indices] = hits

    def on_epoch(epoch: int, loss: float, acc: float) -> None:
        history[epoch - 1] = epoch_correct.cpu()
        if report is not None:
            report(epoch, loss=loss, train_acc=acc, total=recipe.epochs)

    start = time.perf_counter()
    data = train.to(device)
    train_network(model, data.images, data.labels, recipe, generator=gen, on_epoch=on_epoch, on_batch=on_batch)
    model.eval()
    return WholeDataRun(key=key, identity=identity, model=model, correct=history, test_accuracy=None,
                        wall_s=time.perf_counter() - start, cached=False)


def _checksum(tensors: dict[str, torch.Tensor]) -> str:
    sha = hashlib.sha256()
    for name in sorted(tensors):
        sha.update(name.encode())
        # reshape: a 0-d tensor (BatchNorm's num_batches_tracked) cannot be viewed as bytes
        sha.update(tensors[name].contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return sha.hexdigest()


def _save(path: Path, run: WholeDataRun) -> None:
    tensors = {_MODEL + k: v.detach().cpu().contiguous() for k, v in run.model.state_dict().items()}
    tensors["correct"] = run.correct.to(torch.uint8).contiguous()
    header = {"key": run.key, "identity": run.identity, "sha256": _checksum(tensors), "wall_s": run.wall_s}
    data = save_tensors(tensors, metadata={"dcbench_cache": json.dumps(header, sort_keys=True, default=str)})
    write_atomically(path, lambda tmp: tmp.write_bytes(data))


def _load(path: Path, key: str, identity: dict[str, Any], build, device) -> WholeDataRun | None:
    """The cached run, or None if there is none or it cannot be trusted (then it is rebuilt)."""
    if not path.is_file():
        return None
    try:
        data = path.read_bytes()
        tensors = load_tensors(data)
        header = json.loads(_header(data)["__metadata__"]["dcbench_cache"])
        if header["key"] != key or header["identity"] != json.loads(json.dumps(identity, default=str)):
            return None
        if header["sha256"] != _checksum(tensors):
            return None
        model = build()
        model.load_state_dict({k[len(_MODEL):]: v for k, v in tensors.items() if k.startswith(_MODEL)})
    except Exception:  # truncated, garbled or from another layout: retrain rather than trust it
        return None
    model = model.to(device).eval()
    return WholeDataRun(key=key, identity=identity, model=model, correct=tensors["correct"].bool(),
                        test_accuracy=None, wall_s=float(header.get("wall_s", 0.0)), cached=True)


def _header(data: bytes) -> dict[str, Any]:
    size = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + size])


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
