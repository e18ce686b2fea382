"""The results store: schema, upserts, refusal of foreign files, several writers, rows from real cells."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import torch

from dcbench.errors import StoreError, UserError
from dcbench.records import Condensation, Evaluation, Run
from dcbench.runtime import canonical_json
from dcbench.store import FILENAME, SCHEMA_VERSION, TABLES, Store


@pytest.fixture
def store(tmp_path: Path):
    opened = Store(tmp_path)
    yield opened
    opened.close()


def _fingerprint(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


def _evaluations(store: Store) -> list[dict]:
    return list(store.rows("evaluations"))


def _run(run_id: str, argv: list[str], versions: dict) -> Run:
    return Run(id=run_id, started_at=time.time(), command="grid", argv=argv, host="here", device="cpu",
               versions=versions, status="running")


# ---------------------------------------------------------------------------------------------
# A new store


def test_new_store_creates_tables_version_and_wal(tmp_path: Path) -> None:
    folder = tmp_path / "results"  # does not exist yet: the store makes it
    store = Store(folder)
    store.close()
    path = folder / FILENAME
    assert path.is_file()
    conn = sqlite3.connect(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"runs", "condensations", "evaluations"} <= tables
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        for table, columns in TABLES.items():
            found = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
            assert found == set(columns), table
    finally:
        conn.close()


def test_reopening_own_store_keeps_rows(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.put(Evaluation(**{"key": "k1", "status": "done", "accuracy": 0.5}))
    store.close()
    again = Store(tmp_path, write=False)
    try:
        assert [r["key"] for r in _evaluations(again)] == ["k1"]
    finally:
        again.close()


# ---------------------------------------------------------------------------------------------
# Upserts


def test_same_key_twice_leaves_one_row_with_latest_values(store: Store) -> None:
    store.put(Evaluation(**{"key": "k", "status": "done", "accuracy": 0.25, "wall_s": 1.0}))
    store.put(Evaluation(**{"key": "k", "status": "done", "accuracy": 0.75, "wall_s": 2.0}))
    rows = _evaluations(store)
    assert len(rows) == 1
    assert rows[0]["accuracy"] == 0.75 and rows[0]["wall_s"] == 2.0


def test_failed_row_is_replaced_by_done_row(store: Store) -> None:
    store.put(Condensation(**{"key": "c", "status": "failed", "error": "RuntimeError: boom", "wall_s": 1.0}))
    assert store.condensation("c").status == "failed"
    store.put(Condensation(**{"key": "c", "status": "done", "artifact": "ab" * 32, "wall_s": 3.0}))
    rows = list(store.rows("condensations"))
    assert len(rows) == 1
    assert rows[0]["status"] == "done" and rows[0]["artifact"] == "ab" * 32 and rows[0]["wall_s"] == 3.0


def test_replacing_row_clears_columns_of_previous_attempt(store: Store) -> None:
    store.put(Evaluation(**{"key": "k", "status": "failed", "error": "RuntimeError: boom", "wall_s": 1.0}))
    store.put(Evaluation(**{"key": "k", "status": "done", "accuracy": 0.9, "wall_s": 2.0}))
    (row,) = _evaluations(store)
    assert row["status"] == "done"
    assert row["error"] is None


def test_evaluations_read_back_the_latest_record_of_each_key(store: Store) -> None:
    store.put(Evaluation(**{"key": "a", "status": "failed", "error": "x"}))
    store.put(Evaluation(**{"key": "b", "status": "done"}))
    store.put(Evaluation(**{"key": "a", "status": "done"}))
    found = store.evaluations(["a", "b", "missing"])
    assert {key: record.status for key, record in found.items()} == {"a": "done", "b": "done"}
    assert found["a"].error is None


def test_records_read_back_equal_to_what_was_written(store: Store) -> None:
    written = Condensation(key="c", status="done", config={"lr": 0.1, "net": "mlp"}, third_party=True, ipc=2,
                           dataset_options={"size": 16}, versions={"dcbench": "0.1"}, wall_s=1.5, finished_at=3.0)
    store.put(written)
    assert store.condensation("c") == written
    assert store.condensation("missing") is None


def test_a_record_has_no_column_its_table_lacks(store: Store) -> None:
    """Columns are the records' fields: a misspelt or foreign field cannot reach the store."""
    with pytest.raises(TypeError, match="no_such_column"):
        Evaluation(key="k", status="done", no_such_column=1)
    with pytest.raises(TypeError, match="accuracy"):
        Condensation(key="k", status="done", accuracy=0.5)
    for table, columns in TABLES.items():
        found = {r[1] for r in store.conn.execute(f"PRAGMA table_info({table})")}
        assert found == set(columns), table


