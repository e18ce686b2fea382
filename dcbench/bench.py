"""Timing a condenser without evaluating it: seconds per outer iteration, total, peak memory, device.

For iterative condensers (a Config with ``iterations``) the condenser's own ``report(step, …)``
calls, one per outer iteration, are the clock: the time between consecutive reports is one
iteration, and the first is left out as warm-up (allocator, caches, lazy initialisation).
Selection methods are timed as a whole. Variants of one condenser (its implementations, or any
Config values) are timed in the same process on the same data, so their ratio compares like with
like.

A benchmark runs cold, in a scratch results folder: a cached whole-data run would otherwise make
herding look free, and benchmarks keep only their timings.
"""

from __future__ import annotations

import dataclasses
import itertools
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Mapping, Sequence

from dcbench.cells import ResolvedSynth, SynthCell, Workspace, run_synth
from dcbench.runtime import synchronize


def iterative(resolved: ResolvedSynth) -> bool:
    return "iterations" in {f.name for f in dataclasses.fields(resolved.condenser_cls.Config)}


def implementations(resolved: ResolvedSynth) -> tuple[str, ...]:
    """The implementations a condenser offers (its Config's ``implementation`` choices)."""
    return tuple(getattr(resolved.condenser_cls, "implementations", ()))


def variants(choices: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the given values of Config fields, in the order given: the settings
    one ``bench`` run times against the first."""
    names = list(choices)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*choices.values())]


def variant_label(variant: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in variant.items()) or "as configured"


def with_variant(cell: SynthCell, variant: Mapping[str, Any] | None) -> SynthCell:
    """``cell`` with the Config values of ``variant`` forced."""
    overrides = dict(cell.overrides) | dict(variant or {})
    return dataclasses.replace(cell, overrides=tuple(sorted(overrides.items())))


def bench_cell(ws: Workspace, cell: SynthCell, *, variant: Mapping[str, Any] | None = None,
               report=None) -> dict[str, Any]:
    """Run ``cell`` with the Config values of ``variant`` forced and time it; returns a benchmarks row."""
    resolved = with_variant(cell, variant).resolved()
    stamps: list[float] = []

    def clock(step: int, **metrics: Any) -> None:
        synchronize(ws.device)
        stamps.append(time.perf_counter())
        if report is not None:
            report(step, **metrics)

    with tempfile.TemporaryDirectory(prefix="dcbench-bench-") as scratch:
        row = run_synth(dataclasses.replace(ws, results=Path(scratch)), resolved, report=clock)
    deltas = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    per_iteration = statistics.median(deltas) if deltas and iterative(resolved) else None
    details = row.get("details") or {}
    return {
        "key": uuid.uuid4().hex[:24], "status": row["status"], "error": row.get("error"),
        "condenser": row["condenser"], "condenser_version": row["condenser_version"], "config": row["config"],
        "profile": row["profile"], "dataset": row["dataset"], "dataset_version": row["dataset_version"],
        "dataset_options": row["dataset_options"], "synth_net": row["synth_net"], "ipc": row["ipc"],
        "seed": row["seed"], "implementation": details.get("implementation") or (variant or {}).get("implementation"),
        "iterations": len(stamps) if per_iteration is not None else None,
        "seconds_per_iteration": per_iteration, "wall_s": row.get("wall_s"),
        "peak_mem_bytes": row.get("peak_mem_bytes"), "peak_mem_kind": row.get("peak_mem_kind"),
        "device": row["device"], "device_name": row["device_name"], "versions": row["versions"],
    }
