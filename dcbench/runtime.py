"""Where a cell runs and what it cost: device choice, seeds, versions, peak memory, hashing."""

from __future__ import annotations

import hashlib
import json
import platform
import resource
import sys
from typing import Any

import torch

from dcbench.errors import UserError
from dcbench.version import __version__


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name}: not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name}: no CUDA device is visible here; use --device cpu")
    return device


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so that a clock read next measures it (CUDA runs async)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def digest(value: Any, length: int = 24) -> str:
    """Hash of the canonical JSON of ``value``: the key of a cell or a cache entry."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:length]


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed that depends on every part (e.g. base seed, artifact, network, eval index)."""
    return int(hashlib.sha256(canonical_json(parts).encode()).hexdigest()[:15], 16)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def versions() -> dict[str, str]:
    return {"dcbench": __version__, "torch": torch.__version__,
            "python": platform.python_version()}


class PeakMemory:
    """Peak memory of the block: CUDA allocator peak on GPUs, else the process's peak RSS.

    RSS peaks never go down within a process, so on CPU the figure is the process's high-water
    mark at the end of the block (documented with every result as ``peak_mem_kind``).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.bytes = 0
        self.kind = "cuda_max_allocated" if device.type == "cuda" else "process_max_rss"

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            self.bytes = int(torch.cuda.max_memory_allocated(self.device))
        else:
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            self.bytes = int(rss if sys.platform == "darwin" else rss * 1024)
