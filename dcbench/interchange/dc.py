"""``dc``: the result file of the official DC/DSA/DM code (VICO-UoE/DatasetCondensation).

A ``torch.save``d dict: ``data``, a list with one ``[images, labels]`` pair per experiment, and
``accs_all_exps``, the accuracies that code measured (per evaluation model, numpy floats). Each
experiment is a set of its own. dcbench's export writes the same shape, its own accuracies in
``accs_all_exps`` (per classification net) and the artifact it came from under ``dcbench``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from dcbench.errors import InterchangeError
from dcbench.interchange.portable import Keys, Portable, plain, tensor
from dcbench.interchange.safe import load_pt


def holds(content: Any) -> bool:
    return isinstance(content, dict) and "data" in content


def read(path: Path, keys: Keys) -> list[Portable]:
    content = load_pt(path)
    if not holds(content) or not isinstance(content["data"], (list, tuple)) or not content["data"]:
        raise InterchangeError(f"{path} is not a dc result file: it needs 'data', a list of [images, labels] "
                               "pairs, one per experiment")
    reported = plain({k: v for k, v in content.items() if k not in ("data", "dcbench")})
    exported_from = (content.get("dcbench") or {}).get("artifact") if isinstance(content.get("dcbench"), dict) else None
    sets = []
    for part, pair in enumerate(content["data"]):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise InterchangeError(f"{path}: data[{part}] should be a pair [images, labels]")
        sets.append(Portable(tensor(pair[0], f"data[{part}][0] (images)", path),
                             tensor(pair[1], f"data[{part}][1] (labels)", path), part=part, reported=reported,
                             exported_from=exported_from))
    return sets


def write(portable: Portable, path: Path) -> list[Path]:
    content = {"data": [[portable.images, portable.labels]],
               "accs_all_exps": portable.reported.get("accs_all_exps", {}),
               "dcbench": {"artifact": portable.exported_from}}
    torch.save(content, path)
    return [path]
