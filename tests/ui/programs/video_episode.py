"""A `command` program that balances CartPole by a simple rule for a few episodes with gymnasium's
RecordVideo writing videos/ in its run directory (as a CleanRL script does), printing an episode
record per episode."""

import json
import os
from pathlib import Path

import gymnasium as gym

run_dir = Path(os.environ["RLOPS_RUN_DIR"])
env = gym.wrappers.RecordVideo(gym.make("CartPole-v1", render_mode="rgb_array"), str(run_dir / "videos"),
                               episode_trigger=lambda episode: episode == 0, disable_logger=True)
steps = 0
for episode in range(3):
    obs, _ = env.reset(seed=episode)
    total, done = 0.0, False
    while not done and total < 150:  # a few seconds of video
        obs, reward, terminated, truncated, _ = env.step(int(obs[2] + 0.5 * obs[3] > 0))
        total, steps, done = total + float(reward), steps + 1, terminated or truncated
    print(json.dumps({"type": "episode", "episode_return": total, "length": int(total), "env_steps": steps,
                      "episode": episode}), flush=True)
env.close()
print(json.dumps({"type": "end", "status": "finished", "env_steps": steps}), flush=True)