def test_dict_values_are_stored_as_canonical_json(store: Store) -> None:
    versions = {"torch": "2.0", "dcbench": "0.1", "python": "3.11"}
    recipe = {"lr": 0.01, "epochs": 300, "augment": {"flip": True, "crop": 4}}
    store.put(Evaluation(**{"key": "a", "status": "done", "versions": versions, "recipe": recipe}))
    reordered = {k: versions[k] for k in reversed(list(versions))}
    store.put(Evaluation(**{"key": "b", "status": "done", "versions": reordered, "recipe": recipe}))
    rows = {r["key"]: r for r in _evaluations(store)}
    for row in rows.values():
        assert isinstance(row["versions"], str) and isinstance(row["recipe"], str)
        assert json.loads(row["versions"]) == versions
        assert json.loads(row["recipe"]) == recipe
        # sorted keys; either JSON spacing is canonical enough (runtime.canonical_json is the compact one)
        assert row["versions"] in (json.dumps(versions, sort_keys=True), canonical_json(versions))
        assert list(json.loads(row["recipe"])) == sorted(recipe)
    # the same mapping gives the same text, whatever its insertion order
    assert rows["a"]["versions"] == rows["b"]["versions"]


def test_runs_are_started_and_finished(store: Store) -> None:
    run_id = "r1"
    store.start_run(_run(run_id, ["grid", "-c", "random"], {"dcbench": "0.1", "torch": "2.0"}))
    (run,) = store.rows("runs")
    assert run["id"] == run_id and run["status"] == "running" and run["started_at"] > 0
    assert json.loads(run["argv"]) == ["grid", "-c", "random"]
    assert json.loads(run["versions"]) == {"dcbench": "0.1", "torch": "2.0"}
    store.finish_run(run_id, "done")
    (run,) = store.rows("runs")
    assert run["status"] == "done" and run["finished_at"] >= run["started_at"]


def test_started_run_has_no_finish_time(store: Store) -> None:
    store.start_run(_run("r1", [], {}))
    (run,) = store.rows("runs")
    assert run["finished_at"] is None


# ---------------------------------------------------------------------------------------------
# Files the store must refuse, and leave untouched


def _make_foreign_db(path: Path, *, user_version: int, wal: bool = False) -> None:
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE other (x INTEGER)")
    conn.execute("INSERT INTO other VALUES (1)")
    conn.execute(f"PRAGMA user_version = {user_version}")
    conn.commit()
    conn.close()


def _assert_refused_untouched(folder: Path, *match: str) -> StoreError:
    path = folder / FILENAME
    before, siblings = _fingerprint(path), _siblings(path)
    time.sleep(0.01)  # a write now would show in the mtime
    with pytest.raises(StoreError) as info:
        Store(folder)
    assert isinstance(info.value, UserError)
    for text in match:
        assert text in str(info.value)
    assert _fingerprint(path) == before
    assert _siblings(path) == siblings  # no -wal or -shm was created
    return info.value


