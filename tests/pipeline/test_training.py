"""Each algorithm trains a few hundred steps on a fitting env; its run directory, checkpoint
manifest and evaluation are real and load back."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rlops.pipeline.checkpoints import latest_checkpoint, verify_files
from rlops.pipeline.evaluate import evaluate_policy_of
from rlops.pipeline.loading import load_policy, open_checkpoint
from rlops.pipeline.sb3.observations import find_normalizer
from tests.helpers import train_tiny

EXPECTED_FILES = {  # env_state.npz: classic-control envs are put back mid-episode on resume
    "ppo": {"parameters.pt", "state.json", "env_state.npz"},
    "a2c": {"parameters.pt", "state.json", "env_state.npz"},
    "dqn": {"parameters.pt", "state.json", "replay_buffer.npz", "env_state.npz"},
    "sac": {"parameters.pt", "state.json", "replay_buffer.npz", "variables.pt", "env_state.npz"},
    "td3": {"parameters.pt", "state.json", "replay_buffer.npz", "env_state.npz"},
}
SLOW_ALGORITHMS = {"sac", "td3"}  # Pendulum with an update every step: 91 s and 47 s at load 12 (ppo: 24 s)


@pytest.mark.parametrize("algorithm", [pytest.param(name, marks=pytest.mark.slow) if name in SLOW_ALGORITHMS else name
                                       for name in sorted(EXPECTED_FILES)])
def test_algorithm_trains_checkpoints_and_evaluates(algorithm, memory_sink):
    result = train_tiny(algorithm, "--train.checkpoint-freq", "128")
    run = result.run
    assert result.status == "finished" and result.env_steps >= 256
    options = json.loads(run.options_file.read_text())
    assert options["agent"]["algorithm"] == algorithm and options["env"]["seed"] == 1

    checkpoint = latest_checkpoint(run.checkpoints)
    assert checkpoint.env_steps == result.env_steps
    # each checkpoint on disk has its record, in order, the last one the result's
    on_disk = sorted(run.checkpoints.glob("step-*"))
    recorded = [(r.path, r.env_steps, r.sha256) for r in memory_sink.records if r.type == "checkpoint"]
    assert [path for path, _, _ in recorded] == [f"checkpoints/{path.name}" for path in on_disk]
    assert len(recorded) >= 2 and recorded[-1][:2] == (f"checkpoints/{checkpoint.path.name}", result.env_steps)
    assert all(len(sha) == 64 for _, _, sha in recorded)
    assert set(checkpoint.manifest["files"]) == EXPECTED_FILES[algorithm]
    assert all(len(entry["sha256"]) == 64 for entry in checkpoint.manifest["files"].values())
    assert verify_files(checkpoint) == []
    assert checkpoint.manifest["options"]["agent"]["algorithm"] == algorithm
    assert len(list(run.checkpoints.glob("step-*"))) >= 2  # periodic ones plus the final one

    evaluation = json.loads(run.eval_file.read_text())
    assert evaluation["episodes"] == 2 and evaluation["checkpoint"] == str(checkpoint.path)

    loaded = load_policy(open_checkpoint(run.path), device="cpu")
    try:
        again = evaluate_policy_of(loaded, episodes=2)
    finally:
        loaded.close()
    assert again.episodes == 2 and np.isfinite(again.mean_reward)


@pytest.mark.slow  # three trainings: 64 s at load 12
def test_same_seed_same_options_same_result():
    first = train_tiny("ppo", "--store.run-name", "a")
    second = train_tiny("ppo", "--store.run-name", "b")
    third = train_tiny("ppo", "--store.run-name", "c", "--env.seed", "2")
    params = [torch.load(r.checkpoint.path / "parameters.pt", weights_only=True)["policy"] for r in (first, second, third)]
    assert params[0].keys() == params[1].keys()
    assert all(torch.equal(params[0][k], params[1][k]) for k in params[0])
    assert not all(torch.equal(params[0][k], params[2][k]) for k in params[0])
    assert first.evaluation.rewards == second.evaluation.rewards


def test_normalization_statistics_travel_with_the_model():
    result = train_tiny("ppo", "--obs.normalize", "all", "--obs.stack-frames", "2")
    with np.load(result.checkpoint.path / "normalization.npz") as saved:
        mean, count = saved["obs.mean"], float(saved["obs.count"])
    assert count > 100  # trained statistics, not fresh ones
    loaded = load_policy(result.checkpoint, device="cpu")
    try:
        normalizer = find_normalizer(loaded.venv)
        assert normalizer is not None and not normalizer.training and not normalizer.norm_reward
        np.testing.assert_array_equal(normalizer.obs_rms.mean, mean)
        assert loaded.venv.observation_space.shape == (8,)  # 4 CartPole features x 2 frames
    finally:
        loaded.close()


@pytest.mark.slow  # a training and its resume: 32 s at load 12
def test_resume_continues_the_timestep_count_with_the_same_statistics(memory_sink):
    common = ("--obs.normalize", "obs", "--train.checkpoint-freq", "100", "--store.run-name", "r")
    first = train_tiny("dqn", *common, steps=300)
    state = json.loads((first.checkpoint.path / "state.json").read_text())
    assert state["counters"]["num_timesteps"] == 300 and state["env"]["exact"] is True
    memory_sink.clear()
    resumed = train_tiny("dqn", *common, "--train.resume", steps=500)

    # The count continues exactly: the new process says where it starts, and every record after it
    # counts on from 300 (none from 0), up to the budget.
    records = memory_sink.records
    assert [r.type for r in records[:2]] == ["meta", "resume"]
    assert (records[1].checkpoint, records[1].env_steps) == ("checkpoints/step-000000000300", 300)
    counted = [r.env_steps for r in records[2:] if r.type in ("episode", "metrics", "checkpoint")]
    assert counted == sorted(counted) and 300 < counted[0] and counted[-1] == 500
    assert [r.env_steps for r in records if r.type == "checkpoint"] == [400, 500]
    steps = sorted(int(p.name.split("-")[1]) for p in resumed.run.checkpoints.glob("step-*"))
    assert steps == [100, 200, 300, 400, 500]

    # The same statistics: the checkpoint's at 400 are the checkpoint's at 300 updated with exactly
    # the 100 observations seen since, which the replay buffer keeps raw: the resumed normalizer
    # started from the saved one, and the envs were put back mid-episode (a reset, or statistics
    # started afresh, would not add up). Row k of the buffer holds the observation step k returned:
    # a checkpoint is taken at a rollout boundary, after SB3 stored the step's transition.
    with np.load(resumed.run.checkpoints / "step-000000000500" / "replay_buffer.npz") as buffer:
        seen = buffer["observations"][301:401, 0, :]
    count, mean, var = combined(*obs_statistics(first.checkpoint.path), seen)
    got = obs_statistics(resumed.run.checkpoints / "step-000000000400")
    assert got[0] == pytest.approx(count) == pytest.approx(401, abs=0.01)  # one observation a step, and the reset's
    np.testing.assert_allclose(got[1], mean, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got[2], var, rtol=1e-6, atol=1e-7)
    # The replay buffer came back: the resumed learner did not wait for learning_starts again.
    resumed_state = json.loads((resumed.checkpoint.path / "state.json").read_text())
    assert resumed_state["counters"]["_n_updates"] > state["counters"]["_n_updates"]


def obs_statistics(checkpoint) -> tuple[float, np.ndarray, np.ndarray]:  # noqa: ANN001 - a Path
    with np.load(checkpoint / "normalization.npz") as saved:
        return float(saved["obs.count"]), saved["obs.mean"].copy(), saved["obs.var"].copy()


def combined(count: float, mean: np.ndarray, var: np.ndarray, batch: np.ndarray) -> tuple:
    """Running statistics updated with ``batch`` (Chan et al.'s parallel update, as SB3's RunningMeanStd)."""
    n = len(batch)
    delta, total = batch.mean(axis=0) - mean, count + n
    squares = var * count + batch.var(axis=0) * n + delta**2 * count * n / total
    return total, mean + delta * n / total, squares / total
