"""A `command` program that reports evaluations with the widths a long run has (six-figure step
counts, returns like 310.412 +/- 12.345, a deep checkpoint path), for the run page's layout test."""

import json

for steps in (10_000, 100_000, 1_000_000):
    print(json.dumps({"type": "eval", "episodes": 100, "mean_reward": 310.4123 + steps / 1e5, "std_reward": 12.3456,
                      "mean_length": 310.4, "env_steps": steps,
                      "checkpoint": f"/home/someone/experiments/rlruns/CartPole-v1-ppo-20261201-234512/checkpoints/"
                                    f"step-{steps:012d}"}), flush=True)
print(json.dumps({"type": "end", "status": "finished", "env_steps": 1_000_000}), flush=True)