def test_other_schema_version_is_refused_and_left_untouched(tmp_path: Path) -> None:
    _make_foreign_db(tmp_path / FILENAME, user_version=99)
    error = _assert_refused_untouched(tmp_path, str(tmp_path / FILENAME))
    message = str(error)
    assert "99" in message and str(SCHEMA_VERSION) in message
    assert "schema 99" in message and f"schema {SCHEMA_VERSION}" in message


def test_other_schema_version_in_wal_mode_leaves_no_wal_files(tmp_path: Path) -> None:
    _make_foreign_db(tmp_path / FILENAME, user_version=99, wal=True)
    _assert_refused_untouched(tmp_path, "schema 99")


def test_random_bytes_are_refused_and_left_untouched(tmp_path: Path) -> None:
    (tmp_path / FILENAME).write_bytes(os.urandom(4096))
    _assert_refused_untouched(tmp_path, str(tmp_path / FILENAME), "not a SQLite database")


def test_foreign_sqlite_with_version_zero_is_refused(tmp_path: Path) -> None:
    _make_foreign_db(tmp_path / FILENAME, user_version=0)
    _assert_refused_untouched(tmp_path, str(tmp_path / FILENAME))


def test_no_store_without_create_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no results in"):
        Store(tmp_path, write=False)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(StoreError):
        Store(tmp_path / "missing", write=False)
    assert not (tmp_path / "missing").exists()


def test_empty_file_becomes_a_store(tmp_path: Path) -> None:
    (tmp_path / FILENAME).write_bytes(b"")
    store = Store(tmp_path)
    try:
        store.put(Evaluation(**{"key": "k", "status": "done"}))
        assert len(_evaluations(store)) == 1
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------
# Several processes writing one file


# The writers import dcbench.store without running dcbench/__init__.py (which imports torch, ~4 s
# per process on 2 cores): the store itself needs only sqlite-utils and dcbench.errors.
_WRITER = textwrap.dedent("""
    import importlib.util, sys, time, types
    from pathlib import Path

    package = types.ModuleType("dcbench")
    package.__path__ = list(importlib.util.find_spec("dcbench").submodule_search_locations)
    sys.modules["dcbench"] = package
    from dcbench.records import Evaluation, Run
    from dcbench.store import Store
    assert "torch" not in sys.modules

    folder, ready, barrier = (Path(arg) for arg in sys.argv[1:4])
    name, count = sys.argv[4], int(sys.argv[5])
    ready.touch()
    deadline = time.monotonic() + 60
    while not barrier.exists():
        if time.monotonic() > deadline:
            sys.exit("barrier never appeared")
        time.sleep(0.001)
    store = Store(folder)  # all writers open (and may create) the file at the same moment
    for i in range(count):
        store.put(Evaluation(key=f"{name}-{i}", status="done", accuracy=i / count, versions={"dcbench": "test"},
                             eval_index=i))
        if i % 50 == 0:
            store.start_run(Run(id=f"{name}-{i}", started_at=time.time(), command="grid", argv=[name, str(i)],
                                host="here", device="cpu", versions={"dcbench": "test"}, status="running"))
    store.close()
""")


def test_concurrent_writers_lose_no_rows(tmp_path: Path) -> None:
    # The store exists before the writers start: opening a *new* file from several processes at once
    # is a separate race, covered (deterministically) by the two tests below.
    folder, writers, count = tmp_path / "results", ["w0", "w1", "w2"], 150
    Store(folder).close()
    barrier = tmp_path / "go"
    procs = []
    try:
        for name in writers:
            ready = tmp_path / f"ready-{name}"
            procs.append(subprocess.Popen(
                [sys.executable, "-c", _WRITER, str(folder), str(ready), str(barrier), name, str(count)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"ready-{name}").exists() for name in writers):
            assert time.monotonic() < deadline, "writers did not start"
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.01)
        barrier.touch()
        outputs = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
        assert "locked" not in err, err
    store = Store(folder, write=False)
    try:
        keys = [r["key"] for r in _evaluations(store)]
        runs = list(store.rows("runs"))
    finally:
        store.close()
    assert len(keys) == len(writers) * count
    assert set(keys) == {f"{name}-{i}" for name in writers for i in range(count)}
    assert len(runs) == len(writers) * len(range(0, count, 50))


