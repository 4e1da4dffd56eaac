"""A `command` program that starts a child (its own family on the node) and prints an episode a
tenth of a second until it is stopped; its pid and its child's go to stdout as text."""

import json
import subprocess
import sys
import time

child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print(f"family pid {child.pid}", flush=True)
n = 0
while True:
    print(json.dumps({"type": "episode", "episode_return": float(n), "length": 1, "env_steps": n + 1, "episode": n}),
          flush=True)
    n += 1
    time.sleep(0.1)
