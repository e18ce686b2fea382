"""Condensed sets on disk: safetensors with JSON metadata, named by their own SHA-256.

The file name is the checksum of the file's bytes, so a corrupted or tampered file is detected on
every load, and the same condensed set (same tensors, same metadata) is stored once. Metadata
holds only what determines the set, never timings, so reruns are byte-identical. Loading parses
safetensors and JSON; nothing is ever unpickled.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from dcbench.condenser import CondensedSet
from dcbench.errors import ArtifactError
from dcbench.files import write_atomically

FORMAT = 1
SUFFIX = ".safetensors"
_EXTRA = "extra."


@dataclass
class Artifact:
    id: str
    path: Path
    condensed: CondensedSet
    metadata: dict[str, Any]


def artifacts_dir(results: Path) -> Path:
    return results / "artifacts"


def save_artifact(condensed: CondensedSet, metadata: dict[str, Any], results: Path) -> tuple[str, Path]:
    """Write the set (atomically) and return its id (the SHA-256 of the file) and path."""
    condensed = condensed.detached()
    tensors = {"images": condensed.images, "labels": condensed.labels}
    if condensed.indices is not None:
        tensors["indices"] = condensed.indices
    tensors.update({_EXTRA + name: value for name, value in condensed.extras.items()})
    # One metadata key: safetensors writes a header map in no fixed order, and the file's bytes
    # (hence its id) must depend on the content only.
    header = {"dcbench": json.dumps({"format": FORMAT, "metadata": metadata}, sort_keys=True, default=str)}
    data = save_tensors(tensors, metadata=header)
    artifact_id = hashlib.sha256(data).hexdigest()
    path = _stored_path(artifact_id, results)
    _write_once(path, data)
    return artifact_id, path


def keep(artifact: Artifact, results: Path) -> Artifact:
    """``artifact`` as stored under ``results``: a set read from a file elsewhere is copied in (its
    bytes, so its id), where cells look sets up by id."""
    path = _stored_path(artifact.id, results)
    if artifact.path.resolve() != path.resolve():
        data = artifact.path.read_bytes()
        if hashlib.sha256(data).hexdigest() != artifact.id:
            raise ArtifactError(f"artifact {artifact.path} changed while it was being read; try again")
        _write_once(path, data)
    return dataclasses.replace(artifact, path=path)


def _stored_path(artifact_id: str, results: Path) -> Path:
    return artifacts_dir(results) / artifact_id[:2] / (artifact_id + SUFFIX)


def _write_once(path: Path, data: bytes) -> None:
    if not path.exists():  # content-addressed: an existing file already holds these bytes
        write_atomically(path, lambda tmp: tmp.write_bytes(data))


def resolve(ref: str, results: Path) -> Path:
    """An artifact by path, full id or unique id prefix (at least 6 characters)."""
    candidate = Path(ref)
    if candidate.suffix == SUFFIX or candidate.is_file():
        if not candidate.is_file():
            raise ArtifactError(f"no artifact file at {candidate}")
        return candidate
    ref = ref.lower()
    if len(ref) < 6 or any(ch not in "0123456789abcdef" for ch in ref):
        raise ArtifactError(f"'{ref}' is neither an artifact file nor an artifact id (6+ hex digits); "
                            "`dcbench leaderboard` and `dcbench synth` print ids")
    folder = artifacts_dir(results) / ref[:2]
    matches = sorted(folder.glob(ref + "*" + SUFFIX)) if folder.is_dir() else []
    if not matches:
        raise ArtifactError(f"no artifact with id {ref} under {artifacts_dir(results)}; check --results")
    if len(matches) > 1:
        raise ArtifactError(f"id prefix {ref} matches {len(matches)} artifacts; give more digits")
    return matches[0]


def load_artifact(ref: str | Path, results: Path) -> Artifact:
    path = resolve(str(ref), results)
    artifact_id = path.name.removesuffix(SUFFIX)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"cannot read artifact {path}: {exc.strerror}; check its permissions") from None
    if hashlib.sha256(data).hexdigest() != artifact_id:
        raise ArtifactError(f"artifact {path} is corrupted or was modified (its checksum does not match its "
                            "name); delete it and run the synthesis again")
    try:
        metadata = _read_metadata(data)
        tensors = load_tensors(data)
        extras = {k.removeprefix(_EXTRA): v for k, v in tensors.items() if k.startswith(_EXTRA)}
        condensed = CondensedSet(images=tensors["images"], labels=tensors["labels"],
                                 indices=tensors.get("indices"), extras=extras)
    except Exception as exc:  # any malformed content (header, tensors, shapes) is the file's fault
        raise ArtifactError(f"artifact {path} is not a dcbench artifact: {type(exc).__name__}: {exc}") from None
    return Artifact(artifact_id, path, condensed, metadata)


def _read_metadata(data: bytes) -> dict[str, Any]:
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    stored = json.loads(meta.get("dcbench", "{}")) if isinstance(meta, dict) else None
    if not isinstance(stored, dict) or stored.get("format") != FORMAT or not isinstance(stored.get("metadata"), dict):
        raise ValueError("no dcbench metadata of a known format")
    return stored["metadata"]


def image_grid(artifact: Artifact) -> torch.Tensor:
    """The set's images as one (C, H, W) grid in [0, 1], one row per class: de-normalised with the
    data set's statistics; whitened images (ZCA serving) have no pixel values to return to, so each
    is stretched to [0, 1] instead."""
    from torchvision.utils import make_grid

    condensed, meta = artifact.condensed, artifact.metadata
    images = condensed.images
    if meta["options"].get("zca"):
        flat = images.flatten(1)
        low, high = flat.min(1).values.view(-1, 1, 1, 1), flat.max(1).values.view(-1, 1, 1, 1)
        images = (images - low) / (high - low).clamp_min(1e-12)
    else:
        mean, std = meta["normalisation"]["mean"], meta["normalisation"]["std"]
        images = images * torch.tensor(std).view(1, -1, 1, 1) + torch.tensor(mean).view(1, -1, 1, 1)
    images = images.clamp(0, 1)
    per_class = [images[condensed.labels == c] for c in range(meta["dataset_spec"]["classes"])]
    width = max((len(x) for x in per_class), default=1)
    blank = torch.ones_like(images[:1])
    rows = [torch.cat([x, blank.expand(width - len(x), -1, -1, -1)]) for x in per_class]
    side = images.shape[-1]
    scale = max(1, 32 // side)  # 8×8 digits would be specks: upscale small images
    grid = torch.cat(rows)
    if scale > 1:
        grid = torch.nn.functional.interpolate(grid, scale_factor=scale, mode="nearest")
    return make_grid(grid, nrow=width, padding=2, pad_value=1.0)


def write_png(grid: torch.Tensor, path: Path) -> Path:
    from torchvision.utils import save_image

    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(grid, str(path), format="png")  # by name: an atomic write's temporary file has no .png
    return path