def test_opening_waits_for_another_process_creating_the_store(tmp_path: Path) -> None:
    # what a second `dcbench` started at the same moment sees: the first one has created the file
    # and holds its write lock (BEGIN IMMEDIATE) for a moment
    other = sqlite3.connect(tmp_path / FILENAME, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    release.start()
    try:
        store = Store(tmp_path)
        store.put(Evaluation(**{"key": "k", "status": "done"}))
        assert [r["key"] for r in _evaluations(store)] == ["k"]
        store.close()
    finally:
        release.join()
        other.close()


class _Rows:
    def __init__(self, rows: list[tuple]) -> None:
        self.rows = rows

    def fetchone(self):
        return self.rows[0] if self.rows else None

    def fetchall(self):
        return list(self.rows)

    def __iter__(self):
        return iter(self.rows)


def test_schema_committed_during_the_version_check_is_accepted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the file as another process leaves it right after `PRAGMA journal_mode = WAL`: empty, version 0
    conn = sqlite3.connect(tmp_path / FILENAME)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    real_connect, raced = sqlite3.connect, []

    class RacedProbe:
        """The read-only probe; after its first statement the other process commits the schema."""

        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn

        def execute(self, *args):
            cursor = self.conn.execute(*args)
            if raced:
                return cursor
            rows = cursor.fetchall()
            raced.append(True)
            Store(tmp_path).close()  # the other process, between the probe's statements
            return _Rows(rows)

        def __getattr__(self, name: str):
            return getattr(self.conn, name)

    def connect(database, *args, **kwargs):
        conn = real_connect(database, *args, **kwargs)
        return RacedProbe(conn) if "mode=ro" in str(database) and not raced else conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    store = Store(tmp_path)
    try:
        assert raced, "the version check did not probe the file"
        store.put(Evaluation(**{"key": "k", "status": "done"}))
        assert len(_evaluations(store)) == 1
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------
# Rows made by a real cell


def test_synth_row_carries_versions_device_and_memory(tmp_path: Path) -> None:
    from dcbench.artifacts import resolve
    from dcbench.cells import SynthCell, Workspace, run_synth

    ws = Workspace(results=tmp_path, data_root=tmp_path / "data", device=torch.device("cpu"))
    resolved = SynthCell(condenser="random", dataset="digits", ipc=2, seed=0, profile="smoke").bind()
    record = run_synth(ws, resolved)
    store = Store(tmp_path)
    try:
        run_id = "r1"
        store.start_run(_run(run_id, ["synth"], {"dcbench": "test"}))
        store.put(dataclasses.replace(record, run_id=run_id))
        stored = next(store.rows("condensations", "key = ?", [resolved.key]), None)
    finally:
        store.close()
    assert stored is not None
    assert stored["key"] == resolved.key and stored["run_id"] == run_id
    assert stored["status"] == "done" and stored["error"] is None
    assert len(stored["artifact"]) == 64 and all(c in "0123456789abcdef" for c in stored["artifact"])
    assert resolve(stored["artifact"], tmp_path).is_file()
    versions = json.loads(stored["versions"])
    assert versions["dcbench"] and versions["torch"] == torch.__version__
    assert stored["device"] == "cpu" and stored["device_name"].startswith("cpu")
    assert stored["peak_mem_bytes"] > 0 and stored["peak_mem_kind"] == "process_max_rss"
    assert stored["wall_s"] >= 0
    assert isinstance(json.loads(stored["config"]), dict)
    assert stored["profile"] == "smoke"
    assert (stored["condenser"], stored["dataset"], stored["ipc"], stored["seed"]) == ("random", "digits", 2, 0)
    assert stored["finished_at"] > 0
