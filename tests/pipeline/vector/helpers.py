"""Tiny vector-engine runs for the tests (a few hundred env steps on real envs)."""

from __future__ import annotations

from rlops.options import resolve_options
from rlops.services.training import TrainResult, train

CARTPOLE = ["--env.env-id", "CartPole-v1", "--env.n-envs", "8", "--agent.hyperparams",
            '{"n_steps": 16, "n_epochs": 2, "n_minibatches": 2}']
PENDULUM = ["--env.env-id", "Pendulum-v1", "--env.n-envs", "2", "--agent.hyperparams",
            '{"n_steps": 32, "n_epochs": 1, "n_minibatches": 2}']


def vector_args(*extra: str, steps: int = 256, env: list[str] = CARTPOLE) -> list[str]:
    return ["--train.engine", "vector", *env, "--train.total-timesteps", str(steps), "--env.seed", "1",
            "--eval.episodes", "2", "--train.device", "cpu", "--agent.net-arch", "[16]", *extra]


def train_vector_tiny(*extra: str, steps: int = 256, env: list[str] = CARTPOLE) -> TrainResult:
    options = resolve_options(environ={}, args=vector_args(*extra, steps=steps, env=env)).options
    return train(options, progress=False)


def resume_tiny(run_name: str, *extra: str, steps: int, env: list[str] = CARTPOLE) -> TrainResult:
    """``rlops train --train.resume`` through the library: the saved options, then the new arguments."""
    args = [*vector_args(*extra, steps=steps, env=env), "--store.run-name", run_name]
    return train(resolve_options(environ={}, args=args).options, progress=False, resume=True)
