"""``train.engine = vector`` leaves what an SB3 run leaves: a run directory whose log validates,
checkpoints in the same format, registry rows, an evaluation recorded for replay; and its
models load for eval, infer and warm start."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rlops.errors import UnknownNameError, UsageError
from rlops.events.validate import validate_log
from rlops.pipeline.checkpoints import latest_checkpoint, verify_files
from rlops.pipeline.evaluate import evaluate_policy_of
from rlops.pipeline.infer import run_episodes
from rlops.pipeline.loading import load_policy, open_checkpoint
from rlops.store.registry import Registry
from tests.pipeline.vector.helpers import PENDULUM, train_vector_tiny

FILES = {"parameters.pt", "normalization.npz", "rollout.npz", "state.json"}


def records(run, kind):
    lines = [json.loads(line) for line in run.events_file.read_text().splitlines()]
    return [r for r in lines if r["type"] == kind]


def test_cartpole_run_leaves_the_same_product_as_an_sb3_run():
    result = train_vector_tiny("--train.checkpoint-freq", "128", "--store.run-name", "vec")
    run = result.run
    assert result.status == "finished" and result.env_steps == 256
    report = validate_log(run.events_file)
    assert report.ok, report.anomalies
    metrics = records(run, "metrics")
    assert [m["env_steps"] for m in metrics] == [128, 256]  # one record per rollout of 16 steps x 8 envs
    for key in ("train/value_loss", "train/policy_gradient_loss", "train/approx_kl", "train/clip_fraction",
                "train/explained_variance", "train/learning_rate", "done_rate", "trunc_rate", "reset_rate",
                "reward_mean", "entropy_mean", "value_mean", "value_std", "rollout/ep_rew_mean"):
        assert key in metrics[-1], key
    assert sum(metrics[-1]["action_hist"]) == 128 and len(metrics[-1]["action_hist"]) == 2
    episodes = records(run, "episode")
    assert episodes and all(e["length"] > 0 and e["return"] == e["length"] for e in episodes)  # CartPole: 1 a step
    assert records(run, "meta")[0]["config"]["train"]["engine"] == "vector"
    assert len(records(run, "step")) > 0 and records(run, "eval")[-1]["episodes"] == 2
    assert records(run, "end")[-1]["status"] == "finished"

    checkpoint = latest_checkpoint(run.checkpoints)
    assert set(checkpoint.manifest["files"]) == FILES and verify_files(checkpoint) == []
    assert checkpoint.manifest["engine"] == "vector" and checkpoint.env_steps == 256
    assert len(list(run.checkpoints.glob("step-*"))) == 2
    registry = Registry("rlruns/rlops.db")
    try:
        rows = registry.list(env_id="CartPole-v1")
    finally:
        registry.close()
    assert {row["id"] for row in rows} == {result.model_id, result.model_id - 1}
    final = next(row for row in rows if row["id"] == result.model_id)
    assert final["mean_reward"] == pytest.approx(result.evaluation.mean_reward) and final["run_id"] == "vec"


def test_a_vector_model_loads_for_eval_and_infer():
    result = train_vector_tiny(steps=128)
    loaded = load_policy(open_checkpoint(result.run.path), device="cpu")
    try:
        evaluation = evaluate_policy_of(loaded, episodes=3)
        episodes = list(run_episodes(loaded, 2))
    finally:
        loaded.close()
    assert evaluation.episodes == 3 and evaluation.mean_reward > 0
    assert [e.index for e in episodes] == [0, 1] and all(sum(e.actions.values()) == e.length for e in episodes)


@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_pendulum_continuous_actions(vectorization):
    result = train_vector_tiny("--env.vectorization", vectorization, "--obs.normalize", "all", env=PENDULUM, steps=128)
    assert result.status == "finished" and validate_log(result.run.events_file).ok
    metrics = records(result.run, "metrics")[-1]
    assert "train/std" in metrics and "action_hist" not in metrics
    with np.load(result.checkpoint.path / "normalization.npz") as stats:
        assert stats["obs_count"] > 128 and stats["obs_mean"].shape == (3,)  # Pendulum's cos, sin, velocity
    loaded = load_policy(result.checkpoint, device="cpu")
    try:
        actions, _ = loaded.model.predict(np.zeros((5, 3), np.float32), deterministic=False)
    finally:
        loaded.close()
    assert actions.shape == (5, 1) and np.all(np.abs(actions) <= 2.0)  # clipped into Pendulum's bounds


def test_tanh_squashed_actions_stay_inside_the_bounds():
    result = train_vector_tiny("--agent.hyperparams", '{"n_steps": 32, "squash_actions": true, "log_std_init": 1.0}',
                               env=PENDULUM[:4], steps=64)
    loaded = load_policy(result.checkpoint, device="cpu")
    try:
        actions, _ = loaded.model.predict(np.random.default_rng(0).normal(size=(256, 3)), deterministic=False)
    finally:
        loaded.close()
    assert np.all(np.abs(actions) < 2.0) and actions.std() > 0.5


def test_a2c_trains_one_epoch_without_clipping():
    result = train_vector_tiny("--agent.algorithm", "a2c", "--agent.hyperparams", '{"n_steps": 8}', steps=128)
    metrics = records(result.run, "metrics")
    assert len(metrics) == 2 and metrics[-1]["opt_steps"] == 2  # one gradient step per rollout


def test_warm_start_from_a_vector_model_records_its_parent():
    parent = train_vector_tiny("--store.run-name", "parent", steps=128)
    child = train_vector_tiny("--store.run-name", "child", "--train.init-from", str(parent.run.path), steps=128)
    registry = Registry("rlruns/rlops.db")
    try:
        assert registry.get(child.model_id)["parent_model_id"] == parent.model_id
    finally:
        registry.close()


def test_a_misspelt_hyperparameter_says_what_was_meant():
    with pytest.raises(UnknownNameError, match="did you mean 'n_epochs'"):
        train_vector_tiny("--agent.hyperparams", '{"n_epoch": 3}')
    with pytest.raises(UsageError, match="train.engine=vector trains ppo and a2c"):
        train_vector_tiny("--agent.algorithm", "dqn")
    with pytest.raises(UsageError, match="train.batch_size"):
        train_vector_tiny("--agent.hyperparams", '{"batch_size": 64}')


@pytest.mark.filterwarnings("ignore:.*precision lowered:UserWarning")  # EnvPool builds float64 Box bounds
def test_envpool_envs_train_where_envpool_is_installed():
    pytest.importorskip("envpool")
    result = train_vector_tiny("--env.vectorization", "envpool", steps=256)
    assert result.status == "finished" and validate_log(result.run.events_file).ok
    assert records(result.run, "episode") and result.evaluation.episodes == 2


def test_vector_entry_point_needs_an_env_that_has_one():
    with pytest.raises(UsageError, match="has no vector_entry_point"):
        train_vector_tiny("--env.vectorization", "vector_entry_point", env=PENDULUM)
