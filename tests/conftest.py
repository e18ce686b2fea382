"""Shared fixtures: every test gets its own results folder and data root, and a fresh registry."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from dcbench.registry import get_registry

# One thread per test process: the workloads are tiny (digits, MLPs), where OpenMP's barriers cost
# more than a second thread gains (DD's outer step: 223 ms with 2 threads on shared cores, 22 ms
# with 1). OMP_NUM_THREADS overrides.
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or 1))


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DCBENCH_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("DCBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("DCBENCH_REGISTRY", raising=False)
    get_registry.cache_clear()
    yield
    get_registry.cache_clear()


@pytest.fixture
def workspace(tmp_path: Path):
    from dcbench.cells import Workspace

    return Workspace(results=tmp_path / "results", data_root=tmp_path / "data", device=torch.device("cpu"))
