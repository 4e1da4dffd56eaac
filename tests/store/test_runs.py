"""The run store answers exactly what the JSONL log holds, live and after a reindex, exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from rlops.cli.app import main
from rlops.errors import StoreError
from rlops.events.reader import BadLine, read_records
from rlops.events.schema import Checkpoint, End, Episode, Eval, Meta, Metrics
from rlops.store.db import connect, filesystem_type, refuse_network_filesystem
from rlops.store.ingest import ingest_log
from rlops.store.metric_chunks import CHUNK_POINTS
from rlops.store.migrations import MIGRATIONS
from rlops.store.runs import RunStore
from tests.helpers import train_tiny
from tests.store.logs import synthetic_log

DB = "rlruns/rlops.db"


def from_jsonl(log: Path) -> dict:
    """What a reader of the JSONL alone would say about the run."""
    records = [r for _, r in read_records(log) if not isinstance(r, BadLine)]
    series: dict[str, tuple[list, list]] = {}
    for record in records:
        if isinstance(record, Metrics):
            scalars = {"opt_steps": record.opt_steps, "wall_time_s": record.wall_time_s, "sps": record.sps,
                       **record.values}
            for key, value in scalars.items():
                if not isinstance(value, list):
                    series.setdefault(key, ([], []))[0].append(record.env_steps)
                    series[key][1].append(float(value))
    episodes = [r for r in records if isinstance(r, Episode)]
    evals = [r.mean_reward for r in records if isinstance(r, Eval)]
    end = [r for r in records if isinstance(r, End)][-1]
    return {
        "run_id": records[0].run_id,
        "status": end.status,
        "env_steps": end.env_steps,
        "episodes": len(episodes),
        "last_return": episodes[-1].episode_return,
        "best_eval": max(evals),
        "checkpoints": sum(isinstance(r, Checkpoint) for r in records),
        "env_id": next(r for r in records if isinstance(r, Meta)).config["env"]["env_id"],
        "series": series,
        "events": sum(not isinstance(r, Metrics | Episode) for r in records),
    }


def assert_store_matches(store: RunStore, expected: dict) -> None:
    run = store.get_run(expected["run_id"])
    for key in ("status", "env_steps", "episodes", "last_return", "best_eval", "checkpoints", "env_id"):
        assert run[key] == expected[key], key
    assert [r["run_id"] for r in store.list_runs()] == [expected["run_id"]]
    assert sorted(store.metric_keys(expected["run_id"])) == sorted(expected["series"])
    for key, (steps, values) in expected["series"].items():
        series = store.metric_series(expected["run_id"], key)
        np.testing.assert_array_equal(series.steps, steps, err_msg=key)
        np.testing.assert_array_equal(series.values, values, err_msg=key)
    assert len(store.episodes(expected["run_id"])) == expected["episodes"]
    assert len(store.events(expected["run_id"])) == expected["events"]


def test_the_store_answers_what_the_jsonl_holds_live_and_after_reindex(capsys):
    result = train_tiny("ppo", "--train.checkpoint-freq", "128", steps=512)
    expected = from_jsonl(result.run.events_file)
    store = RunStore(DB)
    assert_store_matches(store, expected)  # written live by the SQLite sink during training

    assert main(["runs", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr()[0])
    assert [(r["run_id"], r["status"], r["env_steps"]) for r in listed] == \
        [(expected["run_id"], "finished", expected["env_steps"])]

    assert main(["runs", "reindex", "--json"]) == 0
    assert json.loads(capsys.readouterr()[0])[0]["run"] == expected["run_id"]
    assert_store_matches(store, expected)
    store.close()


def test_runs_show_and_an_unknown_run(capsys):
    result = train_tiny("a2c", steps=200)
    assert main(["runs", "show", result.run.name]) == 0
    out = capsys.readouterr()[0]
    assert "finished" in out and "CartPole-v1 / a2c" in out and str(result.run.path.resolve()) in out
    assert main(["runs", "show", result.run.name, "--json"]) == 0
    detail = json.loads(capsys.readouterr()[0])
    assert detail["evals"][0]["episodes"] == 2 and "train/value_loss" in detail["metric_keys"]
    assert main(["runs", "show", result.run.name[:-1]]) == 2
    assert "did you mean" in capsys.readouterr()[1]


def test_ingest_is_exactly_once_from_any_offset(tmp_path):
    store = RunStore(tmp_path / "a.db")
    log = synthetic_log(tmp_path / "log.jsonl", records=100)
    first = ingest_log(store, log)
    assert (first.records, first.skipped, first.bad_lines) == (100, 0, 0)
    again = ingest_log(store, log)  # the whole log again: nothing new
    assert (again.records, again.skipped) == (0, 100)
    middle = ingest_log(store, log, offset=first.offset // 2)  # a reader that lost its place
    assert middle.records == 0 and middle.offset == first.offset
    synthetic_log(log, records=50, start_seq=100)
    tail = ingest_log(store, log, offset=first.offset)
    assert tail.records == 50
    series = store.metric_series("r1", "k0")
    assert len(series) == 149 and list(series.steps) == [seq * 10 for seq in range(1, 150)]
    assert store.get_run("r1")["ingested_seq"] == 149


def test_garbage_is_counted_and_a_torn_last_line_waits_for_its_end(tmp_path):
    store = RunStore(tmp_path / "a.db")
    log = synthetic_log(tmp_path / "log.jsonl", records=10)
    whole = synthetic_log(tmp_path / "more.jsonl", records=1, start_seq=10).read_bytes()
    with open(log, "ab") as handle:
        handle.write(b"not json at all\n\xff\xfe invalid utf-8\n" + b'{"v":1,"type":"metrics","NaN":NaN}\n')
        handle.write(whole[:25])  # a record cut by a kill
    result = ingest_log(store, log)
    assert (result.records, result.bad_lines) == (10, 3)
    assert result.offset == log.stat().st_size - 25
    with open(log, "ab") as handle:
        handle.write(whole[25:])
    assert ingest_log(store, log, offset=result.offset).records == 1
    assert store.get_run("r1")["bad_lines"] == 3 and len(store.metric_series("r1", "k0")) == 10


def test_series_longer_than_a_chunk_are_split_and_read_back_whole(tmp_path):
    store = RunStore(tmp_path / "a.db")
    log = tmp_path / "log.jsonl"
    total = 2 * CHUNK_POINTS + 500
    for start in range(0, total, 997):  # odd batch sizes straddle the chunk boundaries
        synthetic_log(log, records=min(997, total - start), keys=1, start_seq=start)
    ingest_log(store, log)
    series = store.metric_series("r1", "k0")
    assert len(series) == total - 1 and np.all(np.diff(series.steps) == 10)
    sizes = [n for (n,) in store.connection.execute("SELECT n FROM metric_chunks WHERE key = 'k0' ORDER BY chunk")]
    assert sizes == [CHUNK_POINTS, CHUNK_POINTS, total - 1 - 2 * CHUNK_POINTS]


def test_a_corrupt_database_is_a_clean_error_and_training_goes_on(capsys):
    Path("rlruns").mkdir()
    Path(DB).write_bytes(b"this is not a database" * 100)
    result = train_tiny("a2c", steps=100)  # the run store is unavailable; the JSONL log is complete
    records = [r for _, r in read_records(result.run.events_file)]
    assert isinstance(records[-1], End) and records[-1].status == "finished"
    assert records[-1].dropped["sqlite"] == len(records)
    assert main(["runs", "list"]) == 1
    err = capsys.readouterr()[1]
    assert "is unusable" in err and "rlops runs reindex" in err


def test_a_newer_schema_is_refused(tmp_path):
    connection = connect(tmp_path / "a.db")
    assert connection.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    connection.close()
    from rlops.store import db

    db._migrated.clear()
    with pytest.raises(StoreError, match="newer than this rlops"):
        connect(tmp_path / "a.db")


MOUNTINFO = """\
22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
40 22 0:35 / /mnt/shared rw,relatime - nfs4 server:/export rw
41 40 0:36 / /mnt/shared/local rw - tmpfs tmpfs rw
"""


def test_a_database_on_a_network_filesystem_is_refused(tmp_path):
    assert filesystem_type(Path("/mnt/shared/runs/rlops.db"), MOUNTINFO) == "nfs4"
    assert filesystem_type(Path("/mnt/shared/local/rlops.db"), MOUNTINFO) == "tmpfs"
    assert filesystem_type(Path("/home/me/rlops.db"), MOUNTINFO) == "ext4"
    with pytest.raises(StoreError, match=r"network filesystem \(nfs4\)"):
        refuse_network_filesystem(Path("/mnt/shared/runs/rlops.db"), MOUNTINFO)
    refuse_network_filesystem(tmp_path / "rlops.db")  # this machine's disk is local


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from tests.store.logs import synthetic_log
    from rlops.store.ingest import ingest_log
    from rlops.store.runs import RunStore
    store = RunStore(sys.argv[1])
    log = Path(sys.argv[2])
    offset = 0
    for batch in range(20):
        synthetic_log(log, run_id=log.stem, records=25, start_seq=batch * 25)
        offset = ingest_log(store, log, offset=offset).offset
""")


