"""The SQLite connection: WAL, numbered migrations, and refusals that say what to do.

Every connection gets the same discipline (Datasette, sqlite-utils): WAL so that readers never
block the writer, ``synchronous=NORMAL`` (durable at checkpoints, never corrupt), a busy timeout
so that concurrent writers wait instead of failing, and ``BEGIN IMMEDIATE`` for every
read-then-write transaction (``write()``). A database on a network filesystem is refused: SQLite's
locking is unreliable there and WAL needs shared memory on one host (``store.filesystems`` says
which filesystems those are). A damaged file is one StoreError, whenever SQLite finds the damage.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rlops.errors import StoreError
from rlops.store.filesystems import filesystem_type, is_network_filesystem
from rlops.store.migrations import MIGRATIONS

BUSY_TIMEOUT_MS = 30_000
WAL_RESTART_BYTES = 8 << 20  # past this the WAL is restarted (bound_wal) ...
WAL_RESTART_WAIT_MS = 200  # ... waiting at most this long for the readers of the moment
SQLITE_CORRUPT, SQLITE_NOTADB = 11, 26  # primary result codes (an extended code's low byte)
_migrated: set[str] = set()
_migrate_lock = threading.Lock()


def connect(path: str | Path, readonly: bool = False) -> sqlite3.Connection:
    """Open the database (creating and migrating it unless ``readonly``)."""
    path = Path(path)
    if not readonly:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.is_file():
        raise _no_database(path)
    refuse_network_filesystem(path)
    try:
        uri = f"file:{path.resolve()}?mode=ro" if readonly else str(path)
        connection = sqlite3.connect(uri, uri=readonly, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                     check_same_thread=False, factory=StoreConnection)
        connection.path = path
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not readonly:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute(f"PRAGMA journal_size_limit = {WAL_RESTART_BYTES}")
        connection.execute("PRAGMA foreign_keys = ON")
        key = str(path.resolve())
        if not readonly and key not in _migrated:
            with _migrate_lock:
                migrate(connection)
                _migrated.add(key)
        elif readonly:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise corrupt_database(path, exc) from None
    return connection


class StoreConnection(sqlite3.Connection):
    """A connection whose every statement and fetch turns a damaged file into ``corrupt_database``'s
    StoreError: SQLite finds a bad page only when a query reaches it, long after ``connect`` (a
    command's first read, a route's tenth), so the translation lives here, once, rather than in
    each command and route. Other errors (a constraint, a typo in SQL) pass through unchanged."""

    path: Path

    def cursor(self, factory: type[sqlite3.Cursor] | None = None) -> sqlite3.Cursor:
        return super().cursor(factory or _StoreCursor)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        return self.cursor().executemany(sql, parameters)


class _StoreCursor(sqlite3.Cursor):
    # try/except inline rather than a context manager: __next__ runs once per row read.
    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        try:
            return super().execute(sql, parameters)
        except sqlite3.DatabaseError as exc:
            raise _translated(self.connection, exc) from None

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> sqlite3.Cursor:
        try:
            return super().executemany(sql, parameters)
        except sqlite3.DatabaseError as exc:
            raise _translated(self.connection, exc) from None

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.DatabaseError as exc:
            raise _translated(self.connection, exc) from None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        try:
            return super().fetchmany(self.arraysize if size is None else size)
        except sqlite3.DatabaseError as exc:
            raise _translated(self.connection, exc) from None

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.DatabaseError as exc:
            raise _translated(self.connection, exc) from None

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except sqlite3.DatabaseError as exc:
            raise _translated(self.connection, exc) from None


def _translated(connection: sqlite3.Connection, exc: sqlite3.DatabaseError) -> Exception:
    """The error to raise for ``exc``: StoreError for a damaged file, ``exc`` itself otherwise."""
    return corrupt_database(Path(getattr(connection, "path", "?")), exc) if is_corruption(exc) else exc


def is_corruption(exc: sqlite3.DatabaseError) -> bool:
    """A damaged file (SQLITE_CORRUPT, SQLITE_NOTADB), as opposed to a busy, full or misused one."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return True
    text = str(exc)
    return "malformed" in text or "not a database" in text


