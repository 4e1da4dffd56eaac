"""A program that ignores SIGTERM and claims progress toward its checkpoint forever (its
stop_progress.json moves every 50 ms): the supervisor's upper bound must still SIGKILL it."""

import json
import os
import signal
import time

run_dir = os.environ["RLOPS_RUN_DIR"]
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print(json.dumps({"type": "metrics", "env_steps": 1, "loss": 0.5}), flush=True)
progress = 0
while True:
    progress += 1
    path = os.path.join(run_dir, "stop_progress.json")
    with open(path + ".tmp", "w") as handle:
        json.dump({"acknowledged": time.time(), "progress": progress, "updated": time.time()}, handle)
    os.replace(path + ".tmp", path)
    time.sleep(0.05)
