"""A run killed after a checkpoint and resumed is the uninterrupted run: same timesteps, schedule
position, normalization statistics and parameters (CartPole's state can be put back exactly)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from rlops.events.validate import validate_log
from rlops.pipeline.checkpoints import latest_checkpoint, list_checkpoints
from tests.helpers import tiny_args, train_tiny

def ppo_args(run_name: str, steps: int, freq: int, *extra: str) -> list[str]:
    return tiny_args("ppo", *ppo_extra(run_name, freq, *extra), steps=steps)


def environment() -> dict[str, str]:
    # One torch thread: a tiny network's update is faster alone than fighting for a busy machine's cores.
    return {**{k: v for k, v in os.environ.items() if not k.startswith("RL_")}, "OMP_NUM_THREADS": "1"}


def rlops(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rlops", "train", *args], capture_output=True, text=True,
                          timeout=timeout, env=environment())


def kill_after_checkpoint(args: list[str], run_dir: Path, step: int) -> None:
    """Start a training process and SIGKILL it once the checkpoint at ``step`` is complete."""
    process = subprocess.Popen([sys.executable, "-m", "rlops", "train", *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=environment())
    target = run_dir / "checkpoints" / f"step-{step:012d}" / "manifest.json"
    deadline = time.monotonic() + 300
    while not target.exists():
        assert process.poll() is None, "the run ended before the checkpoint it should be killed after"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()


def state(checkpoint: Path) -> dict:
    return json.loads((checkpoint / "state.json").read_text())


def arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def assert_same_run(resumed: Path, uninterrupted: Path) -> None:
    a, b = latest_checkpoint(resumed / "checkpoints"), latest_checkpoint(uninterrupted / "checkpoints")
    assert a.env_steps == b.env_steps
    sa, sb = state(a.path)["counters"], state(b.path)["counters"]
    for name in ("num_timesteps", "_n_updates", "_current_progress_remaining", "_episode_num"):
        assert sa.get(name) == sb.get(name), name
    pa = torch.load(a.path / "parameters.pt", weights_only=True)
    pb = torch.load(b.path / "parameters.pt", weights_only=True)
    for key, tensor in pb["policy"].items():
        torch.testing.assert_close(pa["policy"][key], tensor, rtol=0, atol=1e-6, msg=key)
    if (b.path / "normalization.npz").exists():
        na, nb = arrays(a.path / "normalization.npz"), arrays(b.path / "normalization.npz")
        assert set(na) == set(nb)
        for key in nb:
            np.testing.assert_allclose(na[key], nb[key], rtol=0, atol=1e-9, err_msg=key)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # two runs of 6,000 steps: minutes on a busy machine
def test_a_ppo_run_killed_after_a_checkpoint_and_resumed_is_the_uninterrupted_run():
    # The case: PPO, 2 envs, n_steps 64, checkpoint_freq 500, seed 11, 6,000 steps.
    steps, freq = 6000, 500
    done = rlops(*ppo_args("whole", steps, freq))
    assert done.returncode == 0, done.stderr
    whole = Path("rlruns/whole")
    # Checkpoints land on rollout boundaries (128 steps): the first after each multiple of 500.
    assert [int(p.name[5:]) for p in reversed(list_checkpoints(whole / "checkpoints"))][:3] == [512, 1024, 1536]

    args = ppo_args("cut", steps, freq)
    kill_after_checkpoint(args, Path("rlruns/cut"), 1536)
    resumed = rlops(*args, "--train.resume")
    assert resumed.returncode == 0, resumed.stderr
    assert latest_checkpoint(Path("rlruns/cut/checkpoints")).env_steps == 6016  # not 6,108
    assert_same_run(Path("rlruns/cut"), whole)
    assert validate_log(Path("rlruns/cut/train_log.jsonl")).ok


def sigterm_after_checkpoint(run_dir: Path, step: int) -> threading.Thread:
    """SIGTERM this process (as a supervisor's stop would) once the checkpoint at ``step`` is complete."""
    target = run_dir / "checkpoints" / f"step-{step:012d}" / "manifest.json"

    def watch() -> None:
        deadline = time.monotonic() + 120
        while not target.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow  # two runs and a resume: 94 s at load 12
def test_a_stopped_run_resumes_exactly_with_normalized_observations_and_rewards():
    steps, freq = 512, 200
    extra = ("--obs.normalize", "all")
    train_tiny("ppo", *ppo_extra("whole", freq, *extra), steps=steps)
    watcher = sigterm_after_checkpoint(Path("rlruns/cut"), 256)
    stopped = train_tiny("ppo", *ppo_extra("cut", freq, *extra), steps=steps)
    watcher.join()
    # Stopped inside a rollout: its checkpoint is a rollout boundary (a multiple of 128 steps).
    assert stopped.status == "stopped" and stopped.checkpoint.env_steps % 128 == 0
    assert 256 <= stopped.checkpoint.env_steps < 512
    resumed = train_tiny("ppo", *ppo_extra("cut", freq, *extra, "--train.resume"), steps=steps)
    assert resumed.status == "finished" and resumed.env_steps == 512
    assert_same_run(Path("rlruns/cut"), Path("rlruns/whole"))
    restored = state(stopped.checkpoint.path)
    assert restored["env"]["exact"] is True and len(restored["env"]["envs"]) == 2  # envs put back mid-episode
    assert validate_log(Path("rlruns/cut/train_log.jsonl")).ok


def ppo_extra(run_name: str, freq: int, *extra: str) -> list[str]:
    return ["--env.seed", "11", "--train.checkpoint-freq", str(freq), "--store.run-name", run_name,
            "--registry.enable", "false", "--eval.episodes", "1", *extra]