def integrity_problems(path: str | Path) -> list[str]:
    """What ``PRAGMA integrity_check`` finds wrong with the database at ``path``: [] when it is
    intact. A file too damaged for the check to finish is one problem, SQLite's own words. Read
    only, and never migrated: a check must not write to the file it examines."""
    path = Path(path)
    if not path.is_file():
        raise _no_database(path)
    try:
        connection = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            found = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        if not is_corruption(exc):
            raise corrupt_database(path, exc) from None
        return [str(exc)]
    return [] if found == ["ok"] else found


def _no_database(path: Path) -> StoreError:
    return StoreError(f"no database at {str(path)!r}", hint="train a run first, or set --store.db-path")


def corrupt_database(path: Path, exc: Exception) -> StoreError:
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return StoreError(f"the database {str(path)!r} stayed locked for {BUSY_TIMEOUT_MS // 1000} s: {exc}",
                          hint="another process holds a long write transaction; try again")
    return StoreError(f"the database {str(path)!r} is unusable: {exc}", hint=rebuild_hint(path))


def rebuild_hint(path: Path) -> str:
    return f"the runs can be rebuilt from their JSONL logs: move {path.name} aside, then run 'rlops runs reindex'"


def migrate(connection: sqlite3.Connection) -> int:
    """Apply the migrations this database lacks, each atomically; return the version reached."""
    while True:
        with write(connection):
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise StoreError(f"the database is at schema version {version}, newer than this rlops "
                                 f"({len(MIGRATIONS)})", hint="upgrade rlops, or point --store.db-path elsewhere")
            if version == len(MIGRATIONS):
                return version
            for statement in _statements(MIGRATIONS[version]):
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {version + 1}")


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT our transaction; split on statement ends instead.
    statements, current = [], []
    for line in script.splitlines():
        current.append(line.split("--")[0])
        if line.split("--")[0].rstrip().endswith(";"):
            statements.append("\n".join(current))
            current = []
    return [s for s in statements if s.strip().strip(";")]


@contextmanager
def write(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, begun IMMEDIATE so that a read-then-write never deadlocks on upgrade.

    sqlite's busy handler does not cover every case of BEGIN IMMEDIATE under contention (WAL
    recovery, schema changes); retry those briefly rather than surface 'database is locked'."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            connection.execute("BEGIN IMMEDIATE")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)
    try:
        yield connection
    except BaseException:
        if connection.in_transaction:  # SQLite may have rolled back itself (a corrupt page, a full disk)
            connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
    bound_wal(connection)


def bound_wal(connection: sqlite3.Connection) -> None:
    """Restart the WAL once it outgrows ``WAL_RESTART_BYTES``.

    SQLite's automatic checkpoint copies pages back but can only restart the WAL from its start
    when no reader holds an older snapshot; readers that always overlap (a dashboard, its streams,
    the daemon) starve it and the file grows with every write. A RESTART checkpoint waits for the
    readers of the moment to finish, so it is given a short busy timeout of its own: the writer
    never waits long, and a reader that holds on only postpones the restart to the next commit.
    ``journal_size_limit`` then truncates the file back."""
    path = getattr(connection, "path", None)
    if path is None:
        return
    try:
        size = os.stat(f"{path}-wal").st_size
    except OSError:
        return
    if size <= WAL_RESTART_BYTES:
        return
    connection.execute(f"PRAGMA busy_timeout = {WAL_RESTART_WAIT_MS}")
    try:
        connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
    except sqlite3.OperationalError:
        pass  # busy: the next commit tries again
    finally:
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


def refuse_network_filesystem(path: Path, mountinfo: str | None = None) -> None:
    fs_type = filesystem_type(path, mountinfo)
    if fs_type is not None and is_network_filesystem(fs_type):
        raise StoreError(f"the database {str(path)!r} is on a network filesystem ({fs_type})",
                         hint="SQLite's locking and WAL are unreliable there; keep the database on a local disk "
                              "(--store.db-path) and put checkpoints and artifacts on shared storage or S3")
