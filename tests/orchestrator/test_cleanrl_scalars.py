"""The CleanRL translator: a real, unmodified CleanRL-style script runs as a child process, and what
``ScalarTail`` makes of its TensorBoard files matches TensorBoard's own reader, whether read live or
after the fact, from whole, growing or damaged files."""

from __future__ import annotations

import itertools
import os
import random
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rlops.events.schema import Episode, Meta, Metrics, Record, encode
from rlops.orchestrator.cleanrl_scalars import ScalarTail

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cleanrl_ppo.py"
ARGS = ["--total-timesteps", "2048", "--num-envs", "2", "--num-steps", "128", "--capture-video"]
ITERATIONS = 2048 // (2 * 128)
LOSSES = ("losses/value_loss", "losses/policy_loss", "losses/entropy", "losses/old_approx_kl",
          "losses/approx_kl", "losses/clipfrac", "charts/learning_rate", "charts/SPS")


@dataclass
class LiveRun:
    root: Path
    run_name: str
    event_file: Path
    live: list[Record]  # what polling every 0.2 s during the run, then poll(final=True), returned
    busy_polls: int  # polls during the run that returned something


@pytest.fixture(scope="module")
def live_run(tmp_path_factory) -> LiveRun:
    """One run of the example for the whole module (a few seconds), tailed while it runs."""
    root = tmp_path_factory.mktemp("cleanrl")
    log = root / "script.log"
    # One thread: the test machine's cores are shared.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with open(log, "wb") as output:
        process = subprocess.Popen([sys.executable, str(EXAMPLE), *ARGS], cwd=root, env=env,
                                   stdout=output, stderr=subprocess.STDOUT)
        tail = ScalarTail(root)
        live: list[Record] = []
        busy_polls = 0
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            new = tail.poll()
            live += new
            busy_polls += bool(new)
            time.sleep(0.2)
        if process.poll() is None:
            process.kill()
        process.wait()
    assert process.returncode == 0, log.read_text()[-3000:]
    live += tail.poll(final=True)
    (event_file,) = (root / "runs").glob("*/events.out.tfevents.*")
    return LiveRun(root, event_file.parent.name, event_file, live, busy_polls)


def test_a_finished_run_gives_meta_then_episodes_and_metrics_as_tensorboard_reads_them(live_run):
    tail = ScalarTail(live_run.root)
    records = tail.poll(final=True)

    meta = records[0]
    assert isinstance(meta, Meta) and meta.producer == "cleanrl"
    assert meta.config["env_id"] == "CartPole-v1" and meta.config["total_timesteps"] == 2048
    assert meta.config["learning_rate"] == 2.5e-4 and meta.config["capture_video"] is True
    assert meta.seed == 1 and meta.t > 0

    accumulator = EventAccumulator(str(live_run.event_file.parent), size_guidance={"scalars": 0})
    accumulator.Reload()
    returns = accumulator.Scalars("charts/episodic_return")
    lengths = accumulator.Scalars("charts/episodic_length")
    episodes = [r for r in records if isinstance(r, Episode)]
    assert returns, "the run finished no episode: nothing was compared"
    assert [(e.env_steps, e.episode_return, e.length, e.t) for e in episodes] == [
        (r.step, r.value, int(n.value), r.wall_time) for r, n in zip(returns, lengths, strict=True)]
    assert [e.episode for e in episodes] == list(range(len(returns)))

    metrics = [r for r in records if isinstance(r, Metrics)]
    assert [m.env_steps for m in metrics] == [256 * i for i in range(1, ITERATIONS + 1)]
    for record in metrics:
        assert set(LOSSES) <= set(record.values)
        assert record.sps == record.values["charts/SPS"] > 0
        assert record.values["losses/value_loss"] == pytest.approx(
            _at(accumulator, "losses/value_loss", record.env_steps))
    # CleanRL logs a NaN explained variance for a batch of equal returns: skipped and counted, never emitted.
    explained = sum("losses/explained_variance" in m.values for m in metrics)
    assert explained + tail.skipped == ITERATIONS
    assert all(encode(record) for record in records)  # finite and serializable
    assert len(records) == 1 + len(episodes) + len(metrics)
    assert tail.corrupt_bytes == 0 and tail.unpaired == 0

    started = time.perf_counter()
    for _ in range(100):
        assert tail.poll() == []
    assert (time.perf_counter() - started) / 100 < 1e-3, "a poll with nothing new must stay cheap"

    videos = list((live_run.root / "videos" / live_run.run_name).glob("*.mp4"))
    assert videos and all(video.stat().st_size > 0 for video in videos)


