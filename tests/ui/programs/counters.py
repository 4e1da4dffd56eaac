"""A `command` program that ends episodes long before any metrics record (as PPO's 16,384-step
rollout does), then, once the test writes `go` in its run directory, a checkpoint and more
episodes; it ends when the test writes `end`. Its env steps are known: 20 per episode."""

import json
import os
import time
from pathlib import Path

run_dir = Path(os.environ["RLOPS_RUN_DIR"])
episode = 0


def wait_for(name: str) -> None:
    deadline = time.monotonic() + 120
    while not (run_dir / name).exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def episodes(count: int) -> None:
    global episode
    for _ in range(count):
        episode += 1
        print(json.dumps({"type": "episode", "episode": episode - 1, "episode_return": float(episode),
                          "length": 20, "env_steps": 20 * episode}), flush=True)


episodes(5)  # 100 env steps, no metrics record
wait_for("go")
print(json.dumps({"type": "checkpoint", "path": "checkpoints/step_100", "env_steps": 100}), flush=True)
episodes(3)  # 160 env steps
wait_for("end")
print(json.dumps({"type": "end", "status": "finished", "env_steps": 20 * episode}), flush=True)
