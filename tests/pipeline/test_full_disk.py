"""Training on a disk that fills up: one message (what filled, where, how much is free, how to
resume), exit 1, the log and the store intact, and the run resumes once there is room."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rlops.events.reader import read_records
from rlops.events.validate import validate_log
from rlops.pipeline.checkpoints import latest_checkpoint
from rlops.store.registry import Registry
from tests.disk_faults import small_disk
from tests.helpers import tiny_args

# A replay buffer of 50,000 transitions makes each checkpoint about 2.6 MB: the third one does not fit.
BIG_CHECKPOINTS = '{"learning_starts": 50, "buffer_size": 50000}'


def train_on(disk_path: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    args = tiny_args("dqn", "--agent.hyperparams", BIG_CHECKPOINTS, "--train.checkpoint-freq", "100",
                     "--store.model-dir", str(disk_path / "rlruns"), "--registry.db-path",
                     str(disk_path / "rlruns" / "rlops.db"), "--store.run-name", "full", *extra, steps=400)
    base = {k: v for k, v in os.environ.items() if not k.startswith("RL_")}
    return subprocess.run([sys.executable, "-m", "rlops", "train", *args], capture_output=True, text=True,
                          timeout=600, env={**base, **(env or {})})


def assert_one_message(stderr: str, disk_path: Path) -> None:
    assert "Traceback" not in stderr and "Logging error" not in stderr
    lines = [line for line in stderr.splitlines() if "XDG_RUNTIME_DIR" not in line]  # SDL's, not ours
    assert len(lines) < 10, stderr
    error = next(line for line in lines if line.startswith("error: "))
    assert "is full (No space left on device, ENOSPC) while writing checkpoint" in error
    assert f"{disk_path}/rlruns/full/checkpoints/step-000000000300" in error  # what filled
    assert " free of " in error  # how much is left
    assert "rlops train --train.resume --store.run-name full --store.model-dir" in stderr  # how to go on


@pytest.mark.slow
def test_a_full_disk_is_one_message_and_the_run_resumes_once_there_is_room(tmp_path):
    with small_disk(tmp_path / "disk", size_mb=20) as disk:
        disk.fill(leave=6 << 20)
        failed = train_on(disk.path, env=disk.env)
        assert failed.returncode == 1
        assert_one_message(failed.stderr, disk.path)
        if disk.kind == "tmpfs":
            assert f"on {disk.path}" in failed.stderr  # the filesystem that filled, by its mount point
        run_dir = disk.path / "rlruns" / "full"
        log = run_dir / "train_log.jsonl"
        # Every complete record is valid. A full disk can cut the last line short (the JSONL sink's
        # buffer reaches the disk in part); resume sets such a line aside, as after a kill.
        anomalies = validate_log(log).anomalies
        assert [a.kind for a in anomalies] in ([], ["torn_last_line"]), anomalies
        assert latest_checkpoint(run_dir / "checkpoints").env_steps == 200  # earlier checkpoints intact
        assert not [p for p in (run_dir / "checkpoints").iterdir() if p.name.startswith(".tmp-")]
        registry = Registry(str(disk.path / "rlruns" / "rlops.db"))
        assert sorted(m["total_timesteps"] for m in registry.list(run_id="full")) == [100, 200]
        registry.close()

        disk.grow(size_mb=200)
        resumed = train_on(disk.path, "--train.resume")
        assert resumed.returncode == 0, resumed.stderr
        assert latest_checkpoint(run_dir / "checkpoints").env_steps == 400
        assert validate_log(log).ok
        assert [r.type for _, r in read_records(log)].count("resume") == 1


@pytest.mark.slow
def test_when_the_receipt_cannot_be_written_either_the_first_error_is_kept(tmp_path):
    # Every write under the directory fails once the budget is spent, deletes or not: the receipt too.
    with small_disk(tmp_path / "disk", tmpfs=False) as disk:
        disk.fill(leave=6 << 20)
        failed = train_on(disk.path, env=disk.env)
    assert failed.returncode == 1
    assert_one_message(failed.stderr, disk.path)
    assert "the failure receipt could not be written either (No space left on device)" in failed.stderr
