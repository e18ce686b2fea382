"""``tensors``: one file of named tensors, ``images`` and ``labels`` (and ``lr``, a learned step
size) by default: ``.pt`` (a dict of tensors), ``.safetensors`` or ``.npz``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from dcbench.errors import InterchangeError
from dcbench.interchange.portable import Keys, Portable, scalar, tensor
from dcbench.interchange.safe import load_pt

SUFFIXES = (".pt", ".pth", ".safetensors", ".npz")
_EXPORTED_FROM = "dcbench_artifact"


def holds(path: Path) -> bool:
    return path.is_file() and path.suffix in SUFFIXES


def read(path: Path, keys: Keys) -> list[Portable]:
    content, exported_from = _content(path)
    for key in (keys.images, keys.labels):
        if key not in content:
            found = ", ".join(sorted(map(str, content))) or "nothing"
            raise InterchangeError(f"{path} has no '{key}' (it holds {found}); name the right keys with "
                                   "--images-key and --labels-key")
    lr = scalar(content[keys.lr], keys.lr, path) if keys.lr in content else None
    return [Portable(tensor(content[keys.images], keys.images, path), tensor(content[keys.labels], keys.labels, path),
                     lr=lr, exported_from=exported_from)]


def _content(path: Path) -> tuple[dict[str, Any], str | None]:
    if path.suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="pt") as opened:
                exported_from = (opened.metadata() or {}).get(_EXPORTED_FROM) or None
            return load_file(str(path)), exported_from
        except (SafetensorError, OSError) as exc:
            raise InterchangeError(f"{path} is not a safetensors file: {exc}") from None
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as archive:
                content = {name: archive[name] for name in archive.files}
        except ValueError as exc:  # an object array needs pickle: refused, never loaded
            raise InterchangeError(f"{path} needs pickle to load ({exc}); dcbench never unpickles a file: "
                                   "save numeric arrays only") from None
        except (OSError, EOFError) as exc:
            raise InterchangeError(f"{path} is not an .npz archive: {exc}") from None
        exported = content.pop(_EXPORTED_FROM, None)
        return content, str(exported) or None if exported is not None else None
    content = load_pt(path)
    if not isinstance(content, dict):
        raise InterchangeError(f"{path} holds a {type(content).__name__}; a tensors file holds a dict of "
                               "named tensors (for a dc result file say --format dc)")
    exported = content.pop(_EXPORTED_FROM, None)
    return content, exported if isinstance(exported, str) else None


def write(portable: Portable, path: Path) -> list[Path]:
    if path.suffix not in SUFFIXES:
        raise InterchangeError(f"--out {path}: a tensors file ends in {', '.join(SUFFIXES)}")
    tensors = {"images": portable.images.contiguous(), "labels": portable.labels.contiguous()}
    if portable.lr is not None:
        tensors["lr"] = torch.tensor(portable.lr, dtype=torch.float32)
    if path.suffix == ".safetensors":
        save_file(tensors, str(path), metadata={_EXPORTED_FROM: portable.exported_from or ""})
    elif path.suffix == ".npz":
        np.savez(path, **{k: v.numpy() for k, v in tensors.items()},
                 **{_EXPORTED_FROM: np.array(portable.exported_from or "")})
    else:
        torch.save({**tensors, _EXPORTED_FROM: portable.exported_from}, path)
    return [path]
