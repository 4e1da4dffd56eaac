"""Each metric chunk's row keeps the min and max of the points it holds, however the points came
(issue 13, item 1: an append looks only at its new points and the open chunk's stored bounds)."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from rlops.events.schema import Metrics
from rlops.store.metric_chunks import CHUNK_POINTS, _unpack
from rlops.store.runs import RunStore


def test_chunk_bounds_are_those_of_their_points_across_uneven_appends(tmp_path: Path):
    rng = random.Random(3)
    values = [rng.uniform(-100, 100) for _ in range(3 * CHUNK_POINTS + 77)]
    values[5], values[CHUNK_POINTS + 9] = 1e6, -1e6  # extremes early in a chunk, then later appends
    store = RunStore(tmp_path / "rlops.db")
    store.register_run("r", tmp_path, tmp_path / "train_log.jsonl")
    seq, start = 0, 0
    for size in (1, 7, 300, CHUNK_POINTS - 5, 3, 2 * CHUNK_POINTS, 10**6):
        batch = []
        for step in range(start, min(start + size, len(values))):
            batch.append(Metrics(run_id="r", trace_id="0" * 32, seq=seq, t=1.0, env_steps=step,
                                 values={"x": values[step]}))
            seq += 1
        start += size
        if batch:
            store.ingest(batch)
    store.close()
    db = sqlite3.connect(tmp_path / "rlops.db")
    rows = db.execute("SELECT chunk, n, first_step, last_step, min_value, max_value, vals FROM metric_chunks "
                      "WHERE run_id = 'r' AND key = 'x' ORDER BY chunk").fetchall()
    db.close()
    assert sum(row[1] for row in rows) == len(values)
    for chunk, n, first, last, low, high, blob in rows:
        points = values[chunk * CHUNK_POINTS:chunk * CHUNK_POINTS + n]
        assert list(_unpack("d", blob)) == points
        assert (first, last) == (chunk * CHUNK_POINTS, chunk * CHUNK_POINTS + n - 1)
        assert (low, high) == (min(points), max(points))
