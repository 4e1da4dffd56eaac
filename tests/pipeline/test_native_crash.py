"""A native crash (signal 6) leaves a failed run with its reason, not a lost one; a MuJoCo env
renders its evaluation frames on a machine with no display."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rlops.cli.app import main
from tests.helpers import tiny_args

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # a training process killed by abort: 36 s at load 12
def test_a_run_killed_by_abort_is_failed_with_the_reason(capsys):
    args = tiny_args("ppo", "--env.env-id", "tests.pipeline.aborting_env:aborting", "--env.env-kwargs",
                     '{"abort_at": 100}', "--store.run-name", "crashed")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "rlops", "train", *args], capture_output=True, text=True, env=env,
                          timeout=600)
    assert done.returncode == -signal.SIGABRT, done.stderr[-2000:]
    assert "Fatal Python error: Aborted" in Path("rlruns/crashed/fatal.log").read_text()
    assert main(["runs", "show", "crashed", "--json"]) == 0
    run = json.loads(capsys.readouterr()[0])
    assert run["status"] == "failed"
    assert run["reason"].startswith("native crash: Fatal Python error: Aborted at File ")
    assert "aborting_env.py" in run["reason"] and "fatal.log" in run["reason"]


def test_a_run_that_ends_in_python_keeps_no_fatal_log():
    assert main(["train", *tiny_args("a2c", "--store.run-name", "fine"), "--json"]) == 0
    assert not Path("rlruns/fine/fatal.log").exists()


@pytest.mark.slow  # a MuJoCo training with frames: 51 s at load 12
def test_a_mujoco_env_evaluates_with_frames_without_a_display(capsys):
    pytest.importorskip("mujoco", reason="the mujoco extra: pip install -c constraints.txt -e '.[mujoco]'")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MUJOCO_GL")}
    args = ["--agent.algorithm", "ppo", "--env.env-id", "InvertedPendulum-v5", "--env.n-envs", "1",
            "--agent.hyperparams", '{"n_steps": 64}', "--train.batch-size", "32", "--train.total-timesteps", "64",
            "--eval.episodes", "1", "--train.device", "cpu", "--store.run-name", "mj", "--json"]
    done = subprocess.run([sys.executable, "-m", "rlops", "train", *args], capture_output=True, text=True, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["status"] == "finished"
    assert list(Path("rlruns/mj/frames").rglob("*.png")), "no evaluation frames were written"


@pytest.mark.slow  # a training with frames: 34 s at load 12
def test_frames_that_cannot_be_rendered_are_skipped_with_one_line(caplog):
    import logging

    from tests.helpers import train_tiny

    caplog.set_level(logging.INFO, logger="rlops")
    result = train_tiny("ppo", "--env.env-id", "tests.pipeline.aborting_env:unrenderable", "--eval.frame-every", "1")
    assert result.status == "finished" and result.evaluation.episodes == 2
    skipped = [r.getMessage() for r in caplog.records if "frames skipped" in r.getMessage()]
    assert skipped == ["evaluation frames skipped: rendering failed (RuntimeError: an OpenGL platform library has "
                       "not been loaded into this process)"]
