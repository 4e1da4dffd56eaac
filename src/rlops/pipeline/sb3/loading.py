"""Loading an SB3 checkpoint: rebuild env and model from the options it carries, then restore
the policy and the normalization statistics it was trained with."""

from __future__ import annotations

import warnings

from rlops.errors import RlopsError
from rlops.options.schema import Options
from rlops.pipeline.checkpoints import Checkpoint
from rlops.pipeline.envs import make_vector_env
from rlops.pipeline.loading import EVAL_SEED_OFFSET, LoadedPolicy
from rlops.pipeline.sb3.agent_state import restore_agent
from rlops.pipeline.sb3.algorithms import build_model, get_algorithm
from rlops.pipeline.sb3.observations import wrap_observations


def load_sb3_policy(checkpoint: Checkpoint, options: Options, n_envs: int, render_mode: str | None) -> LoadedPolicy:
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
