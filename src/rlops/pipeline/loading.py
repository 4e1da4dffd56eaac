"""Loading a checkpoint for evaluation or inference: rebuild env and model from the options it
carries, then restore the policy and the normalization statistics it was trained with."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from rlops.errors import CheckpointCorruptError, RlopsError
from rlops.options.schema import Options
from rlops.pipeline.agent_state import restore_agent
from rlops.pipeline.algorithms import build_model, get_algorithm
from rlops.pipeline.checkpoints import Checkpoint, latest_checkpoint, read_checkpoint
from rlops.pipeline.engine import engine_named
from rlops.pipeline.envs import make_vector_env
from rlops.pipeline.observations import wrap_observations

EVAL_SEED_OFFSET = 10_000  # evaluation episodes never replay the training seeds


@dataclass
class LoadedPolicy:
    checkpoint: Checkpoint
    options: Options
    model: BaseAlgorithm
    venv: VecEnv

    def close(self) -> None:
        self.venv.close()


def open_checkpoint(path: str | Path) -> Checkpoint:
    """A checkpoint directory, or a run directory (its newest intact checkpoint)."""
    path = Path(path)
    if (path / "checkpoints").is_dir():
        return latest_checkpoint(path / "checkpoints")
    if path.is_dir() and not (path / "manifest.json").exists() and any(path.glob("step-*")):
        return latest_checkpoint(path)
    return read_checkpoint(path)


def load_policy(checkpoint: Checkpoint, device: str = "auto", n_envs: int = 1,
                render_mode: str | None = None) -> LoadedPolicy:
    try:
        options = Options.model_validate(checkpoint.options)
    except Exception as exc:  # pydantic's error, on a manifest written by another version
        raise CheckpointCorruptError(f"checkpoint {checkpoint.path} carries options this rlops cannot read: {exc}") from None
    options.train.device = device
    options.env.vectorization = "sync"
    if checkpoint.manifest.get("policy_format") == "torchscript":  # an exported graph: the offline runner's
        from rlops.pipeline.torchscript_policy import load_torchscript_policy

        return load_torchscript_policy(checkpoint, options, n_envs, render_mode)
    engine = engine_named(options.train.engine)
    if engine is not None:  # a checkpoint of another engine (train.engine = vector) loads through it
        return engine.load(checkpoint, options, device, n_envs, render_mode)
    seed = (options.env.seed or 0) + EVAL_SEED_OFFSET
    venv = make_vector_env(options.env, seed=seed, n_envs=n_envs, render_mode=render_mode)
    try:
        gamma = options.train.gamma or 0.99
        venv = wrap_observations(venv, options.obs, gamma, training=False)
        if get_algorithm(options.agent.algorithm).off_policy:
            # The replay buffer is not needed to act; keep it minimal.
            options.agent.hyperparams = {**options.agent.hyperparams, "buffer_size": 1, "learning_starts": 0}
        with warnings.catch_warnings():
            # PPO warns when n_steps x n_envs is no multiple of the batch size: true of a policy
            # rebuilt on one env to act, which never trains, and noise on every eval and infer.
            warnings.filterwarnings("ignore", message="You have specified a mini-batch size", category=UserWarning)
            model = build_model(options, venv, seed)
        restore_agent(model, venv, checkpoint, with_training_state=False)
    except RlopsError:
        venv.close()
        raise
    return LoadedPolicy(checkpoint, options, model, venv)
