"""What a condensed set is outside dcbench: tensors, labels and what came with them in a file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dcbench.errors import InterchangeError

#: The file dcbench export writes beside folder-shaped sets: the artifact the files came from.
EXPORT_NOTE = "dcbench.json"


@dataclass
class Portable:
    """One condensed set as a file holds it.

    ``labels``: class indices (N,) or soft labels (N, classes); ``lr``: a step size learned with the
    set (MTT's ``syn_lr``); ``part``: its place among the sets of one file (a ``dc`` file's
    experiment); ``reported``: what the file says of itself (a ``dc`` file's accuracies);
    ``exported_from``: the dcbench artifact a ``dcbench export`` wrote it from; ``class_names``: what
    a folder of images names its class sub-folders after."""

    images: torch.Tensor
    labels: torch.Tensor
    lr: float | None = None
    part: int = 0
    reported: dict[str, Any] = field(default_factory=dict)
    exported_from: str | None = None
    class_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Keys:
    """The names a tensors file keeps its images and labels under."""

    images: str = "images"
    labels: str = "labels"
    lr: str = "lr"


def tensor(value: Any, what: str, source: Path) -> torch.Tensor:
    """A tensor from what a file holds (a tensor, a numpy array or a nested list of numbers)."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, (list, tuple)):
        try:
            return torch.tensor(value)
        except (TypeError, ValueError, RuntimeError):
            pass
    raise InterchangeError(f"{source}: {what} is a {type(value).__name__}, not a tensor or an array of numbers")


def scalar(value: Any, what: str, source: Path) -> float:
    found = tensor(value, what, source) if not isinstance(value, (int, float)) else torch.tensor(float(value))
    if found.numel() != 1:
        raise InterchangeError(f"{source}: {what} should be one number, got shape {tuple(found.shape)}")
    return float(found.reshape(()).item())


def plain(value: Any) -> Any:
    """What a file reports about itself, as JSON holds it (numpy and torch numbers as numbers)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)


def read_note(folder: Path) -> dict[str, Any]:
    """The export note of a folder-shaped set (empty when there is none: sets made elsewhere)."""
    path = folder / EXPORT_NOTE
    if not path.is_file():
        return {}
    try:
        note = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InterchangeError(f"{path} is not the JSON dcbench export writes: {exc}") from None
    if not isinstance(note, dict):
        raise InterchangeError(f"{path} is not the note dcbench export writes (a JSON object); remove it to import "
                               "the set as made elsewhere")
    return note


def note_text(portable: Portable) -> str:
    note: dict[str, Any] = {"exported_from": portable.exported_from}
    if portable.lr is not None:
        note["lr"] = portable.lr
    return json.dumps(note, indent=2, sort_keys=True) + "\n"
