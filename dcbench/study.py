"""Studies: a paper's table as data, the cells it needs and the numbers the paper reports for them.

A :class:`Study` is a list of :class:`StudyCell`: one reported number each, with everything that
names the grid cell behind it (data set, serving options, ipc, condenser and its overrides,
synthesis and classification nets, schedule, recipe). A study is written as YAML
(:meth:`Study.from_yaml`, format in docs/reproduce.md) and registered like any component
(registry.yaml's ``studies:``, the entry-point group ``dcbench.studies``), the target being a
``Study``. Names inside a study are resolved when it is reproduced, not when it loads, so a study
of a data set or condenser that is not installed still lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from dcbench.errors import UserError
from dcbench.records import WHOLE

#: How a study's reported numbers are given: "91.7 ± 0.5", "91.7±0.5", "91.7 +- 0.5" or "91.7".
_SCORE = re.compile(r"^\s*(?P<mean>-?\d+(?:\.\d+)?)\s*(?:(?:±|\+-|\+/-)\s*(?P<std>\d+(?:\.\d+)?))?\s*$")
_CELL_KEYS = {"row", "column", "dataset", "ipc", "condenser", "synth", "cls", "size", "channels", "set",
              "schedule", "recipe", "paper", "n", "note"}
_TOP_KEYS = {"name", "version", "title", "source", "n", "defaults", "cells", "notes"}
_NAME = re.compile(r"^[a-z0-9_]+$")


class StudyError(UserError):
    """A study file that cannot be read as a study."""


@dataclass(frozen=True)
class Reported:
    """A number as the paper reports it, in percent: mean, std (None: not given) and n."""

    mean: float
    std: float | None
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.1f}" + (f" ± {self.std:.1f}" if self.std is not None else "")


@dataclass(frozen=True)
class StudyCell:
    """One reported number and the grid cell it is about. ``condenser`` WHOLE (``ipc`` None) is a
    network trained on the whole training split; ``synth`` None: ``convnet`` for condensers that
    synthesise through a network (selection methods take none)."""

    row: str
    column: str
    dataset: str
    ipc: int | None
    condenser: str
    cls: str
    paper: Reported
    synth: str | None = None
    size: int | None = None
    channels: int | None = None
    overrides: tuple[tuple[str, Any], ...] = ()
    schedule: str = "standard"
    recipe: str | None = None  # None: the set's own (its condenser's)
    note: str = ""

    @property
    def whole(self) -> bool:
        return self.condenser == WHOLE

    @property
    def label(self) -> str:
        return f"{self.row} · {self.column}"


@dataclass(frozen=True)
class StudySpec:
    """What ``dcbench list studies`` shows: the name users type, a version bumped when the typed
    numbers or the cells change, and where the numbers come from."""

    name: str
    version: int
    title: str
    source: str
    cells: int

    @property
    def description(self) -> str:
        return f"{self.title} ({self.cells} cells)"


@dataclass(frozen=True)
class Study:
    spec: StudySpec
    cells: tuple[StudyCell, ...]
    notes: tuple[str, ...] = field(default=())  # what differs from the paper's setting, said once

    @property
    def name(self) -> str:
        return self.spec.name

    def datasets(self) -> list[str]:
        return list(dict.fromkeys(c.dataset for c in self.cells))

    def select(self, *, dataset: str | None = None, ipc: int | None = None) -> list[StudyCell]:
        """The cells of one data set and one ipc (whole-data cells belong to every ipc of their data set)."""
        return [c for c in self.cells if (dataset is None or c.dataset == dataset)
                and (ipc is None or c.ipc is None or c.ipc == ipc)]

    @classmethod
    def from_yaml(cls, path: str | Path) -> "Study":
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise StudyError(f"cannot read the study {path}: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1})" if mark is not None else ""
            raise StudyError(f"{path} is not valid YAML{where}; fix the file and run again") from None
        return cls.from_mapping(raw, where=str(path))

    @classmethod
    def from_mapping(cls, raw: Any, *, where: str) -> "Study":
        if not isinstance(raw, Mapping):
            raise StudyError(f"{where}: a study is a mapping with name, version, title, source and cells")
        unknown = sorted(set(raw) - _TOP_KEYS)
        if unknown:
            raise StudyError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(_TOP_KEYS))}")
        name = raw.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise StudyError(f"{where}: 'name' must be lower-case [a-z0-9_]+, got {name!r}")
        version = raw.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise StudyError(f"{where}: 'version' must be a positive integer, got {version!r}")
        for key in ("title", "source"):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                raise StudyError(f"{where}: '{key}' must be a non-empty text")
        n = _positive(raw.get("n", 100), f"{where}: 'n'")
        defaults = raw.get("defaults") or {}
        if not isinstance(defaults, Mapping) or set(defaults) - _CELL_KEYS:
            raise StudyError(f"{where}: 'defaults' must be a mapping of cell keys ({', '.join(sorted(_CELL_KEYS))})")
        cells_raw = raw.get("cells")
        if not isinstance(cells_raw, list) or not cells_raw:
            raise StudyError(f"{where}: 'cells' must be a non-empty list")
        cells = tuple(_cell({**defaults, **_mapping(c, f"{where}: cells[{i}]")}, n, f"{where}: cells[{i}]")
                      for i, c in enumerate(cells_raw))
        seen: dict[str, int] = {}
        for i, c in enumerate(cells):
            if c.label in seen:
                raise StudyError(f"{where}: cells[{i}] repeats the row and column of cells[{seen[c.label]}] "
                                 f"({c.label}); give each cell its own")
            seen[c.label] = i
        notes = raw.get("notes") or []
        if not isinstance(notes, list) or not all(isinstance(x, str) for x in notes):
            raise StudyError(f"{where}: 'notes' must be a list of texts")
        return cls(StudySpec(name, version, raw["title"].strip(), raw["source"].strip(), len(cells)), cells,
                   tuple(notes))


def _reported(text: Any, n: int, where: str) -> Reported:
    """A reported number: "91.7 ± 0.5" (or a bare mean), in percent."""
    match = _SCORE.match(str(text)) if isinstance(text, (str, int, float)) else None
    if match is None:
        raise StudyError(f"{where}: 'paper' must be a percentage like \"91.7 ± 0.5\", got {text!r}")
    std = match["std"]
    return Reported(float(match["mean"]), float(std) if std is not None else None, n)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise StudyError(f"{where} must be a mapping of cell keys")
    return value


def _positive(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise StudyError(f"{where} must be a positive integer, got {value!r}")
    return value


def _text(raw: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    value = raw.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip():
        raise StudyError(f"{where}: '{key}' must be a name or label, got {value!r}")
    return str(value).strip()


def _cell(raw: Mapping[str, Any], default_n: int, where: str) -> StudyCell:
    unknown = sorted(set(raw) - _CELL_KEYS)
    if unknown:
        raise StudyError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(sorted(_CELL_KEYS))}")
    condenser = _text(raw, "condenser", where)
    ipc = raw.get("ipc")
    if condenser == WHOLE:
        if ipc is not None:
            raise StudyError(f"{where}: a whole-data cell has no ipc; drop it")
    else:
        ipc = _positive(ipc, f"{where}: 'ipc'")
    n = _positive(raw.get("n", default_n), f"{where}: 'n'")
    if "paper" not in raw:
        raise StudyError(f"{where}: 'paper' (the reported number) is missing")
    overrides = raw.get("set") or {}
    if not isinstance(overrides, Mapping):
        raise StudyError(f"{where}: 'set' must map hyperparameters to values")
    sizes = {k: _positive(raw[k], f"{where}: '{k}'") if raw.get(k) is not None else None for k in ("size", "channels")}
    return StudyCell(
        row=_text(raw, "row", where), column=_text(raw, "column", where), dataset=_text(raw, "dataset", where),
        ipc=ipc, condenser=condenser, cls=_text(raw, "cls", where), paper=_reported(raw["paper"], n, where),
        synth=_text(raw, "synth", where, required=False), overrides=tuple(sorted(overrides.items())),
        schedule=_text(raw, "schedule", where, required=False) or "standard",
        recipe=_text(raw, "recipe", where, required=False), note=str(raw.get("note") or ""), **sizes)
