"""The typed records of results: what a cell produced, what a run was, what a timing measured.

Each record is a frozen dataclass whose fields *are* the columns of its store table: the store
derives its schema from them (:func:`columns`), so a column is declared once, here. Cells build
records, the recorder writes them, the API returns them, and a record read back from the store
equals the one that was written (JSON columns come back as dicts and lists, flags as bools).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar, TypeVar, Union

#: The condenser name of results trained on the whole training split (no condensed set).
WHOLE = "whole_data"
#: The name space of sets made elsewhere and imported (``import:NAME``): never one of dcbench's condensers.
IMPORTED = "import:"
DONE, FAILED = "done", "failed"

_STORED = "dcbench.column"


def _not_stored(default: Any) -> Any:
    """A field that travels with a record but has no column (e.g. the label of a timed variant)."""
    return field(default=default, compare=False, metadata={_STORED: False})


@dataclass(frozen=True, kw_only=True)
class Result:
    """What every cell's record has: its key, outcome, where it ran and what it cost."""

    table: ClassVar[str]
    key: str
    status: str  # "done" or "failed"
    error: str | None = None
    profile: str | None = None
    dataset: str | None = None
    dataset_version: int | None = None
    dataset_options: dict[str, Any] | None = None
    device: str | None = None
    device_name: str | None = None
    wall_s: float | None = None
    peak_mem_bytes: int | None = None
    peak_mem_kind: str | None = None
    versions: dict[str, Any] | None = None
    run_id: str | None = None
    finished_at: float | None = None

    @property
    def done(self) -> bool:
        return self.status == DONE

    def failed(self, error: str) -> "Result":
        """This record as a failed attempt: what it says the cell was, and why it did not finish."""
        return dataclasses.replace(self, status=FAILED, error=error)


@dataclass(frozen=True, kw_only=True)
class Condensation(Result):
    """One condensed set made (or an attempt): a synth cell's result; the set itself is ``artifact``."""

    table: ClassVar[str] = "condensations"
    artifact: str | None = None
    condenser: str | None = None
    condenser_version: int | None = None
    condenser_origin: str | None = None
    third_party: bool | None = None
    config: dict[str, Any] | None = None
    synth_net: str | None = None
    synth_net_version: int | None = None
    ipc: int | None = None
    seed: int | None = None
    details: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class Evaluation(Result):
    """One fresh classification net trained on a condensed set (or the whole data) and tested."""

    table: ClassVar[str] = "evaluations"
    condensation: str | None = None  # the key of the condensation that made the set
    artifact: str | None = None
    condenser: str | None = None  # WHOLE for the whole-data reference
    condenser_version: int | None = None
    condenser_origin: str | None = None
    third_party: bool | None = None
    synth_net: str | None = None
    ipc: int | None = None
    run_seed: int | None = None  # the seed of the condensed set
    cls_net: str | None = None
    cls_net_version: int | None = None
    cls_net_origin: str | None = None
    recipe: dict[str, Any] | None = None
    schedule: str | None = None
    eval_index: int | None = None
    seed: int | None = None
    accuracy: float | None = None
    train_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class ProtocolResult(Result):
    """One evaluation of a protocol other than classification (dcbench.protocol): its sets (none for
    the protocol's baseline) used as the protocol says, one network, one seed."""

    table: ClassVar[str] = "protocol_results"
    protocol: str | None = None
    protocol_version: int | None = None
    protocol_config: dict[str, Any] | None = None
    views: list[Any] | None = None  # the data each set was made of, in the protocol's order
    condensations: list[Any] | None = None  # the keys of the condensations that made the sets
    artifacts: list[Any] | None = None
    condenser: str | None = None  # the protocol's baseline name when there is no set
    condenser_version: int | None = None
    condenser_origin: str | None = None
    third_party: bool | None = None
    synth_net: str | None = None
    ipc: int | None = None
    run_seed: int | None = None  # the seed of the sets
    cls_net: str | None = None
    cls_net_version: int | None = None
    eval_index: int | None = None
    seed: int | None = None
    value: float | None = None  # the protocol's metric, in percent
    metrics: dict[str, Any] | None = None
    train_s: float | None = None


@dataclass(frozen=True, kw_only=True)
class Benchmark(Result):
    """One timing of a condenser: seconds per outer iteration (iterative methods) and in total."""

    table: ClassVar[str] = "benchmarks"
    condenser: str | None = None
    condenser_version: int | None = None
    config: dict[str, Any] | None = None
    synth_net: str | None = None
    ipc: int | None = None
    seed: int | None = None
    implementation: str | None = None
    iterations: int | None = None
    seconds_per_iteration: float | None = None
    variant: str = _not_stored("")  # what this timing varied, e.g. "implementation=loop"


@dataclass(frozen=True, kw_only=True)
class Run:
    """One invocation that wrote results (a CLI command or an API call): every row names its run."""

    table: ClassVar[str] = "runs"
    id: str
    started_at: float
    command: str
    argv: list[str]
    host: str
    device: str
    versions: dict[str, Any]
    status: str  # running, done, failed or interrupted
    finished_at: float | None = None


CellRecord = Union[Condensation, Evaluation, ProtocolResult]  # what a cell (synth, eval, protocol) produces
Record = Union[Condensation, Evaluation, ProtocolResult, Benchmark, Run]
R = TypeVar("R", Condensation, Evaluation, ProtocolResult, Benchmark, Run)
RECORDS: tuple[type, ...] = (Run, Condensation, Evaluation, Benchmark, ProtocolResult)
_JSON = "json"


def primary_key(record_cls: type) -> str:
    return "id" if record_cls is Run else "key"


@cache
def _kinds(record_cls: type) -> dict[str, Any]:
    """Each stored field's value type: str, int, float, bool, or _JSON for dicts and lists."""
    hints = typing.get_type_hints(record_cls)
    kinds = {}
    for f in dataclasses.fields(record_cls):
        if not f.metadata.get(_STORED, True):
            continue
        hint = hints[f.name]
        if typing.get_origin(hint) in (Union, types.UnionType):
            hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
        base = typing.get_origin(hint) or hint
        kinds[f.name] = _JSON if base in (dict, list) else base
    return kinds


def columns(record_cls: type) -> dict[str, type]:
    """The store table's columns and their SQLite types, derived from the record's fields."""
    return {name: str if kind == _JSON else int if kind is bool else kind
            for name, kind in _kinds(record_cls).items()}


def to_row(record: Record) -> dict[str, Any]:
    """The record as a store row: JSON columns as canonical text, flags as 0/1."""
    row = {}
    for name, kind in _kinds(type(record)).items():
        value = getattr(record, name)
        if kind == _JSON and isinstance(value, (dict, list, tuple)):
            value = json.dumps(value, sort_keys=True, default=str)
        elif value is not None and kind is bool:
            value = int(value)
        row[name] = value
    return row


def from_row(record_cls: type[R], row: dict[str, Any]) -> R:
    """A record from a store row (or from :func:`to_row`'s output, e.g. sent back by a Ray worker)."""
    values = {}
    for name, kind in _kinds(record_cls).items():
        value = row.get(name)
        if kind == _JSON and isinstance(value, str) and value[:1] in ("{", "["):
            try:
                value = json.loads(value)
            except ValueError:  # a plain string that a plugin stored there (e.g. its details)
                pass
        elif value is not None and kind is bool:
            value = bool(value)
        values[name] = value
    return record_cls(**values)
