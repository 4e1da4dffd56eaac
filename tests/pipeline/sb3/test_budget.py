"""train.total_timesteps against what SB3 trains: whole rollouts, said once at the start."""

from __future__ import annotations

import logging

import pytest
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.env_util import make_vec_env

from rlops.pipeline.sb3.budget import plan
from tests.helpers import train_tiny


def test_ppo_defaults_round_4000_up_to_one_16384_step_rollout():
    venv = make_vec_env("CartPole-v1", n_envs=8)
    try:
        budget = plan(PPO("MlpPolicy", venv, device="cpu"), 4000)
    finally:
        venv.close()
    assert (budget.planned, budget.chunk) == (16384, 16384)
    assert budget.note.startswith("train.total_timesteps 4,000 will train 16,384 env steps: the learner takes whole "
                                  "rollouts of n_steps 2,048 x 8 envs = 16,384 env steps")
    assert plan_of_multiple(budget) is None


def plan_of_multiple(budget):
    from rlops.pipeline.sb3.budget import Budget

    return Budget(budget.chunk * 2, budget.chunk * 2, budget.chunk, budget.why).note


def test_off_policy_steps_round_to_train_freq_times_envs_and_a_resume_counts_from_its_checkpoint():
    venv = make_vec_env("CartPole-v1", n_envs=1)
    try:
        dqn = DQN("MlpPolicy", venv, device="cpu")  # train_freq 4 steps
    finally:
        venv.close()
    assert plan(dqn, 4001).planned == 4004 and plan(dqn, 4000).note is None
    assert plan(dqn, 4001, done=1000).planned == 4004  # 3,001 more in chunks of 4 from 1,000
    assert plan(object(), 100) is None


@pytest.mark.slow  # trainings as processes: 33 s at load 12
def test_training_says_once_at_the_start_what_it_will_train(caplog):
    caplog.set_level(logging.INFO, logger="rlops")
    result = train_tiny("ppo", steps=200)  # n_steps 64 x 2 envs: rollouts of 128
    notes = [r.getMessage() for r in caplog.records if "will train" in r.getMessage()]
    assert notes == ["train.total_timesteps 200 will train 256 env steps: the learner takes whole rollouts of "
                     "n_steps 64 x 2 envs = 128 env steps; to train closer to 200, lower agent.hyperparams n_steps "
                     "or env.n_envs (or ask for a multiple of 128)"]
    assert result.env_steps == 256
