"""Rendering without a display says nothing that looks like an error, and loading a policy to act
raises no training warning: only what concerns the user is printed."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest

from rlops.pipeline.headless import choose_headless_rendering
from rlops.pipeline.loading import load_policy, open_checkpoint
from tests.helpers import train_tiny


def test_no_display_chooses_the_headless_back_ends_and_keeps_what_the_user_set():
    headless = {"PATH": "/usr/bin", "MUJOCO_GL": "osmesa"}
    assert choose_headless_rendering(headless) == {"SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    assert headless["MUJOCO_GL"] == "osmesa" and headless["SDL_VIDEODRIVER"] == "dummy"
    assert choose_headless_rendering({"DISPLAY": ":0"}) == {}
    bare = {}
    choose_headless_rendering(bare)
    assert bare["MUJOCO_GL"] == "egl"


def _without_display() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "SDL_VIDEODRIVER", "SDL_AUDIODRIVER")}


@pytest.mark.slow  # train, eval and rollout as processes: 83 s at load 12
def test_eval_and_rollout_on_a_headless_machine_print_no_sdl_error_and_no_warning():
    result = train_tiny("ppo", "--agent.hyperparams", '{"n_steps": 48}', "--train.batch-size", "32", steps=96)
    env = _without_display()
    for command in (["eval", str(result.run.path), "--eval.episodes", "1"],
                    ["rollout", "--model", str(result.run.path), "--steps", "5", "-o", "roll"]):
        done = subprocess.run([sys.executable, "-W", "default", "-m", "rlops", *command], capture_output=True,
                              text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "XDG_RUNTIME_DIR" not in done.stderr and "Warning" not in done.stderr, done.stderr


def test_a_policy_loaded_to_act_raises_no_mini_batch_warning():
    # 48 x 1 env is no multiple of 32: PPO would warn that its mini-batches are truncated.
    result = train_tiny("ppo", "--agent.hyperparams", '{"n_steps": 48}', "--train.batch-size", "32", steps=96)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_policy(open_checkpoint(result.run.path), device="cpu")
    loaded.close()
