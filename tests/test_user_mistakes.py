"""User mistakes around results folders, stores, list options and hyperparameter types.

Each test makes one mistake against the CLI (in this process, through ``dcbench.cli.main``, where a
UserError becomes exit 2) and checks what a careful user expects: exit code 2, one ``error:`` line,
no traceback, and the results folder byte for byte as it was (every file's checksum, and no file
added). The store that the mistakes are made against is a finished one, made once per module.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
import yaml
from helpers import one_error_line, run_main

from dcbench import Bench

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, str]:
    """A results folder with a random set of digits evaluated by one mlp, and the set's id."""
    results = tmp_path_factory.mktemp("finished") / "results"
    bench = Bench(results, results.parent / "data", device="cpu")
    made = bench.synthesize("random", ipc=2)
    bench.evaluate(made.artifact, cls="mlp", evals=1)
    return results, made.artifact


@pytest.fixture
def store(finished, tmp_path) -> tuple[Path, str]:
    """A copy of the finished store, for one test to make its mistake against."""
    results = tmp_path / "results"
    shutil.copytree(finished[0], results)
    return results, finished[1]


def fingerprint(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def user_error(code: int, out: str, err: str, *phrases: str) -> str:
    assert "Traceback" not in out
    return one_error_line(code, err, *phrases)


@contextlib.contextmanager
def unwritable(path: Path):
    """``path`` (a file, or a folder and all it holds) made unwritable: by permissions, or as root, where
    permissions do not bind, by the immutable attribute; skipped, saying why, where neither is possible."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [path, *path.rglob("*")]}
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    tried = subprocess.run(["chattr", "-R", "+i", str(path)], capture_output=True, text=True)
    if tried.returncode != 0:
        pytest.skip(f"running as root, where permissions do not bind, and chattr +i failed: {tried.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-R", "-i", str(path)], check=True)


# ---------------------------------------------------------------------------------------------
# The results folder


@pytest.mark.parametrize("command", [["synth", "-c", "random"], ["grid", "-c", "random", "--cls", "mlp",
                                                                   "--runner", "local"]])
def test_results_that_name_a_file(tmp_path, monkeypatch, capsys, command):
    path = tmp_path / "results.txt"
    path.write_text("notes")
    user_error(*run_main(monkeypatch, capsys, *command, "--results", str(path)), str(path), "is a file")
    assert path.read_text() == "notes"


def test_results_under_a_file(tmp_path, monkeypatch, capsys):
    path = tmp_path / "results.txt"
    path.write_text("notes")
    user_error(*run_main(monkeypatch, capsys, "synth", "-c", "random", "--results", str(path / "sub")),
               f"is under {path}, which is a file")
    assert path.read_text() == "notes"


def test_results_that_cannot_be_written(store, tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    with unwritable(empty):
        user_error(*run_main(monkeypatch, capsys, "synth", "-c", "random", "--results", str(empty)), "cannot write")
    assert list(empty.iterdir()) == []
    results, _ = store
    before = fingerprint(results)
    with unwritable(results):
        user_error(*run_main(monkeypatch, capsys, "grid", "-c", "random", "--cls", "mlp", "--ipc", "3", "--runner",
                             "local", "--results", str(results)), "--results", "write")
    assert fingerprint(results) == before


# ---------------------------------------------------------------------------------------------
# Options


@pytest.mark.parametrize("setting, phrase", [("iterations=1.5", "iterations=1.5 is float, expected int"),
                                             ("lr_net=abc", "lr_net='abc' is str, expected float")])
@pytest.mark.parametrize("command", [
    ["synth", "-c", "gm", "--synth", "mlp"],
    ["grid", "-c", "gm,random", "--synth", "mlp", "--cls", "mlp", "--runner", "local"],
])
def test_hyperparameters_of_the_wrong_type(store, monkeypatch, capsys, command, setting, phrase):
    results, _ = store
    before = fingerprint(results)
    user_error(*run_main(monkeypatch, capsys, *command, "--set", setting, "--results", str(results)),
               "gradient_matching", phrase)
    assert fingerprint(results) == before


def test_an_empty_element_of_a_list_option(store, monkeypatch, capsys):
    results, _ = store
    before = fingerprint(results)
    user_error(*run_main(monkeypatch, capsys, "grid", "-c", "random", "--cls", "mlp", "--ipc", "1,,2", "--runner",
                         "local", "--results", str(results)), "--ipc", "1,,2")
    user_error(*run_main(monkeypatch, capsys, "grid", "-c", "random", "--cls", "mlp,", "--runner", "local",
                         "--results", str(results)), "'mlp,'", "empty element")
    assert fingerprint(results) == before


@pytest.mark.parametrize("evals", ["0", "-1"])
def test_evals_below_one(store, monkeypatch, capsys, evals):
    results, artifact = store
    before = fingerprint(results)
    user_error(*run_main(monkeypatch, capsys, "eval", artifact, "--cls", "mlp", "--evals", evals, "--results",
                         str(results)), "--evals must be at least 1", evals)
    assert fingerprint(results) == before


def test_a_network_whose_plugin_is_missing_leaves_no_run_behind(store, tmp_path, monkeypatch, capsys):
    results, artifact = store
    config = yaml.safe_load((REPO / "registry.yaml").read_text())
    config["architectures"]["mlp"] = "no_such_module:mlp"
    registry = tmp_path / "registry.yaml"
    registry.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("DCBENCH_REGISTRY", str(registry))
    before = fingerprint(results)
    user_error(*run_main(monkeypatch, capsys, "eval", artifact, "--cls", "mlp", "--evals", "2", "--results",
                         str(results)), "'mlp'", "failed to load")
    assert fingerprint(results) == before  # no run row at all, let alone one left 'running'


@pytest.mark.parametrize("args, phrase", [
    (["synth", "-c", "random", "--ipc", "0"], "--ipc must be at least 1"),
    (["synth", "-c", "random", "--ipc", "1000"], "--ipc 1000"),
    (["synth", "-c", "random", "--cls", "mlp", "--evals", "0"], "--evals must be at least 1"),
    (["synth", "-c", "random", "--device", "bogus"], "--device bogus"),
    (["eval", "--whole", "--dataset", "mnist", "--cls", "mlp"], "mnist"),
    (["grid", "-c", "random", "--cls", "mlp", "--cpus-per-cell", "0"], "--cpus-per-cell"),
])
def test_mistakes_found_late_still_leave_the_store_as_it_was(store, tmp_path, monkeypatch, capsys, args, phrase):
    """Found after the store was looked at, before it was opened to write (opening a complete store
    for writing leaves its bytes as they are, too)."""
    results, _ = store
    before = fingerprint(results)
    user_error(*run_main(monkeypatch, capsys, *args, "--data-root", str(tmp_path / "no-data"), "--results",
                         str(results)), phrase)
    assert fingerprint(results) == before


def test_a_call_whose_results_are_stored_only_reads(store, monkeypatch, capsys):
    results, artifact = store
    before = fingerprint(results)
    with unwritable(results):
        code, out, err = run_main(monkeypatch, capsys, "synth", "-c", "random", "--ipc", "2", "--cls", "mlp",
                                  "--evals", "1", "--results", str(results))
        assert code == 0, err
        assert artifact in out and "already computed" in err
    assert fingerprint(results) == before


def test_a_store_created_but_never_written_has_no_results(tmp_path, monkeypatch, capsys):
    results = tmp_path / "results"
    results.mkdir()
    (results / "results.sqlite").write_bytes(b"")
    user_error(*run_main(monkeypatch, capsys, "leaderboard", "--results", str(results)), "no results")


def test_scientific_notation_is_a_number():
    from dcbench.cli.options import parse_sets

    assert parse_sets(["lr_net=1e-3", "init=real", "steps=null"]) == {"lr_net": 0.001, "init": "real", "steps": None}


def test_a_mistake_only_a_plugin_finds_while_running(store, monkeypatch, capsys):
    """Herding's network is one of its hyperparameters, so only herding can refuse it: still the user's
    mistake (exit 2), not a failed result; its run is finished as failed, never left running."""
    results, _ = store
    before = {t: _rows(results, t) for t in ("condensations", "evaluations")}
    user_error(*run_main(monkeypatch, capsys, "synth", "-c", "herding", "--set", "net=lenet", "--results",
                         str(results)), "lenet cannot be trained on digits")
    assert {t: _rows(results, t) for t in before} == before
    assert [run["status"] for run in _rows(results, "runs") if run["command"] == "synth"][-1] == "failed"
    assert "running" not in {run["status"] for run in _rows(results, "runs")}


def _rows(results: Path, table: str) -> list[dict]:
    with contextlib.closing(sqlite3.connect(results / "results.sqlite")) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute(f"SELECT * FROM {table} ORDER BY rowid")]


# ---------------------------------------------------------------------------------------------
# Stores


def test_a_read_only_store_can_be_read(store, monkeypatch, capsys):
    results, artifact = store
    before = fingerprint(results)
    with unwritable(results):
        code, out, err = run_main(monkeypatch, capsys, "leaderboard", "--results", str(results))
        assert code == 0, err
        assert "random" in out and "(1)" in out
        code, out, err = run_main(monkeypatch, capsys, "grid", "-c", "random", "--cls", "mlp", "--ipc", "2",
                                  "--evals", "1", "--dry-run", "--results", str(results))
        assert code == 0, err
        assert "0 cells to compute" in " ".join(err.split())
    assert fingerprint(results) == before  # nothing written, not even -wal or -shm files


def test_a_store_missing_a_column_of_its_schema(store, monkeypatch, capsys):
    results, _ = store
    with contextlib.closing(sqlite3.connect(results / "results.sqlite")) as db:
        db.execute("ALTER TABLE evaluations DROP COLUMN artifact")
        db.commit()
    before = fingerprint(results)
    for command in (["leaderboard"], ["synth", "-c", "random", "--ipc", "3"]):
        user_error(*run_main(monkeypatch, capsys, *command, "--results", str(results)), "table 'evaluations'",
                   "artifact", "left untouched")
    assert fingerprint(results) == before


def test_version_names_dcbench_torch_and_the_plugin_distributions(monkeypatch, capsys):
    import torch

    code, out, err = run_main(monkeypatch, capsys, "--version")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "dcbench 0.1.0" and f"torch {torch.__version__}" in lines
    assert "dcbench-toy-plugin 0.1.0" in lines  # tests/toy_plugin, a third-party distribution
