"""Timing a condenser without evaluating it: seconds per outer iteration, peak memory, device.

The condenser's own ``report(step, …)`` calls, one per outer iteration, are the clock: the time
between consecutive reports is one iteration, and the first is left out as warm-up (allocator,
caches, lazy initialisation). Implementations of one condenser are timed in the same process on
the same data, so their ratio compares like with like.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
import uuid
from typing import Any

from dcbench.cells import ResolvedSynth, SynthCell, Workspace, run_synth


def implementations(resolved: ResolvedSynth) -> tuple[str, ...]:
    """The implementations a condenser offers (its Config's ``implementation`` choices)."""
    return tuple(getattr(resolved.condenser_cls, "implementations", ()))


def bench_cell(ws: Workspace, cell: SynthCell, *, implementation: str | None = None,
               report=None) -> dict[str, Any]:
    """Run ``cell`` (with ``implementation`` forced if given) and time it; returns a benchmarks row."""
    if implementation is not None:
        overrides = dict(cell.overrides) | {"implementation": implementation}
        cell = dataclasses.replace(cell, overrides=tuple(sorted(overrides.items())))
    resolved = cell.resolved()
    stamps: list[float] = []

    def clock(step: int, **metrics: Any) -> None:
        stamps.append(time.perf_counter())
        if report is not None:
            report(step, **metrics)

    # Benchmarks write artifacts like any run (content-addressed, so a repeat costs no space).
    row = run_synth(ws, resolved, report=clock)
    deltas = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    per_iteration = statistics.median(deltas) if deltas else row.get("wall_s")
    details = row.get("details") or {}
    return {
        "key": uuid.uuid4().hex[:24], "status": row["status"], "error": row.get("error"),
        "condenser": row["condenser"], "condenser_version": row["condenser_version"], "config": row["config"],
        "profile": row["profile"], "dataset": row["dataset"], "dataset_version": row["dataset_version"],
        "dataset_options": row["dataset_options"], "synth_net": row["synth_net"], "ipc": row["ipc"],
        "seed": row["seed"], "implementation": details.get("implementation") or implementation,
        "iterations": len(stamps), "seconds_per_iteration": per_iteration, "wall_s": row.get("wall_s"),
        "peak_mem_bytes": row.get("peak_mem_bytes"), "peak_mem_kind": row.get("peak_mem_kind"),
        "device": row["device"], "device_name": row["device_name"], "versions": row["versions"],
    }
