"""A run's registry rows come from its records: the engine emits ``checkpoint`` and ``eval``
records, and the registry book (``RunModels``), a consumer of the recorder, makes each row from a
record that is already in the log."""

from __future__ import annotations

import json
from pathlib import Path

from rlops.events.reader import read_records
from rlops.events.schema import Checkpoint as CheckpointRecord
from rlops.events.schema import Eval as EvalRecord
from rlops.events.schema import Metrics
from rlops.options import resolve_options
from rlops.services.run_models import RunModels
from rlops.sinks.recorder import RunRecorder
from rlops.store.registry import Registry
from tests.helpers import train_tiny


def records_of(run: Path, kind: type) -> list:
    return [record for _, record in read_records(run / "train_log.jsonl") if isinstance(record, kind)]


def test_every_checkpoint_record_is_one_row_and_every_eval_record_its_score():
    result = train_tiny("a2c", "--train.checkpoint-freq", "40", "--eval.freq", "80", steps=120)
    run = result.run.path
    checkpoints, evals = records_of(run, CheckpointRecord), records_of(run, EvalRecord)
    assert [r.env_steps for r in checkpoints] == [40, 80, 120] and [r.env_steps for r in evals] == [80, 120]
    registry = Registry(result.options.store.db_path)
    try:
        rows = registry.list(run_id=result.run.name)
    finally:
        registry.close()
    by_path = {Path(row["model_path"]): row for row in rows}
    assert sorted(by_path) == sorted((run / r.path).resolve() for r in checkpoints)
    for record in evals:
        row = by_path[(run / record.checkpoint).resolve()]
        assert (row["mean_reward"], row["std_reward"], row["eval_episodes"]) == (
            record.mean_reward, record.std_reward, record.episodes)
    assert by_path[(run / checkpoints[0].path).resolve()]["mean_reward"] is None  # never evaluated
    assert result.model_id == by_path[(run / checkpoints[-1].path).resolve()]["id"]


def test_the_registry_is_rebuilt_from_the_log_alone(tmp_path):
    """Replaying a finished run's log into a fresh book over an empty registry gives the same rows."""
    result = train_tiny("a2c", "--train.checkpoint-freq", "60", steps=120)
    options = resolve_options(environ={}, args=["--registry.db-path", str(tmp_path / "fresh.db")]).options
    book = RunModels(options, result.run.path, result.run.name)
    for _, record in read_records(result.run.events_file):
        book(record)
    book.close()
    registry = Registry(tmp_path / "fresh.db")
    try:
        rows = registry.list()
    finally:
        registry.close()
    assert sorted(row["total_timesteps"] for row in rows) == [60, 120]
    [final] = [row for row in rows if row["total_timesteps"] == 120]
    assert final["mean_reward"] == result.evaluation.mean_reward and final["run_id"] == result.run.name


def test_a_consumer_sees_each_record_once_it_is_in_the_log(tmp_path):
    log_path = tmp_path / "train_log.jsonl"
    seen: list[tuple[str, bool]] = []

    def consumer(record):
        lines = [json.loads(line) for line in log_path.read_text().splitlines()]
        seen.append((record.type, any(line["seq"] == record.seq for line in lines)))

    recorder = RunRecorder("r", log_path, consumers=[consumer])
    recorder.emit(CheckpointRecord(path="checkpoints/step-1", env_steps=1, sha256="0" * 64))
    recorder.emit(Metrics(env_steps=1, values={"loss": float("nan")}))  # refused by the schema: not consumed
    recorder.emit(EvalRecord(episodes=1, mean_reward=1.0, checkpoint="checkpoints/step-1", env_steps=1))
    recorder.close()
    assert seen == [("checkpoint", True), ("eval", True)]
