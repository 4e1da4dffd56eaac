"""Writes a CartPole dataset with Minari's own DataCollector (random actions): what a Minari user
hands to ``rlops dataset import``. Usage: MINARI_DATASETS_PATH=DIR python minari_collect.py EPISODES"""

import sys
import warnings

import gymnasium as gym
from minari import DataCollector

env = DataCollector(gym.make("CartPole-v1"))
env.action_space.seed(0)
for seed in range(int(sys.argv[1])):
    env.reset(seed=seed)
    done = False
    while not done:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        done = terminated or truncated
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # Minari's advice on optional metadata (permalink, author)
    dataset = env.create_dataset(dataset_id="cartpole/random-v0", algorithm_name="random", eval_env="CartPole-v1")
print(dataset.total_episodes, dataset.total_steps)
env.close()
