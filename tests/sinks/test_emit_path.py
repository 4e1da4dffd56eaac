"""The producer's path after its speed-up (issue 13, item 1), with real files and a real store:
one lock per record still numbers and stamps it in order, milestones still reach the file at once,
metrics within the flush interval, and the store's sink takes the log in a few big ingests (one
per linger) instead of one per 1,024 records, every record once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import orjson

from rlops.events.schema import Checkpoint, Metrics
from rlops.sinks.recorder import RunRecorder
from rlops.sinks.sqlite import SqliteSink
from rlops.store.runs import RunStore


def lines(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_t_follows_seq_whichever_thread_emits(tmp_path: Path):
    recorder = RunRecorder("r", tmp_path / "train_log.jsonl")

    def emit_many() -> None:
        for step in range(400):
            recorder.emit(Metrics(env_steps=step, values={"loss": 0.5}))

    threads = [threading.Thread(target=emit_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorder.close()
    records = lines(tmp_path / "train_log.jsonl")
    assert [r["seq"] for r in records] == list(range(1601))
    assert all(a["t"] <= b["t"] for a, b in zip(records, records[1:]))


def test_a_milestone_is_in_the_file_when_emit_returns_and_metrics_within_a_second(tmp_path: Path):
    log = tmp_path / "train_log.jsonl"
    recorder = RunRecorder("r", log)
    recorder.emit(Metrics(env_steps=1, values={"loss": 0.5}))
    assert log.read_bytes() == b""  # in the log's buffer: the flush timer writes it
    recorder.emit(Checkpoint(path="checkpoints/step-1", env_steps=1))
    assert [r["type"] for r in lines(log)] == ["metrics", "checkpoint"]  # the milestone pushed both out
    recorder.emit(Metrics(env_steps=2, values={"loss": 0.25}))
    deadline = time.monotonic() + 1.5
    while len(lines(log)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(lines(log)) == 3
    recorder.close()


class CountingSqliteSink(SqliteSink):
    exports = 0

    def export(self, batch) -> None:
        self.exports += 1
        super().export(batch)


def test_the_store_sink_ingests_a_fast_run_in_a_few_big_batches_every_record_once(tmp_path: Path):
    log = tmp_path / "train_log.jsonl"
    sink = CountingSqliteSink(tmp_path / "rlops.db", "r", tmp_path, log)
    recorder = RunRecorder("r", log, sinks=[sink])
    started = time.monotonic()
    for step in range(4096):
        recorder.emit(Metrics(env_steps=step, values={"loss": step / 4096}))
    emitting = time.monotonic() - started
    end = recorder.close(env_steps=4096)
    assert end.dropped == {}
    if emitting < 0.5:  # a batch per 1,024 records was at least 4 ingests; a batch per linger (0.25 s) is fewer
        assert sink.exports <= 3
    with RunStore(tmp_path / "rlops.db") as store:
        series = store.metric_series("r", "loss")
        assert list(series.steps) == list(range(4096))
        assert store.get_run("r")["ingested_seq"] == 4096  # the end record, once