def test_polling_while_the_script_runs_loses_and_repeats_nothing(live_run):
    assert live_run.busy_polls >= 2, "the run was read in one go: nothing incremental was tested"
    assert live_run.live == ScalarTail(live_run.root).poll(final=True)


def test_a_file_growing_in_odd_sized_pieces_gives_each_record_once(live_run, tmp_path):
    data = live_run.event_file.read_bytes()
    growing = _event_file(tmp_path)
    tail = ScalarTail(tmp_path)
    records: list[Record] = []
    sizes = itertools.cycle([1, 3, 7, 11, 29, 100, 999])  # most cuts fall inside a record
    position = 0
    while position < len(data):
        piece = data[position:position + next(sizes)]
        with open(growing, "ab") as file:
            file.write(piece)
        position += len(piece)
        records += tail.poll()
    records += tail.poll(final=True)
    assert records == ScalarTail(live_run.root).poll(final=True)


def test_a_cut_file_with_garbage_neither_raises_nor_repeats_and_recovers_later_records(live_run, tmp_path):
    data = live_run.event_file.read_bytes()
    bounds = _record_bounds(data)
    cut_record, resume_record = len(bounds) // 3, 2 * len(bounds) // 3
    head = data[:bounds[cut_record] + 20]  # the header and a few bytes of a record: a cut mid-record
    garbage = random.Random(0).randbytes(300)
    rest = data[bounds[resume_record]:]

    damaged = _event_file(tmp_path / "damaged")
    tail = ScalarTail(tmp_path / "damaged")
    records: list[Record] = []
    for piece in (head, garbage, rest):
        with open(damaged, "ab") as file:
            file.write(piece)
        records += tail.poll()
    records += tail.poll(final=True)
    records += tail.poll(final=True)

    # What the same file holds without the cut record and the garbage.
    clean = _event_file(tmp_path / "clean")
    clean.write_bytes(data[:bounds[cut_record]] + rest)
    assert records == ScalarTail(tmp_path / "clean").poll(final=True)
    assert tail.corrupt_bytes >= len(garbage)
    assert len([r for r in records if isinstance(r, Episode)]) < len(
        [r for r in ScalarTail(live_run.root).poll(final=True) if isinstance(r, Episode)])


def test_garbage_at_the_end_of_a_finished_file_is_counted_not_read(tmp_path):
    path = _event_file(tmp_path)
    path.write_bytes(b"\x05" + b"\x00" * 7 + b"not a tfrecord at all")
    tail = ScalarTail(tmp_path)
    assert tail.poll() == [] and tail.poll(final=True) == []
    assert tail.corrupt_bytes == path.stat().st_size


def test_a_run_directory_without_event_files_yet_gives_nothing(tmp_path):
    tail = ScalarTail(tmp_path / "not-started")
    assert tail.poll() == []
    (tmp_path / "not-started" / "runs" / "name").mkdir(parents=True)
    assert tail.poll() == [] and tail.poll(final=True) == []


def _event_file(root: Path) -> Path:
    directory = root / "runs" / "copy"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / "events.out.tfevents.0.test"


def _record_bounds(data: bytes) -> list[int]:
    """Where each TFRecord starts: 8-byte length, 4-byte CRC, the data, 4-byte CRC."""
    bounds, position = [], 0
    while position < len(data):
        bounds.append(position)
        position += 12 + struct.unpack_from("<Q", data, position)[0] + 4
    return bounds


def _at(accumulator: EventAccumulator, tag: str, step: int) -> float:
    (value,) = [event.value for event in accumulator.Scalars(tag) if event.step == step]
    return value
