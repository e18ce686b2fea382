"""Condensed sets made elsewhere, imported; and sets made here, exported for other codebases.

An import reads a file (:mod:`dcbench.interchange`), checks every set in it against the data set
as served (shape, labels, classes, finite values, a pixel range the declared normalisation allows)
and only then turns each into an artifact and a condensation record, so that a bad file stores
nothing. Normalisation is declared, never guessed: a set's numbers mean nothing against a test
split normalised another way (docs/import.md). Imported sets are named ``import:NAME``, so that no
leaderboard mixes them into the cells of a condenser that ran here.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from dcbench.artifacts import Artifact, save_artifact
from dcbench.cells import origin_text
from dcbench.classification import HARD, LOGITS, PROBABILITIES, SOFT_LABELS
from dcbench.condenser import CondensedSet
from dcbench.dataset import DatasetOptions, LoadedDataset
from dcbench.errors import InterchangeError
from dcbench.interchange import Format, Keys, Portable, detect, format_named
from dcbench.recipe import DC_RECIPE, check_recipe
from dcbench.records import DONE, IMPORTED, Condensation
from dcbench.runtime import digest, versions

#: What each declared normalisation says the file's pixels are.
NORMALISATIONS = {
    "dataset": "normalised with the data set's mean and std (what the official DC/DSA/DM and MTT code saves)",
    "unit": "pixels in [0, 1]",
    "zca": "[0, 1] pixels ZCA-whitened, not normalised (MTT's --zca): needs the data set served with --zca",
}
#: How far a `dataset`-normalised set's pixels, de-normalised, may lie outside [0, 1]. Learned images
#: overshoot the pixel range (gradient matching's reach about -0.6 and 1.8 on Fashion-MNIST), but
#: not by ten times its width; pixels saved as 0-255 and declared normalised do.
OVERSHOOT = 10.0
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_ARTIFACT_ID = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ImportRequest:
    """A file (or folder) of condensed sets, the data set they are for and what they are."""

    path: Path
    dataset: str
    format: str | None = None  # None: told from the content
    normalization: str | None = None  # None: unit for a folder of images, else dataset
    name: str = "imported"
    source: str | None = None  # where the set comes from, in the user's words (a paper, a URL)
    options: DatasetOptions = field(default_factory=DatasetOptions)
    keys: Keys = field(default_factory=Keys)
    recipe: str = DC_RECIPE  # how its evaluation nets train by default: the recipe of the paper that made it


@dataclass
class Prepared:
    """One set of the file, checked and normalised as the data set is served: ready to store."""

    condensed: CondensedSet
    metadata: dict[str, Any]
    record: Condensation  # its artifact id is known once it is saved


def prepare(request: ImportRequest, data: LoadedDataset) -> list[Prepared]:
    """Every set of the file, checked; raises one InterchangeError (nothing stored) at the first problem."""
    if not _NAME.fullmatch(request.name):
        raise InterchangeError(f"--name {request.name!r}: use lower-case letters, digits, '_', '.' and '-' "
                               "(it becomes the leaderboard's import:NAME)")
    check_recipe(request.recipe)
    path = request.path.expanduser()
    fmt = format_named(request.format) if request.format else detect(path)
    renamed = _renamed_keys(request.keys)
    if renamed and fmt.name != "tensors":
        raise InterchangeError(f"--images-key/--labels-key name the tensors of a tensors file; a {fmt.name} set keeps "
                               "its images and labels where its format says: drop them")
    normalisation = request.normalization or ("unit" if fmt.pixels else "dataset")
    if normalisation not in NORMALISATIONS:
        raise InterchangeError(f"--normalization {normalisation}: choose {', '.join(NORMALISATIONS)}")
    if fmt.pixels and normalisation != "unit":
        raise InterchangeError(f"a {fmt.name} of image files holds pixels in [0, 1]: its normalisation is unit, "
                               f"not {normalisation}")
    if normalisation == "zca" and not request.options.zca:
        raise InterchangeError("a zca set is evaluated against a whitened test split: add --zca (the data set "
                               "served ZCA-whitened, as the set was made)")
    if request.options.zca and normalisation != "zca":
        raise InterchangeError(f"--zca serves the data set whitened, but the set is declared {normalisation}: "
                               "declare --normalization zca, or drop --zca")
    if not path.exists():
        raise InterchangeError(f"no file or folder at {path}")
    sets = fmt.read(path, request.keys)
    sha = _sha256(path)
    return [_prepare(s, request, fmt, normalisation, sha, data, path, several=len(sets) > 1) for s in sets]


def _prepare(portable: Portable, request: ImportRequest, fmt: Format, normalisation: str, sha: str,
             data: LoadedDataset, path: Path, *, several: bool) -> Prepared:
    spec = data.spec
    where = f"{path}" + (f" (experiment {portable.part})" if several else "")
    images = portable.images
    if images.ndim == 3 and spec.channels == 1:  # (N, H, W): one channel, as MNIST-like arrays are saved
        images = images.unsqueeze(1)
    if images.ndim != 4:
        raise InterchangeError(f"{where}: images should be (N, channels, height, width), got shape "
                               f"{tuple(images.shape)}")
    if not images.is_floating_point():
        raise InterchangeError(f"{where}: images are {images.dtype}, not floats; pixels saved as 0-255 are "
                               "divided by 255 and imported with --normalization unit")
    n, chans, height, width = images.shape
    if (chans, height, width) != (spec.channels, spec.size, spec.size):
        hints = [f"--size {height}"] * (height == width and height != spec.size) + \
                [f"--channels {chans}"] * (chans in (1, 3) and chans != spec.channels)
        advice = f"; import with {' '.join(hints)} (the data set served as the set was made)" if hints else ""
        raise InterchangeError(f"{where}: images are {chans}×{height}×{width} but {spec.name} is served "
                               f"{spec.channels}×{spec.size}×{spec.size}{advice}")
    images = images.float()
    if not bool(torch.isfinite(images).all()):
        raise InterchangeError(f"{where}: images contain NaN or infinite values")
    hard, soft, label_kind = _labels(portable.labels, n, spec.classes, where)
    counts = torch.bincount(hard, minlength=spec.classes).tolist()
    empty = [c for c, count in enumerate(counts) if count == 0]
    if empty:
        raise InterchangeError(f"{where}: class(es) {', '.join(map(str, empty))} have no image; every class of "
                               f"{spec.name} needs at least one")
    _check_provenance(portable, where)
    images = _normalised(images, normalisation, data, where)

    origin = {"imported": True, "third_party": False, "distribution": None, "version": None, "file": path.name,
              "sha256": sha, "format": fmt.name, "normalization": normalisation, "source": request.source}
    # the same file read under other keys is another set; default keys stay out, so keys stay short
    config = {"file": path.name, "format": fmt.name, "normalization": normalisation, "source": request.source,
              **_renamed_keys(request.keys), **({"recipe": request.recipe} if request.recipe != DC_RECIPE else {})}
    condenser = IMPORTED + request.name
    details: dict[str, Any] = {"sha256": sha, "file": path.name, "part": portable.part, "class_sizes": counts}
    if portable.reported:
        details["reported"] = portable.reported
    if portable.exported_from:
        details["exported_from"] = portable.exported_from
    identity = {"import": sha, "part": portable.part, "condenser": condenser, "config": config,
                "dataset": spec.name, "dataset_version": spec.version, "options": request.options.to_json()}
    key = digest(identity)
    metadata: dict[str, Any] = {
        "condenser": condenser, "condenser_version": 1, "config": config, "profile": None, "dataset": spec.name,
        "dataset_version": spec.version, "options": request.options.to_json(), "synth_net": None,
        "synth_net_version": None, "ipc": max(counts), "seed": portable.part, "key": key, "condenser_origin": origin,
        "dataset_spec": spec.to_json(), "normalisation": {"mean": spec.mean, "std": spec.std}, "details": details,
    }
    extras = {}
    if label_kind != HARD:
        metadata["labels"] = label_kind
        extras[SOFT_LABELS] = soft
    if portable.lr is not None:
        metadata["set_lr"] = portable.lr
    if portable.exported_from:
        metadata["same_as"] = portable.exported_from  # its evaluations draw the same nets as the original's
    if request.recipe != DC_RECIPE:
        metadata["recipe"] = request.recipe
    record = Condensation(
        key=key, status=DONE, condenser=condenser, condenser_version=1, condenser_origin=origin_text(origin),
        third_party=False, config=config, dataset=spec.name, dataset_version=spec.version,
        dataset_options=spec.options, ipc=max(counts), seed=portable.part, details=details, device="cpu",
        versions=versions())
    return Prepared(CondensedSet(images=images.contiguous(), labels=hard, extras=extras), metadata, record)


def _check_provenance(portable: Portable, where: str) -> None:
    """What a file says of itself is a stranger's word too: a step size, and the artifact it claims."""
    lr = portable.lr
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < float("inf")):
        raise InterchangeError(f"{where}: the learned step size is {lr!r}, not a positive number")
    claimed = portable.exported_from
    if claimed is not None and not (isinstance(claimed, str) and _ARTIFACT_ID.fullmatch(claimed)):
        raise InterchangeError(f"{where}: it names {claimed!r} as the dcbench artifact it was exported from, which is "
                               "not an artifact id (64 hex digits); remove that entry to import it as made elsewhere")


