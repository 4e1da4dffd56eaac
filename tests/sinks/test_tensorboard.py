"""The TensorBoard backend: a real training run's event files, read back by TensorBoard's own
reader, hold the same scalars as the run's JSONL log, step for step."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rlops.events.reader import read_records
from rlops.events.schema import End, Episode, Eval, Metrics
from tests.helpers import train_tiny


def scalars_of_log(log: Path) -> dict[str, list[tuple[int, float, float]]]:
    """(step, value, time) per tag, in log order: what the TensorBoard files must hold."""
    expected: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
    for _, record in read_records(log):
        points: dict[str, float] = {}
        if isinstance(record, Metrics):
            points = {"opt_steps": record.opt_steps, "wall_time_s": record.wall_time_s, "sps": record.sps,
                      **{key: value for key, value in record.values.items() if not isinstance(value, list)}}
        elif isinstance(record, Episode):
            points = {"episode/return": record.episode_return, "episode/length": record.length}
        elif isinstance(record, Eval):
            points = {"eval/mean_reward": record.mean_reward, "eval/std_reward": record.std_reward,
                      "eval/mean_length": record.mean_length}
        for tag, value in points.items():
            expected[tag].append((record.env_steps, float(value), record.t))
    return expected


def read_tensorboard(logdir: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "histograms": 0})
    accumulator.Reload()
    return accumulator


def assert_same_scalars(logdir: Path, log: Path) -> None:
    expected = scalars_of_log(log)
    board = read_tensorboard(logdir)
    assert sorted(board.Tags()["scalars"]) == sorted(expected)
    for tag, points in expected.items():
        stored = board.Scalars(tag)
        assert [event.step for event in stored] == [step for step, _, _ in points], tag
        assert [event.value for event in stored] == pytest.approx([value for _, value, _ in points], rel=1e-6), tag
        assert [event.wall_time for event in stored] == pytest.approx([t for _, _, t in points], abs=1e-3), tag


def test_a_run_writes_the_scalars_of_its_log_to_tensorboard():
    result = train_tiny("ppo", "--store.backend", "tensorboard")
    logdir = result.run.path / "tensorboard"
    assert list(logdir.glob("events.out.tfevents.*"))
    assert_same_scalars(logdir, result.run.events_file)
    records = [record for _, record in read_records(result.run.events_file)]
    assert {"episode/return", "eval/mean_reward", "train/value_loss", "reward_mean"} <= set(scalars_of_log(
        result.run.events_file))
    # action_hist, a list, is a histogram: one per metrics record that holds it, counts intact.
    hists = [(r.env_steps, r.values["action_hist"]) for r in records if isinstance(r, Metrics)
             and "action_hist" in r.values]
    stored = read_tensorboard(logdir).Histograms("action_hist")
    assert [(event.step, [int(c) for c in event.histogram_value.bucket]) for event in stored] == hists
    end = records[-1]
    assert isinstance(end, End) and end.status == "finished" and "tensorboard" not in end.dropped
    # The sink writes nothing into the log: only the producer's own records are there.
    assert not any(getattr(r, "kind", None) == "tensorboard" for r in records)


def test_a_resumed_run_adds_a_file_and_tensorboard_drops_the_killed_tail(tmp_path):
    first = train_tiny("ppo", "--store.backend", "tensorboard", "--store.run-name", "again",
                       "--train.checkpoint-freq", "128", steps=256)
    second = train_tiny("ppo", "--store.backend", "tensorboard", "--store.run-name", "again", "--train.resume",
                        steps=384)
    assert second.run.path == first.run.path
    logdir = second.run.path / "tensorboard"
    assert len(list(logdir.glob("events.out.tfevents.*"))) == 2
    board = read_tensorboard(logdir)
    steps = [event.step for event in board.Scalars("sps")]
    assert steps == sorted(steps) and steps[-1] == 384
