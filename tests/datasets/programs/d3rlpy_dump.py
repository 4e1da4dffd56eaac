"""Writes a CartPole MDPDataset with d3rlpy's own ``dump`` (random actions), run by d3rlpy's
interpreter: what a d3rlpy user hands to ``rlops dataset import --env``. Usage: d3rlpy_dump.py PATH"""

import sys

import d3rlpy
import gymnasium as gym
import numpy as np

env = gym.make("CartPole-v1")
rng = np.random.default_rng(0)
observations, actions, rewards, terminals, timeouts = [], [], [], [], []
for seed in range(4):
    obs, _ = env.reset(seed=seed)
    done = False
    while not done:
        action = int(rng.integers(2))
        next_obs, reward, terminated, truncated, _ = env.step(action)
        observations.append(obs)
        actions.append(action)
        rewards.append(reward)
        done = terminated or truncated
        terminals.append(float(terminated))
        timeouts.append(float(truncated or (done and not terminated)))
        obs = next_obs
dataset = d3rlpy.dataset.MDPDataset(np.asarray(observations, dtype=np.float32), np.asarray(actions),
                                    np.asarray(rewards, dtype=np.float32), np.asarray(terminals),
                                    np.asarray(timeouts), action_space=d3rlpy.ActionSpace.DISCRETE)
with open(sys.argv[1], "w+b") as handle:
    dataset.dump(handle)
print(len(dataset.episodes), sum(len(e.rewards) for e in dataset.episodes))
