"""Ctrl-C on an off-policy run (DQN, SAC) in a terminal: the first one is a stop like SIGTERM's,
honoured at the next rollout boundary, so the checkpoint is exact and a ``--train.resume``
continues the run as if it had never stopped (parameters, counters, replay buffer). A second
Ctrl-C ends the run at once, as terminals expect.

Python's own Ctrl-C is a KeyboardInterrupt raised wherever the learner is: in the middle of a
rollout that is after SB3 counted an env step and before it stored the step's transition, and the
run used to checkpoint that state, a step the replay buffer lacks.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rlops.events.reader import read_records
from rlops.pipeline.checkpoints import latest_checkpoint
from rlops.pipeline.stopping import STOP_PROGRESS_FILE
from tests import faults
from tests.helpers import tiny_args
from tests.pipeline.sb3.test_off_policy_stop_resume import COMMON, STEPS, assert_buffer_holds_every_counted_step, \
    finish, train
from tests.pipeline.test_exact_resume import arrays, assert_same_run, environment

# After the run's first env step, inside its first rollout (DQN's has 4 steps, SAC's 1).
MID_ROLLOUT = "rlops.pipeline.telemetry:TelemetryCallback._on_step"
HINT = "press Ctrl-C again to stop at once"


def as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a shell may start a test's children with SIGINT ignored


def held_mid_rollout(cwd: Path, algorithm: str, name: str, *extra: str) -> tuple[subprocess.Popen, Path]:
    """A training run held inside its first rollout; touch the returned path to let it go on."""
    go = cwd / f"faults-{name}" / "go"
    env = faults.environment({MID_ROLLOUT: f"pause:{go}"}, go.parent, base=environment())
    args = tiny_args(algorithm, *COMMON, "--store.run-name", name, *extra, steps=STEPS)
    process = subprocess.Popen([sys.executable, "-m", "rlops", "train", *args], cwd=cwd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env, preexec_fn=as_in_a_terminal)
    faults.wait_for(go.with_name("go.ready"), process)
    return process, go


def acknowledged(run: Path, process: subprocess.Popen) -> dict:
    """The stop's acknowledgement (``stop_progress.json``), once the run has taken the first Ctrl-C."""
    faults.wait_for(run / STOP_PROGRESS_FILE, process)
    return json.loads((run / STOP_PROGRESS_FILE).read_text())


def ended(process: subprocess.Popen) -> str:
    out, err = process.communicate(timeout=600)
    # A stopped run exits 1 (commands_train: 0 only when finished), and ends itself: not 130, not a signal.
    assert process.returncode == 1, f"interrupted run exited {process.returncode}:\n{out}\n{err}"
    assert "Traceback" not in err, err
    return err


def last_record(run: Path):  # noqa: ANN201 - an end record
    return [record for _, record in read_records(run / "train_log.jsonl")][-1]


@pytest.mark.slow  # three subprocess trainings an algorithm: ~30 s at load 4
@pytest.mark.parametrize("algorithm", ["dqn", "sac"])
def test_ctrl_c_mid_rollout_stops_at_the_boundary_and_the_run_resumes_exactly(algorithm, tmp_path):
    whole = train(tmp_path, algorithm, "whole")
    try:
        process, go = held_mid_rollout(tmp_path, algorithm, "ctrl-c")
        process.send_signal(signal.SIGINT)
        assert acknowledged(tmp_path / "rlruns" / "ctrl-c", process)["reason"] == "interrupted"
        go.touch()
        err = ended(process)
    finally:
        finish(whole)

    assert HINT in err  # the terminal says what the first Ctrl-C did, and how to stop at once
    cut = tmp_path / "rlruns" / "ctrl-c"
    end = last_record(cut)
    assert (end.type, end.status, end.reason) == ("end", "stopped", "interrupted")
    stopped = latest_checkpoint(cut / "checkpoints")
    assert 1 <= stopped.env_steps < STEPS
    assert json.loads((stopped.path / "state.json").read_text())["env"]["exact"] is True
    assert_buffer_holds_every_counted_step(stopped.path)

    finish(train(tmp_path, algorithm, "ctrl-c", "--train.resume"))
    assert_same_run(cut, tmp_path / "rlruns" / "whole")
    a = arrays(latest_checkpoint(cut / "checkpoints").path / "replay_buffer.npz")
    b = arrays(latest_checkpoint(tmp_path / "rlruns" / "whole" / "checkpoints").path / "replay_buffer.npz")
    for key in ("pos", "observations", "next_observations", "actions", "rewards", "dones"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.slow  # one subprocess training: ~8 s
def test_a_second_ctrl_c_ends_the_run_at_once_without_waiting_for_the_rollout(tmp_path):
    # Rollouts of 50 steps: the first Ctrl-C (at the first step) would wait for the 50th.
    process, _ = held_mid_rollout(tmp_path, "dqn", "twice", "--agent.hyperparams",
                                  '{"learning_starts": 1000, "train_freq": 50}')
    run = tmp_path / "rlruns" / "twice"
    process.send_signal(signal.SIGINT)
    acknowledged(run, process)
    process.send_signal(signal.SIGINT)  # still held at the first step: only the second Ctrl-C lets it end
    ended(process)

    end = last_record(run)
    assert (end.type, end.status, end.reason) == ("end", "stopped", "interrupted")
    assert latest_checkpoint(run / "checkpoints").env_steps == 1  # where it was, not the rollout's end at 50