def _renamed_keys(keys: Keys) -> dict[str, str]:
    default = Keys()
    return {f"{name}_key": getattr(keys, name) for name in ("images", "labels", "lr")
            if getattr(keys, name) != getattr(default, name)}


def _labels(labels: torch.Tensor, n: int, classes: int, where: str) -> tuple[torch.Tensor, torch.Tensor | None, str]:
    """Class indices, the soft labels (or None) and how to read them: hard, probabilities or logits."""
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.shape[0] != n:
        raise InterchangeError(f"{where}: {n} images but {labels.shape[0]} labels")
    if labels.ndim == 2:
        if labels.shape[1] != classes:
            raise InterchangeError(f"{where}: soft labels have {labels.shape[1]} columns, but the data set has "
                                   f"{classes} classes")
        soft = labels.float()
        if not bool(torch.isfinite(soft).all()):
            raise InterchangeError(f"{where}: labels contain NaN or infinite values")
        is_probability = bool((soft >= 0).all()) and float((soft.sum(1) - 1).abs().max()) < 1e-4
        return soft.argmax(1), soft.contiguous(), PROBABILITIES if is_probability else LOGITS
    if labels.ndim != 1:
        raise InterchangeError(f"{where}: labels should be class indices (N,) or soft labels (N, classes), got "
                               f"shape {tuple(labels.shape)}")
    if labels.is_floating_point():
        if not bool(torch.isfinite(labels).all()) or not bool((labels == labels.round()).all()):
            raise InterchangeError(f"{where}: labels are fractional numbers, not class indices")
    hard = labels.long()
    if n and not bool(((hard >= 0) & (hard < classes)).all()):
        raise InterchangeError(f"{where}: labels must lie in 0..{classes - 1}, found {int(hard.min())}.."
                               f"{int(hard.max())}")
    return hard.contiguous(), None, HARD


