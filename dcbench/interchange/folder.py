"""``folder``: one sub-folder of image files per class, the ImageFolder layout of published PNGs.

The classes are the sub-folders in sorted order (as torchvision's ImageFolder numbers them); the
images are 8-bit pixels, so a set in this format is always ``unit``-normalised and exporting one
rounds every pixel to the nearest 1/255. dcbench names its sub-folders ``<index>-<class name>``,
zero-padded, so that sorted order is class order.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from dcbench.errors import InterchangeError
from dcbench.interchange.portable import EXPORT_NOTE, Keys, Portable, note_text, read_note

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
#: The decoders PIL may use: the formats of those suffixes, not whatever a file's bytes claim to be.
FORMATS = ("PNG", "JPEG", "BMP", "WEBP", "TIFF")


def _classes(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def holds(folder: Path) -> bool:
    return folder.is_dir() and any(_images(sub) for sub in _classes(folder))


def read(folder: Path, keys: Keys) -> list[Portable]:
    from PIL import Image, UnidentifiedImageError

    images, labels = [], []
    for index, sub in enumerate(_classes(folder)):
        for file in _images(sub):
            try:
                with Image.open(file, formats=FORMATS) as opened:
                    grey = opened.mode in ("1", "L", "I;16", "I", "F")
                    pixels = np.asarray(opened.convert("L" if grey else "RGB"), dtype=np.float32) / 255
            except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as exc:
                raise InterchangeError(f"{file} is not an image file PIL can read: {exc}") from None
            images.append(torch.from_numpy(pixels).unsqueeze(0) if grey else torch.from_numpy(pixels).permute(2, 0, 1))
            labels.append(index)
    if not images:
        raise InterchangeError(f"{folder} has no class sub-folders with image files ({', '.join(IMAGE_SUFFIXES)})")
    shapes = {tuple(x.shape) for x in images}
    if len(shapes) > 1:
        found = ", ".join(map(str, sorted(shapes)))
        raise InterchangeError(f"{folder}: the images differ in shape or channels ({found}); a condensed set's "
                               "images all have one shape")
    note = read_note(folder)
    return [Portable(torch.stack(images), torch.tensor(labels), lr=note.get("lr"),
                     exported_from=note.get("exported_from"))]


def write(portable: Portable, folder: Path) -> list[Path]:
    """Pixels in [0, 1] as PNG files, one sub-folder per class."""
    from PIL import Image

    if portable.labels.ndim != 1:
        raise InterchangeError("a set with soft labels cannot be written as a folder of images (its labels are "
                               "not one class per image): export it as tensors, mtt or dc")
    classes = int(portable.labels.max()) + 1 if len(portable.labels) else 0
    class_names = portable.class_names
    classes = max(classes, len(class_names))
    width = len(str(max(classes - 1, 0)))
    written = []
    pixels = (portable.images.clamp(0, 1) * 255).round().to(torch.uint8)
    for c in range(classes):
        name = _safe(class_names[c]) if c < len(class_names) and class_names[c] != str(c) else ""
        sub = folder / (f"{c:0{width}d}" + (f"-{name}" if name else ""))
        sub.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(pixels[portable.labels == c]):
            array = image[0].numpy() if image.shape[0] == 1 else image.permute(1, 2, 0).numpy()
            path = sub / f"{i:03d}.png"
            Image.fromarray(array).save(path, format="png")
            written.append(path)
    (folder / EXPORT_NOTE).write_text(note_text(portable))
    return [*written, folder / EXPORT_NOTE]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._]+", "_", name).strip("_").lower()
