"""A custom agent runtime: tabular Q-learning (FrozenLake, Taxi, CliffWalking), run by the
``command`` runner. It is the shape of the seeds' BDI agent: its own loop, its own checkpoint,
rlops only supervising, recording and registering.

    rlops runs start --runner command -- python examples/qlearning_agent.py --env Taxi-v3 --episodes 2000

It prints schema v1 records on stdout, one per line (``meta``, ``metrics``, ``episode``,
``checkpoint``, ``eval``): the run's log. It writes its Q-table in the Q-table checkpoint format
(``rlops.pipeline.qtable``: a .npy array plus a manifest of hashes, loaded without unpickling) under
``$RLOPS_RUN_DIR/checkpoints/``, registers it in the registry named by the usual options
(``RL_STORE_DB_PATH`` ...), evaluates it greedily and applies the registry's validation rules,
so the play page can deploy it in agent and hybrid modes. docs/agents.md explains the contract.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np


def emit(record_type: str, **fields: object) -> None:
    """One record: the envelope's ids and numbering are the worker's (RLOPS_RUN_ID, seq)."""
    print(json.dumps({"v": 1, "type": record_type, "t": time.time(), **fields}), flush=True)


def train(env: gym.Env, episodes: int, alpha: float, gamma: float, seed: int) -> tuple[np.ndarray, int]:
    rng = np.random.default_rng(seed)
    q = np.zeros((env.observation_space.n, env.action_space.n))
    steps = 0
    returns: list[float] = []
    for episode in range(episodes):
        epsilon = max(0.05, 1.0 - episode / (0.6 * episodes))  # explore first, exploit later
        state, _ = env.reset(seed=seed + episode)
        done, total, length = False, 0.0, 0
        while not done:
            action = int(rng.integers(env.action_space.n)) if rng.random() < epsilon else int(np.argmax(q[state]))
            nxt, reward, terminated, truncated, _ = env.step(action)
            target = reward + (0.0 if terminated else gamma * np.max(q[nxt]))
            q[state, action] += alpha * (target - q[state, action])
            state, done = nxt, terminated or truncated
            total, length, steps = total + float(reward), length + 1, steps + 1
        returns.append(total)
        emit("episode", episode=episode, **{"return": total}, length=length, env_steps=steps)
        if (episode + 1) % 100 == 0:
            emit("metrics", env_steps=steps, reward_mean=float(np.mean(returns[-100:])), epsilon=epsilon)
    return q, steps


def evaluate(env: gym.Env, q: np.ndarray, episodes: int, seed: int) -> tuple[float, float, float]:
    returns, lengths = [], []
    for episode in range(episodes):
        state, _ = env.reset(seed=seed + 100_000 + episode)
        done, total, length = False, 0.0, 0
        while not done:
            state, reward, terminated, truncated, _ = env.step(int(np.argmax(q[state])))
            done, total, length = terminated or truncated, total + float(reward), length + 1
        returns.append(total)
        lengths.append(length)
    return float(np.mean(returns)), float(np.std(returns)), float(np.mean(lengths))


def register(path: Path, env_id: str, steps: int, evaluation: tuple[float, float, float], episodes: int) -> None:
    """The registry row of the Q-table, its evaluation and the validation rules' verdict."""
    from rlops.options import resolve_options
    from rlops.services.registry_ops import rules_from, validate
    from rlops.store.registry import Registry

    options = resolve_options(environ=dict(os.environ), args=[]).options
    registry = Registry(options.store.db_path)
    try:
        model_id = registry.add(path, "qlearning", env_id, total_timesteps=steps, run_id=os.environ.get("RLOPS_RUN_ID"))
        registry.set_evaluation(model_id, *evaluation, episodes)
        verdict = validate(registry, model_id, rules_from(options.registry))
    finally:
        registry.close()
    print(f"registered Q-table as model {model_id} (validated: {verdict.validated})", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="FrozenLake-v1")
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--gamma", type=float, default=0.99)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-register", action="store_true")
    args = parser.parse_args()

    from rlops.pipeline.qtable import write_qtable

    env = gym.make(args.env)
    if not isinstance(env.observation_space, gym.spaces.Discrete) or not isinstance(env.action_space, gym.spaces.Discrete):
        print(f"error: {args.env} is not tabular (Discrete observations and actions); try FrozenLake-v1 or Taxi-v3",
              file=sys.stderr)
        return 2
    emit("meta", config={"env": {"env_id": args.env}, "agent": {"algorithm": "qlearning"},
                         "qlearning": {"alpha": args.alpha, "gamma": args.gamma, "episodes": args.episodes}},
         seed=args.seed, producer="examples/qlearning_agent.py")
    q, steps = train(env, args.episodes, args.alpha, args.gamma, args.seed)
    run_dir = Path(os.environ.get("RLOPS_RUN_DIR", "."))
    path = write_qtable(run_dir / "checkpoints" / f"qtable-{steps:09d}", q, args.env, env_steps=steps).resolve()
    manifest = json.loads((path / "manifest.json").read_text())
    emit("checkpoint", path=str(path.relative_to(run_dir.resolve())), env_steps=steps,
         sha256=manifest["files"]["q_table.npy"]["sha256"])
    mean, std, length = evaluate(env, q, args.eval_episodes, args.seed)
    emit("eval", episodes=args.eval_episodes, mean_reward=mean, std_reward=std, mean_length=length, env_steps=steps,
         checkpoint=str(path.relative_to(run_dir.resolve())))
    if not args.no_register:
        register(path, args.env, steps, (mean, std, length), args.eval_episodes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