def _normalised(images: torch.Tensor, normalisation: str, data: LoadedDataset, where: str) -> torch.Tensor:
    """The images as the data set is served, after checking that their range fits the declaration."""
    spec = data.spec
    mean, std = torch.tensor(spec.mean).view(1, -1, 1, 1), torch.tensor(spec.std).view(1, -1, 1, 1)
    if normalisation == "unit":
        low, high = float(images.min()), float(images.max())
        if low < -1e-4 or high > 1 + 1e-4:
            raise InterchangeError(f"{where}: pixels lie in [{low:.3g}, {high:.3g}], impossible for --normalization "
                                   "unit ([0, 1]); a set normalised with the data set's mean and std is "
                                   "--normalization dataset")
        return (images - mean) / std
    if normalisation == "dataset":
        pixels = images * std + mean
        low, high = float(pixels.min()), float(pixels.max())
        if low < -OVERSHOOT or high > 1 + OVERSHOOT:
            raise InterchangeError(f"{where}: de-normalised, the pixels reach [{low:.3g}, {high:.3g}], impossible for "
                                   f"--normalization dataset (learned images overshoot [0, 1], not past "
                                   f"[-{OVERSHOOT:g}, {1 + OVERSHOOT:g}]); pixels saved as 0-255 are divided by 255 "
                                   "and imported with --normalization unit")
    return images  # zca: whitened images have no pixel range to check


