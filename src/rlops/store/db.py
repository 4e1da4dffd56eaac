"""The SQLite connection: WAL, numbered migrations, and refusals that say what to do.

Every connection gets the same discipline (Datasette, sqlite-utils): WAL so that readers never
block the writer, ``synchronous=NORMAL`` (durable at checkpoints, never corrupt), a busy timeout
so that concurrent writers wait instead of failing, and ``BEGIN IMMEDIATE`` for every
read-then-write transaction (``write()``). A database on a network filesystem is refused: SQLite's
locking is unreliable there and WAL needs shared memory on one host.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rlops.errors import StoreError
from rlops.store.migrations import MIGRATIONS

BUSY_TIMEOUT_MS = 30_000
NETWORK_FILESYSTEMS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "sshfs", "fuse.sshfs", "9p", "afs", "ceph",
                       "glusterfs", "fuse.glusterfs", "lustre", "gpfs", "fuse.s3fs", "fuse.gcsfuse", "davfs"}
_migrated: set[str] = set()
_migrate_lock = threading.Lock()


def connect(path: str | Path, readonly: bool = False) -> sqlite3.Connection:
    """Open the database (creating and migrating it unless ``readonly``)."""
    path = Path(path)
    if not readonly:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.is_file():
        raise StoreError(f"no database at {str(path)!r}", hint="train a run first, or set --registry.db-path")
    refuse_network_filesystem(path)
    try:
        uri = f"file:{path.resolve()}?mode=ro" if readonly else str(path)
        connection = sqlite3.connect(uri, uri=readonly, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                     check_same_thread=False)
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not readonly:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
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


def corrupt_database(path: Path, exc: Exception) -> StoreError:
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return StoreError(f"the database {str(path)!r} stayed locked for {BUSY_TIMEOUT_MS // 1000} s: {exc}",
                          hint="another process holds a long write transaction; try again")
    return StoreError(f"the database {str(path)!r} is unusable: {exc}",
                      hint=f"the runs can be rebuilt from their JSONL logs: move {path.name} aside, then run "
                           "'rlops runs reindex'")


def migrate(connection: sqlite3.Connection) -> int:
    """Apply the migrations this database lacks, each atomically; return the version reached."""
    while True:
        with write(connection):
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise StoreError(f"the database is at schema version {version}, newer than this rlops "
                                 f"({len(MIGRATIONS)})", hint="upgrade rlops, or point --registry.db-path elsewhere")
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
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def refuse_network_filesystem(path: Path, mountinfo: str | None = None) -> None:
    fs_type = filesystem_type(path, mountinfo)
    if fs_type in NETWORK_FILESYSTEMS:
        raise StoreError(f"the database {str(path)!r} is on a network filesystem ({fs_type})",
                         hint="SQLite's locking and WAL are unreliable there; keep the database on a local disk "
                              "(--registry.db-path) and put checkpoints and artifacts on shared storage or S3")


def filesystem_type(path: Path, mountinfo: str | None = None) -> str | None:
    """The type of the filesystem holding ``path``, from /proc/self/mountinfo (None off Linux)."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text()
        except OSError:
            return None
    # The nearest existing ancestor, with its symlinks resolved, plus the part still to be created.
    existing, missing = Path(os.path.abspath(path)), []
    while not existing.exists() and existing != existing.parent:
        missing.insert(0, existing.name)
        existing = existing.parent
    target = os.path.join(os.path.realpath(existing), *missing)
    best, best_type = "", None
    for line in mountinfo.splitlines():
        fields = line.split()
        if "-" not in fields or len(fields) < 5:
            continue
        mount_point = fields[4].replace("\\040", " ")
        fs_type = fields[fields.index("-") + 1]
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, best_type = mount_point, fs_type
    return best_type
