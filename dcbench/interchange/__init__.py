"""Condensed sets as other codebases keep them: reading and writing the field's file formats.

Each format is a module with ``holds`` (does this path look like one), ``read`` (a list of
:class:`Portable` sets, nothing interpreted yet) and ``write``. Nothing here knows data sets or
normalisation: :mod:`dcbench.imports` checks what was read against the data set it is for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from dcbench.errors import InterchangeError
from dcbench.interchange import dc, folder, mtt, tensors
from dcbench.interchange.portable import Keys, Portable
from dcbench.interchange.safe import load_pt


@dataclass(frozen=True)
class Format:
    name: str
    read: Callable[[Path, Keys], list[Portable]]
    write: Callable[[Portable, Path], list[Path]]
    pixels: bool = False  # holds 8-bit pixels: always unit-normalised
    directory: bool = False  # a folder of files, not one file
    describe: str = ""


FORMATS: dict[str, Format] = {
    "dc": Format("dc", dc.read, dc.write, describe="the official DC/DSA/DM result file (.pt)"),
    "mtt": Format("mtt", mtt.read, mtt.write, directory=True,
                  describe="a folder with images_best.pt, labels_best.pt [, lr_best.pt]"),
    "tensors": Format("tensors", tensors.read, tensors.write, describe="one .pt, .safetensors or .npz file"),
    "folder": Format("folder", folder.read, folder.write, pixels=True, directory=True,
                     describe="one sub-folder of image files per class"),
}


def format_named(name: str) -> Format:
    if name not in FORMATS:
        raise InterchangeError(f"unknown format '{name}': choose {', '.join(FORMATS)}")
    return FORMATS[name]


def detect(path: Path) -> Format:
    """The format of ``path``, from its content; one line naming the formats when it is none of them."""
    if not path.exists():
        raise InterchangeError(f"no file or folder at {path}")
    if path.is_dir():
        if mtt.holds(path):
            return FORMATS["mtt"]
        if folder.holds(path):
            return FORMATS["folder"]
    elif path.suffix in (".pt", ".pth"):
        return FORMATS["dc"] if dc.holds(load_pt(path)) else FORMATS["tensors"]
    elif tensors.holds(path):
        return FORMATS["tensors"]
    known = "; ".join(f"{f.name}: {f.describe}" for f in FORMATS.values())
    raise InterchangeError(f"cannot tell the format of {path} ({known}); name it with --format")


__all__ = ["FORMATS", "Format", "Keys", "Portable", "detect", "format_named"]
