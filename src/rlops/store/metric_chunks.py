"""Metric points, chunked: the points of one (run, key) are packed arrays in rows of up to
``CHUNK_POINTS``, so 100,000 points come back as ~50 rows and one ``np.frombuffer`` each.

Steps are int64 and values float64, little-endian. Appending rewrites the newest chunk of the key
until it is full, inside the caller's write transaction, so the newest row is always complete and
concurrent writers (another process ingesting the same run) never split a chunk.
"""

from __future__ import annotations

import sqlite3
import sys
from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported by the reader that needs it: listing runs should not pay for it
    import numpy as np

CHUNK_POINTS = 2048
_SWAP = sys.byteorder != "little"


def _pack(values: array) -> bytes:
    if _SWAP:
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def _unpack(typecode: str, blob: bytes) -> array:
    values = array(typecode)
    values.frombytes(blob)
    if _SWAP:
        values.byteswap()
    return values


def append_points(connection: sqlite3.Connection, run_id: str, key: str, steps: array, values: array) -> None:
    """Append points to a key's series (call inside a write transaction)."""
    if not steps:
        return
    row = connection.execute("SELECT chunk, steps, vals, min_value, max_value FROM metric_chunks "
                             "WHERE run_id = ? AND key = ? ORDER BY chunk DESC LIMIT 1", (run_id, key)).fetchone()
    # The open chunk's points, at the head of the first part, have their min and max in its row
    # already: only the new points are looked at (a chunk is rewritten a few times as it fills, and
    # min/max over Python floats cost more than the rest of the rewrite).
    known, known_min, known_max = 0, 0.0, 0.0
    if row is not None and len(row[1]) // 8 < CHUNK_POINTS:
        chunk = row[0]
        open_steps, open_values = _unpack("q", row[1]), _unpack("d", row[2])
        if row[3] is not None and row[4] is not None:  # (always written; a NULL would mean: look at all)
            known, known_min, known_max = len(open_values), row[3], row[4]
        open_steps.extend(steps)
        open_values.extend(values)
        steps, values = open_steps, open_values
    else:
        chunk = row[0] + 1 if row is not None else 0
    for start in range(0, len(steps), CHUNK_POINTS):
        part_steps, part_values = steps[start:start + CHUNK_POINTS], values[start:start + CHUNK_POINTS]
        fresh = part_values[known:] if start == 0 else part_values
        low, high = min(fresh), max(fresh)
        if start == 0 and known:
            low, high = min(known_min, low), max(known_max, high)
        connection.execute(
            "INSERT OR REPLACE INTO metric_chunks (run_id, key, chunk, first_step, last_step, n, min_value, max_value, "
            "steps, vals) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, key, chunk, part_steps[0], part_steps[-1], len(part_steps), low, high,
             _pack(part_steps), _pack(part_values)))
        chunk += 1


@dataclass
class Series:
    key: str
    steps: np.ndarray  # int64 env steps
    values: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.steps)


def read_series(connection: sqlite3.Connection, run_id: str, key: str) -> Series:
    import numpy as np

    rows = connection.execute("SELECT steps, vals FROM metric_chunks WHERE run_id = ? AND key = ? ORDER BY chunk",
                              (run_id, key)).fetchall()
    if not rows:
        return Series(key, np.empty(0, np.int64), np.empty(0, np.float64))
    steps = np.frombuffer(b"".join(r[0] for r in rows), dtype="<i8")
    values = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f8")
    return Series(key, steps, values)


def series_keys(connection: sqlite3.Connection, run_id: str) -> list[str]:
    # A skip scan: one primary-key seek per key. DISTINCT would walk every chunk row, and the
    # rows hold the packed points (25 ms for a run of a few million points, against 0.1 ms).
    rows = connection.execute(
        "WITH RECURSIVE keys(key) AS ("
        " SELECT min(key) FROM metric_chunks WHERE run_id = ?1"
        " UNION ALL SELECT (SELECT min(key) FROM metric_chunks WHERE run_id = ?1 AND key > keys.key)"
        " FROM keys WHERE keys.key IS NOT NULL)"
        " SELECT key FROM keys WHERE key IS NOT NULL", (run_id,))
    return [r[0] for r in rows]
