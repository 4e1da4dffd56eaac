"""A `command` program: COUNT episode records (and an eval every EVERY), then exits 0. Fast."""

import json
import sys
import time

count, every = int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0
pause = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
print(json.dumps({"type": "meta", "config": {"count": count}, "producer": "counter"}), flush=True)
print("a line of text, kept in output.log", flush=True)
for n in range(count):
    print(json.dumps({"type": "episode", "episode_return": float(n), "length": 1, "env_steps": n + 1, "episode": n}))
    if every and (n + 1) % every == 0:
        print(json.dumps({"type": "eval", "episodes": 1, "mean_reward": float(n), "env_steps": n + 1}), flush=True)
        time.sleep(pause)
sys.stdout.flush()