def store_prepared(prepared: Prepared, results: Path) -> Condensation:
    artifact_id, _ = save_artifact(prepared.condensed, prepared.metadata, results)
    return replace(prepared.record, artifact=artifact_id, finished_at=time.time())


def _sha256(path: Path) -> str:
    """The file's SHA-256; a folder's over its files' relative paths and bytes, in sorted order."""
    sha = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            sha.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha.update(block)
    return sha.hexdigest()


# --- export --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Exported:
    """What an export wrote, and how to import it again."""

    files: tuple[Path, ...]
    format: str
    normalization: str
    notes: tuple[str, ...] = ()  # what the format could not hold


def export_set(artifact: Artifact, fmt: Format, out: Path, accuracies: dict[str, list[float]]) -> Exported:
    """Write ``artifact`` in ``fmt`` to ``out``: a new file, or for mtt and folder a new or empty folder."""
    meta, condensed = artifact.metadata, artifact.condensed
    out = out.expanduser()
    if out.exists() and not (fmt.directory and out.is_dir() and not any(out.iterdir())):
        raise InterchangeError(f"--out {out} exists; give a new path (an export never overwrites)")
    whitened = bool(meta["options"].get("zca"))
    images = condensed.images
    if fmt.pixels:
        if whitened:
            raise InterchangeError("a ZCA-whitened set has no pixels to write as image files: export it as dc, mtt "
                                   "or tensors")
        norm = meta["normalisation"]
        images = images * torch.tensor(norm["std"]).view(1, -1, 1, 1) + torch.tensor(norm["mean"]).view(1, -1, 1, 1)
    soft = meta.get("labels", HARD) != HARD
    portable = Portable(images=images, labels=condensed.extras[SOFT_LABELS] if soft else condensed.labels,
                        lr=meta.get("set_lr"), reported={"accs_all_exps": accuracies},
                        exported_from=meta.get("same_as") or artifact.id,
                        class_names=tuple(meta["dataset_spec"].get("class_names") or ()))
    out.parent.mkdir(parents=True, exist_ok=True)
    files = fmt.write(portable, out)
    notes = []
    if meta.get("learned_schedule"):
        notes.append("the set's learned training schedule (dataset distillation) is not part of any of these "
                     "formats and was left out")
    if fmt.pixels:
        notes.append("pixels were rounded to 8 bits (within 1/255 of the set's)")
    if (recipe := meta.get("recipe", DC_RECIPE)) != DC_RECIPE:
        notes.append(f"its accuracies are under the {recipe} recipe, as its condenser evaluates: import it with "
                     f"--recipe {recipe} to evaluate it the same way")
    normalisation = "unit" if fmt.pixels else "zca" if whitened else "dataset"
    return Exported(tuple(files), fmt.name, normalisation, tuple(notes))
