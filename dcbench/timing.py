"""Timing a condenser without evaluating it: seconds per outer iteration, total, peak memory, device.

For iterative condensers (a spec that declares its ``iteration_field``) the condenser's own
``report(step, …)`` calls, one per outer iteration, are the clock: the time between consecutive
reports is one iteration, and the first is left out as warm-up (allocator, caches, lazy
initialisation).
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

from dcbench.cells import BoundSynth, SynthCell, Workspace, run_synth
from dcbench.records import Benchmark
from dcbench.runtime import synchronize


def iterative(bound: BoundSynth) -> bool:
    return bound.condenser.spec.iteration_field is not None


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


def time_cell(ws: Workspace, cell: SynthCell, *, variant: Mapping[str, Any] | None = None,
              report=None) -> Benchmark:
    """Run ``cell`` with the Config values of ``variant`` forced and time it."""
    bound = with_variant(cell, variant).bind()
    stamps: list[float] = []

    def clock(step: int, **metrics: Any) -> None:
        synchronize(ws.device)
        stamps.append(time.perf_counter())
        if report is not None:
            report(step, **metrics)

    with tempfile.TemporaryDirectory(prefix="dcbench-bench-") as scratch:
        made = run_synth(dataclasses.replace(ws, results=Path(scratch)), bound, report=clock)
    deltas = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    per_iteration = statistics.median(deltas) if deltas and iterative(bound) else None
    return Benchmark(
        key=uuid.uuid4().hex[:24], status=made.status, error=made.error, condenser=made.condenser,
        condenser_version=made.condenser_version, config=made.config, profile=made.profile, dataset=made.dataset,
        dataset_version=made.dataset_version, dataset_options=made.dataset_options, synth_net=made.synth_net,
        ipc=made.ipc, seed=made.seed,
        implementation=(made.details or {}).get("implementation") or (variant or {}).get("implementation"),
        iterations=len(stamps) if per_iteration is not None else None, seconds_per_iteration=per_iteration,
        wall_s=made.wall_s, peak_mem_bytes=made.peak_mem_bytes, peak_mem_kind=made.peak_mem_kind,
        device=made.device, device_name=made.device_name, versions=made.versions,
        variant=variant_label(variant or {}), finished_at=made.finished_at)
