"""A stream already open when its database goes bad ends with a ``failed`` event in the routes'
one error shape (what is wrong, how to rebuild), not a connection cut off mid-stream."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlops.api.app import create_app
from rlops.events.schema import Episode, Meta, encode
from rlops.store.runs import RunStore
from tests.api.http_helpers import serving, sse
from tests.store.test_corrupt_database import HINT, MALFORMED, damage, root_page


@pytest.fixture
def live_run(tmp_path):
    """A queued run (a live status: its streams wait for more) with a log and an output file."""
    run_dir = tmp_path / "rlruns" / "live"
    run_dir.mkdir(parents=True)
    log = run_dir / "train_log.jsonl"
    records = [Meta(seq=0, t=1.0, run_id="live", trace_id="0" * 32, config={}),
               Episode(seq=1, t=2.0, run_id="live", trace_id="0" * 32, episode=0, episode_return=1.0, length=1, env_steps=1)]
    log.write_text("".join(encode(r) + "\n" for r in records))
    (run_dir / "output.log").write_text("a line\n")
    db = tmp_path / "rlruns" / "rlops.db"
    store = RunStore(db)
    try:
        store.queue_run("live", "CartPole-v1", "ppo", "0" * 32)
        store.register_run("live", run_dir, log, runner="command")
    finally:
        store.close()
    return db


@pytest.mark.parametrize("route, first", [("/api/runs/live/stream", "meta"), ("/api/runs/live/logs/stream", "line"),
                                          ("/api/stream/runs", "run")])
def test_an_open_stream_ends_with_the_unusable_database_error(live_run, route, first):
    with serving(create_app(live_run)) as client, client.stream("GET", route, timeout=30) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        assert sse(lines, limit=1)[0][1] == first
        damage(live_run, [2, 3, root_page(live_run, "runs")])
        rest = sse(lines)  # to the stream's end: the server closes it
    assert [event for _, event, _ in rest][-1] == "failed" and "eof" not in [event for _, event, _ in rest]
    error = json.loads(rest[-1][2])["error"]
    assert error["status"] == 500 and MALFORMED in error["message"] and HINT in error["hint"], error
    assert Path(live_run).exists()  # nothing was removed or rewritten by the server
