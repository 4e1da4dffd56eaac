"""A stopped off-policy run (SIGTERM, as ``rlops runs stop`` sends) checkpoints a state the
uninterrupted run passes through: every env step it counted is in the replay buffer, once, and a
``--train.resume`` continues it exactly, parameters and replay buffer included.

SB3 asks the callbacks whether to go on after the env stepped but before it stores the step's
transition; a stop honoured there counted a step that the buffer lacked, with the envs one step
ahead of the learner's last observation.
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
from tests.pipeline.test_exact_resume import arrays, assert_same_run, environment, state

STEPS, PAUSED_AT = 300, 100
COMMON = ("--train.checkpoint-freq", str(PAUSED_AT), "--registry.enable", "false", "--eval.episodes", "1")


def train(cwd: Path, algorithm: str, name: str, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    args = tiny_args(algorithm, *COMMON, "--store.run-name", name, *extra, steps=STEPS)
    return subprocess.Popen([sys.executable, "-m", "rlops", "train", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env or environment())


def finish(process: subprocess.Popen) -> None:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, f"{process.args} exited {process.returncode}:\n{out}\n{err}"


# Where the stop lands: right after the checkpoint at PAUSED_AT steps (the next rollout has not
# stepped yet), or after the run's first env step, inside its first rollout (DQN's has 4 steps).
INSTANTS = {"boundary": "rlops.pipeline.sb3.session:save_checkpoint",
            "mid-rollout": "rlops.pipeline.telemetry:TelemetryCallback._on_step"}


def stop_at(cwd: Path, algorithm: str, name: str, instant: str, *extra: str) -> None:
    """Hold the run at ``instant``, SIGTERM it there, let it go on: the stop is honoured at the run's
    next step, where SB3 has stepped the envs and counted the step but not stored its transition."""
    go = cwd / f"faults-{name}" / "go"
    env = faults.environment({INSTANTS[instant]: f"pause:{go}"}, go.parent, base=environment())
    process = train(cwd, algorithm, name, *extra, env=env)
    faults.wait_for(go.with_name("go.ready"), process)
    process.send_signal(signal.SIGTERM)
    go.touch()
    out, err = process.communicate(timeout=600)
    assert process.returncode >= 0, f"stopped run was killed ({process.returncode}):\n{out}\n{err}"  # it ended itself


def assert_buffer_holds_every_counted_step(checkpoint: Path) -> None:
    """One env: each counted step is one transition, in order, chained to the learner's last observation."""
    counted = state(checkpoint)["counters"]["num_timesteps"]
    buffer = arrays(checkpoint / "replay_buffer.npz")
    assert not buffer["full"] and int(buffer["pos"]) == counted, (int(buffer["pos"]), counted)
    pos = int(buffer["pos"])
    observations, following, dones = buffer["observations"][:pos, 0], buffer["next_observations"][:pos, 0], \
        buffer["dones"][:pos, 0]
    within = ~dones[:-1].astype(bool)  # inside an episode a step starts where the one before ended
    np.testing.assert_array_equal(observations[1:][within], following[:-1][within])
    learner = arrays(checkpoint / "env_state.npz")
    if not dones[-1]:
        np.testing.assert_array_equal(learner["last_obs"][0], following[-1])  # the next step starts from it


@pytest.mark.slow  # three subprocess trainings an algorithm: ~40 s at load 4
@pytest.mark.parametrize("algorithm", ["dqn", "sac"])
def test_a_stopped_off_policy_run_resumes_exactly_with_no_transition_lost_or_doubled(algorithm, tmp_path):
    whole = train(tmp_path, algorithm, "whole")
    try:
        for instant in INSTANTS:
            stop_at(tmp_path, algorithm, instant, instant)
    finally:
        finish(whole)

    for instant, earliest in (("boundary", PAUSED_AT), ("mid-rollout", 1)):
        cut = tmp_path / "rlruns" / instant
        records = [record for _, record in read_records(cut / "train_log.jsonl")]
        assert records[-1].type == "end" and records[-1].status == "stopped", instant
        stopped = latest_checkpoint(cut / "checkpoints")
        assert earliest <= stopped.env_steps < STEPS, instant
        assert json.loads((stopped.path / "state.json").read_text())["env"]["exact"] is True
        assert_buffer_holds_every_counted_step(stopped.path)

        finish(train(tmp_path, algorithm, instant, "--train.resume"))
        assert_same_run(cut, tmp_path / "rlruns" / "whole")
        a = arrays(latest_checkpoint(cut / "checkpoints").path / "replay_buffer.npz")
        b = arrays(latest_checkpoint(tmp_path / "rlruns" / "whole" / "checkpoints").path / "replay_buffer.npz")
        for key in ("pos", "observations", "next_observations", "actions", "rewards", "dones"):
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{instant}: {key}")


@pytest.mark.slow  # one subprocess training: ~8 s
def test_a_stop_that_waits_for_the_end_of_a_rollout_shows_progress_at_every_env_step(tmp_path):
    # Rollouts of 50 steps and no update yet: only the env steps of the wait can show progress,
    # and the orchestrator SIGKILLs a stopping run whose progress stands still for its grace.
    stop_at(tmp_path, "dqn", "waiting", "mid-rollout", "--agent.hyperparams",
            '{"learning_starts": 1000, "train_freq": 50}')
    run = tmp_path / "rlruns" / "waiting"
    assert latest_checkpoint(run / "checkpoints").env_steps == 50  # the rollout's end
    progress = json.loads((run / STOP_PROGRESS_FILE).read_text())
    assert progress["reason"] == "terminated" and progress["phase"] == "checkpoint written"
    assert progress["progress"] >= 48, progress  # each step from the stop (at the 2nd) to the 50th, and the save
