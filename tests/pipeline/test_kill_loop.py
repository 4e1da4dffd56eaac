"""Crash safety: training SIGKILLed at random instants, checkpoint writes included, always resumes
from a complete checkpoint, carries on counting steps, and keeps a readable event log."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rlops.events.reader import BadLine, read_records
from rlops.events.schema import Checkpoint as CheckpointRecord
from rlops.events.schema import End, Record, Resume
from rlops.events.validate import validate_log
from rlops.pipeline.checkpoints import (
    TEMP_PREFIX,
    Checkpoint,
    latest_checkpoint,
    list_checkpoints,
    read_checkpoint,
    verify_files,
)
from tests.helpers import tiny_args

KILLS = 21
FREQ = 64  # a checkpoint every rollout (32 vector steps of 2 envs; PPO checkpoints at rollout boundaries): several a second
RUN = "crashy"
MODEL_DIR = "runs"
ENDLESS = 10_000_000  # never reached while killing; the final run asks for a little more than it has
WAIT = 180.0  # seconds any one wait may take before the test gives up (a busy 2-core machine)
# Kill modes, in turn: as soon as a checkpoint directory is being written; at any instant after
# the start (imports, resume, cleanup, training); at a random instant once training is under way.
MODES = ("mid-write", "anytime", "training")


@dataclass
class Tally:
    killed: int = 0
    mid_write: int = 0  # kills that left this process's own .tmp- directory behind
    torn_logs: int = 0  # kills that left a torn last line in train_log.jsonl
    advanced: int = 0  # processes that added checkpoints
    resumed: int = 0  # processes that got as far as loading a checkpoint (their stderr says so)
    resumes_logged: int = 0  # ... and whose resume record reached the log before the kill
    modes: list[str] = field(default_factory=list)


def train_command(steps: int, resume: bool) -> list[str]:
    extra = ["--train.checkpoint-freq", str(FREQ), "--store.run-name", RUN, "--store.model-dir", MODEL_DIR,
             "--agent.hyperparams", '{"n_steps": 32}']
    return [sys.executable, "-m", "rlops", "train", *tiny_args("ppo", *extra, steps=steps),
            *(["--train.resume"] if resume else [])]


def scan(root: Path) -> tuple[int, list[str]]:
    """How many finished checkpoint directories, and the temporary ones being written."""
    try:
        names = [entry.name for entry in os.scandir(root)]
    except FileNotFoundError:
        return 0, []
    return sum(name.startswith("step-") for name in names), [n for n in names if n.startswith(TEMP_PREFIX)]


def wait_until(proc: subprocess.Popen, ready) -> None:
    """Poll every millisecond until ``ready()`` or the process exits on its own."""
    deadline = time.monotonic() + WAIT
    while proc.poll() is None and not ready():
        assert time.monotonic() < deadline, "training made no progress; see its stderr"
        time.sleep(0.001)


def kill_at_random(proc: subprocess.Popen, root: Path, mode: str, rng: random.Random) -> None:
    started = time.monotonic()
    finished_before, temporary_before = scan(root)
    if mode == "mid-write":
        skip = rng.randrange(12)  # let a few checkpoints pass, so the kills land at varied steps

        def writing() -> bool:
            # This process's own write: a partial directory a previous kill left (until the new
            # process cleans it up) would have it killed before it starts, not mid-write.
            finished, temporary = scan(root)
            return finished >= finished_before + skip and bool(set(temporary) - set(temporary_before))

        wait_until(proc, writing)
    elif mode == "anytime":
        instant = started + rng.uniform(0.3, 5.0)
        wait_until(proc, lambda: time.monotonic() >= instant)
    else:
        wait_until(proc, lambda: scan(root)[0] > finished_before)
        instant = time.monotonic() + rng.uniform(0.0, 1.0)
        wait_until(proc, lambda: time.monotonic() >= instant)
    os.kill(proc.pid, signal.SIGKILL)  # a process that already exited is a zombie until waited: still safe


def check_on_disk(root: Path, previous: Checkpoint | None) -> Checkpoint:
    """Every step-* directory is complete; the newest never goes back; partial ones are newer, unpicked."""
    for path in list_checkpoints(root):
        assert verify_files(read_checkpoint(path)) == [], path
    latest = latest_checkpoint(root)
    assert verify_files(latest) == []
    assert previous is None or latest.env_steps >= previous.env_steps
    for name in scan(root)[1]:
        assert int(name[len(TEMP_PREFIX):].split("-")[0]) > latest.env_steps, name
    return latest


def records(log: Path) -> list[Record | BadLine]:
    return [record for _, record in read_records(log)] if log.exists() else []


def last_seq(log: Path) -> int:
    return max((r.seq for r in records(log) if not isinstance(r, BadLine)), default=-1)


def check_process(log: Path, seq_before: int, root: Path, names_before: set[Path], start: Checkpoint | None,
                  stderr: str) -> tuple[bool, bool]:
    """The process resumed from ``start`` (the newest intact checkpoint when it began) and counted on.

    Returns whether it resumed, and whether its ``resume`` record reached the log (a kill may take
    the last second of the log, never a line of stderr).
    """
    mine = [r for r in records(log) if not isinstance(r, BadLine) and r.seq > seq_before]
    resumes = [r for r in mine if isinstance(r, Resume)]
    assert len(resumes) <= 1
    if start is None:
        assert not resumes
    for resume in resumes:
        assert resume.checkpoint == f"checkpoints/{start.path.name}" and resume.env_steps == start.env_steps, stderr
    resumed = start is not None and "resume from" in stderr
    if resumed:
        assert f"resume from {start.path.name} at {start.env_steps} env steps" in stderr, stderr
    begin = start.env_steps if start else 0
    logged = [r.env_steps for r in mine if isinstance(r, CheckpointRecord)]
    assert logged == sorted(logged) and all(steps > begin for steps in logged), (begin, logged)
    written = sorted(read_checkpoint(path).env_steps for path in set(list_checkpoints(root)) - names_before)
    if written:
        assert written[0] == begin + FREQ, (begin, written)  # the count goes on from the checkpoint loaded
    return resumed, bool(resumes)


@pytest.mark.slow
def test_sigkill_at_random_instants_always_resumes_from_a_complete_checkpoint(tmp_path):
    rng = random.Random(20240607)
    run = Path(MODEL_DIR) / RUN
    root, log = run / "checkpoints", run / "train_log.jsonl"
    tally = Tally()
    start: Checkpoint | None = None
    began = time.monotonic()
    for index in range(KILLS):
        mode = "training" if index == 0 else MODES[index % len(MODES)]  # the first must leave a checkpoint
        seq_before, names_before = last_seq(log), set(list_checkpoints(root))
        stderr_path = tmp_path / f"stderr-{index}.txt"
        with open(stderr_path, "wb") as stderr:
            proc = subprocess.Popen(train_command(ENDLESS, resume=start is not None),
                                    stdout=subprocess.DEVNULL, stderr=stderr)
            try:
                kill_at_random(proc, root, mode, rng)
            finally:
                proc.kill()
                returncode = proc.wait()
        stderr_text = stderr_path.read_text(errors="replace")
        assert returncode in (-signal.SIGKILL, 0), stderr_text
        tally.killed += returncode == -signal.SIGKILL
        tally.modes.append(mode)
        tally.mid_write += any(f"-{proc.pid}-" in name for name in scan(root)[1])
        tally.torn_logs += isinstance(next(reversed(records(log)), None), BadLine)
        resumed, logged = check_process(log, seq_before, root, names_before, start, stderr_text)
        tally.resumed += resumed
        tally.resumes_logged += logged
        latest = check_on_disk(root, start)
        tally.advanced += start is None or latest.env_steps > start.env_steps
        start = latest

    total = start.env_steps + 4 * FREQ
    seq_before, names_before = last_seq(log), set(list_checkpoints(root))
    final = subprocess.run(train_command(total, resume=True), capture_output=True, text=True, timeout=WAIT)
    assert final.returncode == 0, final.stderr
    assert check_process(log, seq_before, root, names_before, start, final.stderr) == (True, True)
    print(f"\n{tally} in {time.monotonic() - began:.1f} s")

    assert tally.killed >= 20 and tally.mid_write >= 3 and tally.advanced >= KILLS // 3, tally
    assert tally.resumed >= KILLS // 3 and tally.resumes_logged >= 3, tally
    log_records = records(log)
    assert not [r for r in log_records if isinstance(r, BadLine)]
    assert [r.seq for r in log_records] == list(range(len(log_records)))  # torn lines were set aside
    assert (run / "train_log.torn").exists() == (tally.torn_logs > 0)
    report = validate_log(log)  # what `rlops log validate` checks: schema, seq, counters across resumes
    assert report.ok and report.by_type["resume"] >= 3, report.anomalies[:5]
    ends = [r for r in log_records if isinstance(r, End)]
    assert ends[-1] is log_records[-1] and ends[-1].status == "finished" and ends[-1].env_steps == total
    assert scan(root)[1] == []  # the partial directories left by kills were cleared
    assert latest_checkpoint(root).env_steps == total
    for path in list_checkpoints(root):
        assert verify_files(read_checkpoint(path)) == [], path


@pytest.mark.slow
def test_a_run_killed_before_its_first_checkpoint_can_be_continued():
    run = Path(MODEL_DIR) / RUN
    command = train_command(4 * FREQ, resume=False)
    command[command.index("--train.checkpoint-freq") + 1] = "0"  # the only checkpoint comes at the end
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(proc, (run / "options.json").exists)
    finally:
        proc.kill()
        proc.wait()
    assert (run / "options.json").exists() and list_checkpoints(run / "checkpoints") == []

    resumed = subprocess.run([*command, "--train.resume"], capture_output=True, text=True, timeout=WAIT)
    assert resumed.returncode == 0, resumed.stderr
    assert "no complete checkpoint" in resumed.stderr and "starts over from step 0" in resumed.stderr
    records = [r for _, r in read_records(run / "train_log.jsonl") if not isinstance(r, BadLine)]
    resumes = [r for r in records if isinstance(r, Resume)]
    assert [(r.checkpoint, r.env_steps) for r in resumes] == [("", 0)]
    assert isinstance(records[-1], End) and records[-1].status == "finished"
    assert latest_checkpoint(run / "checkpoints").env_steps >= 4 * FREQ
    # Starting it afresh under the same name is still refused, with the way to continue it.
    again = subprocess.run(command, capture_output=True, text=True, timeout=WAIT)
    assert again.returncode == 1 and "add --train.resume" in again.stderr
