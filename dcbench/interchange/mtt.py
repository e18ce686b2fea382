"""``mtt``: a folder with ``images_best.pt`` and ``labels_best.pt`` (and the learned step size,
``lr_best.pt``, when there is one), as MTT and the methods built on it release their sets."""

from __future__ import annotations

from pathlib import Path

import torch

from dcbench.errors import InterchangeError
from dcbench.interchange.portable import EXPORT_NOTE, Keys, Portable, note_text, read_note, scalar, tensor
from dcbench.interchange.safe import load_pt

IMAGES, LABELS, LR = "images_best.pt", "labels_best.pt", "lr_best.pt"


def holds(folder: Path) -> bool:
    return folder.is_dir() and (folder / IMAGES).is_file()


def read(folder: Path, keys: Keys) -> list[Portable]:
    if not holds(folder):
        raise InterchangeError(f"{folder} is not an mtt folder: it needs {IMAGES} and {LABELS}")
    if not (folder / LABELS).is_file():
        raise InterchangeError(f"{folder} has {IMAGES} but no {LABELS}: the labels of an mtt set are a file of "
                               "their own; copy it beside the images")
    images = tensor(load_pt(folder / IMAGES), IMAGES, folder)
    labels = tensor(load_pt(folder / LABELS), LABELS, folder)
    lr = scalar(load_pt(folder / LR), LR, folder) if (folder / LR).is_file() else None
    return [Portable(images, labels, lr=lr, exported_from=read_note(folder).get("exported_from"))]


def write(portable: Portable, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / IMAGES, folder / LABELS]
    torch.save(portable.images, folder / IMAGES)
    torch.save(portable.labels, folder / LABELS)
    if portable.lr is not None:
        torch.save(torch.tensor(portable.lr, dtype=torch.float32), folder / LR)
        written.append(folder / LR)
    (folder / EXPORT_NOTE).write_text(note_text(portable))
    return [*written, folder / EXPORT_NOTE]
