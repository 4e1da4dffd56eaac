"""Small builders shared by the tests: tiny training runs on real envs."""

from __future__ import annotations

from rlops.options import resolve_options
from rlops.services.training import TrainResult, train

# Tiny budgets (CleanRL's smoke tests train for ~200 steps): enough to exercise every code path.
TINY = {
    "ppo": ["--env.env-id", "CartPole-v1", "--env.n-envs", "2", "--agent.hyperparams", '{"n_steps": 64}',
            "--train.batch-size", "32"],
    "a2c": ["--env.env-id", "CartPole-v1", "--env.n-envs", "2"],
    "dqn": ["--env.env-id", "CartPole-v1", "--env.n-envs", "1", "--agent.hyperparams", '{"learning_starts": 50}'],
    "sac": ["--env.env-id", "Pendulum-v1", "--env.n-envs", "1", "--agent.hyperparams", '{"learning_starts": 50}',
            "--train.batch-size", "32"],
    "td3": ["--env.env-id", "Pendulum-v1", "--env.n-envs", "1", "--agent.hyperparams", '{"learning_starts": 50}',
            "--train.batch-size", "32"],
}


def tiny_args(algorithm: str, *extra: str, steps: int = 256) -> list[str]:
    return ["--agent.algorithm", algorithm, *TINY[algorithm], "--train.total-timesteps", str(steps),
            "--env.seed", "1", "--eval.episodes", "2", "--train.device", "cpu", "--agent.net-arch", "[16]", *extra]


def train_tiny(algorithm: str, *extra: str, steps: int = 256) -> TrainResult:
    options = resolve_options(environ={}, args=tiny_args(algorithm, *extra, steps=steps)).options
    return train(options, progress=False)  # --train.resume among extra: the library resumes
