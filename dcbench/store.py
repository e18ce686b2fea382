"""The results store: one SQLite file per ``--results`` folder, written through sqlite-utils.

Every write is its own ``BEGIN IMMEDIATE`` transaction: a deferred transaction that reads first
cannot upgrade to a write lock under contention, which loses rows when several processes write.
A file written by another schema version is refused and left untouched: the version check
happens before anything (even WAL mode) is written. Its tables' columns are the fields of the
records (:mod:`dcbench.records`) that are their rows.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterator

import sqlite_utils

from dcbench.errors import StoreError
from dcbench.records import RECORDS, Condensation, Evaluation, Record, Run, columns, from_row, primary_key, to_row

SCHEMA_VERSION = 1
FILENAME = "results.sqlite"
BUSY_TIMEOUT_S = 60.0



class NoResults(StoreError):
    """The results folder holds no store yet (or one with nothing in it)."""


#: Every table and its columns, derived from the records (dcbench.records) that are its rows.
TABLES: dict[str, dict[str, type]] = {record.table: columns(record) for record in RECORDS}
_INDEXES = {
    "condensations": [["dataset", "ipc", "profile"]],
    "evaluations": [["dataset", "ipc", "profile"], ["condensation"]],
    "protocol_results": [["protocol", "dataset", "profile"]],
}


def check_folder(results: Path, *, write: bool = True) -> None:
    """A results folder that cannot hold a store (or, with ``write``, cannot be written), found
    before anything runs."""
    for parent in [results, *results.parents]:
        if parent.exists():
            if not parent.is_dir():
                where = "is a file" if parent == results else f"is under {parent}, which is a file"
                raise StoreError(f"--results {results} {where}: give a folder (it is created if missing)")
            if write and not os.access(parent, os.W_OK | os.X_OK):
                raise StoreError(f"--results {results}: cannot write in {parent}; give a folder you can write")
            break
    if not write:
        return
    for inside in (results / FILENAME, *(results / sub for sub in ("artifacts", "cache", "logs"))):
        if inside.exists() and not os.access(inside, os.R_OK | os.W_OK | (os.X_OK if inside.is_dir() else 0)):
            raise StoreError(f"--results {results}: {inside} is not writable; give a folder you can write")


def _connect_to_read(path: Path) -> sqlite3.Connection:
    """A connection that never writes the store. Where the folder and file are writable, an ordinary
    one that may not write (SQLite then keeps a live writer's -wal consistent, and its last close
    removes the -wal/-shm it made, leaving the file as it was); else a read-only one."""
    writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)
    if writable:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        conn.execute("PRAGMA query_only = ON")
        return conn
    return sqlite3.connect(_read_only_uri(path), uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)


def _read_only_uri(path: Path) -> str:
    # immutable: reading a WAL-mode file must not create -wal/-shm files (nor need a writable
    # folder); with a live -wal file another process is writing, so read normally.
    live = path.with_name(path.name + "-wal").exists()
    return f"file:{path}?mode=ro" + ("" if live else "&immutable=1")


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN IMMEDIATE ourselves for every write.
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    return conn


class Store:
    """The SQLite file of one results folder. Only :mod:`dcbench.recorder`, in the driver process,
    writes to it; anything may read it.

    ``write=False`` opens an existing store for reading only: nothing is written, not even WAL mode,
    so a shared, archived or read-only store can be read. ``empty()`` is a store of nothing (in
    memory), for reading a results folder that has none yet.
    """

    def __init__(self, results: Path, *, write: bool = True) -> None:
        self.path = results / FILENAME
        if write:
            check_folder(results)
        elif not self.path.is_file():
            raise NoResults(f"no results in {results} (no {FILENAME}); run `dcbench synth` or "
                            "`dcbench grid` first, or point --results at another folder")
        self._check_file()
        try:
            if write:
                results.mkdir(parents=True, exist_ok=True)
                self.conn = _connect(self.path)
                self._enable_wal()
            else:
                self.conn = _connect_to_read(self.path)
        except (sqlite3.OperationalError, OSError) as exc:
            raise StoreError(f"cannot open the results store {self.path} ({exc}); check that the folder and the "
                             "file are writable, or give another --results folder") from None
        self.db = sqlite_utils.Database(self.conn)
        if write:
            self._create_schema()
        elif not all(self.db.table(name).exists() for name in ("condensations", "evaluations")):
            self.conn.close()  # created but never written (a writer stopped at once): nothing in it
            raise NoResults(f"no results in {results} yet ({FILENAME} holds none); run `dcbench synth` or "
                            "`dcbench grid` first, or point --results at another folder")

    @classmethod
    def empty(cls) -> "Store":
        store = cls.__new__(cls)
        store.path = Path(":memory:")
        store.conn = _connect(store.path)
        store.db = sqlite_utils.Database(store.conn)
        store._create_schema()
        return store

    def _enable_wal(self) -> None:
        """Switching to WAL needs a moment with no other writer and does not wait for the busy
        timeout, so two processes creating one store at once retry here."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                self.conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _check_file(self) -> None:
        """Refuse a file that is not a store of this schema (another version, other columns), reading
        it without writing anything, not even -wal/-shm files beside it."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        try:
            probe = sqlite3.connect(_read_only_uri(self.path), uri=True, timeout=BUSY_TIMEOUT_S)
            try:
                version, tables = probe.execute(  # one query: a consistent snapshot of both
                    "SELECT (SELECT user_version FROM pragma_user_version),"
                    " (SELECT count(*) FROM sqlite_master WHERE type='table')").fetchone()
                found = {name: {row[1] for row in probe.execute(f"PRAGMA table_info({name})")}
                         for name in TABLES}
            finally:
                probe.close()
        except sqlite3.OperationalError as exc:  # it could not even be opened
            wal = self.path.with_name(self.path.name + "-wal")
            why = (f"; beside its -wal file (a writer is running, or one was stopped) SQLite must write "
                   f"{self.path.name}-shm, so its folder must be writable" if wal.exists() else "")
            raise StoreError(f"cannot read the results store {self.path} ({exc}){why}; check the permissions, "
                             "or give another --results folder") from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a SQLite database ({exc}); move it away or use "
                             "another --results folder") from None
        if version == 0 and not tables:
            return
        if version != SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written with results schema {version}, this dcbench uses "
                             f"schema {SCHEMA_VERSION}; it was left untouched: use another --results folder "
                             "or the dcbench version that wrote it")
        for name, present in found.items():
            # a missing table is created by the first writer (older stores lack later tables)
            if present and present != set(TABLES[name]):
                differ = sorted(set(TABLES[name]) ^ present)
                raise StoreError(f"{self.path} says results schema {version}, but its table '{name}' does not have "
                                 f"that schema's columns (differing: {', '.join(differ)}); it was left untouched: "
                                 "use another --results folder")

    def _create_schema(self) -> None:
        """Create what is missing, only then writing: opening a complete store leaves its bytes as they are."""
        if self._complete():
            return
        with self.write():  # checked again inside: another process may have created it meanwhile
            for name, columns in TABLES.items():
                table = self.db.table(name)
                if not table.exists():
                    table.create(columns, pk="key" if "key" in columns else "id")
                    for cols in _INDEXES.get(name, []):
                        table.create_index(cols, if_not_exists=True)
            if self.conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _complete(self) -> bool:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        return version == SCHEMA_VERSION and all(self.db.table(name).exists() for name in TABLES)

    def write(self) -> "_Immediate":
        return _Immediate(self.conn)

    def close(self) -> None:
        self.conn.close()

    # writes: called from dcbench.recorder only (a test holds every call site to that module) -----

    def start_run(self, run: Run) -> None:
        self._upsert(run)

    def finish_run(self, run_id: str, status: str) -> None:
        with self.write():
            self.db[Run.table].update(run_id, {"finished_at": time.time(), "status": status})

    def put(self, record: Record) -> None:
        """Insert or replace the record's row whole (a done row must not keep a failed one's error)."""
        self._upsert(record)

    def _upsert(self, record: Record) -> None:
        row = to_row(record)
        if not isinstance(record, Run) and row["finished_at"] is None:
            row["finished_at"] = time.time()
        with self.write():
            self.db[record.table].upsert(row, pk=primary_key(type(record)))

    # reads ---------------------------------------------------------------------------------

    def condensation(self, key: str) -> Condensation | None:
        rows = list(self.db[Condensation.table].rows_where("key = ?", [key]))
        return from_row(Condensation, rows[0]) if rows else None

    def evaluations(self, keys: list[str], record_cls: type = Evaluation) -> dict[str, Any]:
        """The stored evaluations (or protocol results, by ``record_cls``) among ``keys``, by key."""
        found: dict[str, Any] = {}
        if not self.db[record_cls.table].exists():
            return found
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.db[record_cls.table].rows_where(f"key IN ({marks})", chunk):
                found[row["key"]] = from_row(record_cls, row)
        return found

    def rows(self, table: str, where: str | None = None, args: list[Any] | None = None) -> Iterator[dict]:
        """The rows of ``table`` (none when a store older than the table lacks it)."""
        if self.db[table].exists():
            yield from self.db[table].rows_where(where, args or [])

    def query(self, sql: str, args: list[Any]) -> Iterator[dict]:
        """Rows of a read-only query (a join the leaderboard needs)."""
        if not sql.lstrip().upper().startswith(("SELECT", "WITH")):
            raise ValueError("Store.query reads; write through dcbench.recorder")
        yield from self.db.query(sql, args)


class _Immediate:
    """``with store.write():`` — one immediate transaction, committed or rolled back.

    sqlite-utils commits on its own after some calls; the commit here only runs if a transaction
    is still open.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb) -> None:
        if not self.conn.in_transaction:
            return
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
