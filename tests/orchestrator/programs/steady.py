"""A `command` program printing RATE records a second for SECONDS seconds, every one stamped with
its own time: ingest lag is the time a record reaches the store minus its ``t``.

    steady.py RATE SECONDS [GO_FILE]

With GO_FILE, the records start once that file exists (after the meta record): a benchmark starts
many runs and lets them stream together, so that the lag is measured with all of them running."""

import json
import os
import sys
import time

rate, seconds = float(sys.argv[1]), float(sys.argv[2])
print(json.dumps({"type": "meta", "config": {"rate": rate}, "producer": "steady"}), flush=True)
if len(sys.argv) > 3:
    while not os.path.exists(sys.argv[3]):
        time.sleep(0.01)
start, n = time.time(), 0
while (now := time.time()) - start < seconds:
    due = int((now - start) * rate)
    while n < due:
        print(json.dumps({"type": "episode", "t": time.time(), "episode_return": float(n % 100), "length": 1,
                          "env_steps": n + 1, "episode": n}))
        n += 1
    sys.stdout.flush()
    time.sleep(0.01)
print(json.dumps({"type": "end", "status": "finished", "env_steps": n}), flush=True)