def test_many_writers_and_a_reader_never_see_a_locked_database(tmp_path):
    db_path = tmp_path / "shared.db"
    RunStore(db_path).close()
    script = WRITER.format(root=str(Path(__file__).resolve().parents[2]))
    writers = [subprocess.Popen([sys.executable, "-c", script, str(db_path), str(tmp_path / f"run{i}.jsonl")],
                                stderr=subprocess.PIPE, text=True) for i in range(4)]
    reader = RunStore(db_path)
    reads = 0
    while any(w.poll() is None for w in writers):
        for run in reader.list_runs():
            reader.metric_series(run["run_id"], "k0")
        reads += 1
    errors = [w.communicate()[1] for w in writers]
    assert [w.returncode for w in writers] == [0, 0, 0, 0], errors
    assert reads > 0
    for i in range(4):
        assert len(reader.metric_series(f"run{i}", "k0")) == 20 * 25 - 1
    assert reader.integrity_check() == "ok"
    reader.close()


def test_a_run_whose_process_died_without_an_end_is_marked_lost(tmp_path, capsys):
    store = RunStore(DB)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store.register_run("ghost", tmp_path, tmp_path / "train_log.jsonl", pid=dead.pid)
    assert main(["runs", "list", "--json"]) == 0
    [run] = json.loads(capsys.readouterr()[0])
    assert run["status"] == "lost" and "no end record" in run["reason"]
