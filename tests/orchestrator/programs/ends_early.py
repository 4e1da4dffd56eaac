"""A `command` program that prints its own `end` record and goes on: MODE `forever` prints a
metrics record every 50 ms until it is stopped (after writing ended.json once five have followed
its end); `failed` says it failed (a reason, its env_steps), prints one more record, exits 0;
`crash` says it finished, then exits 3."""

import json
import os
import sys
import time

mode = sys.argv[1]


def emit(**record):
    print(json.dumps(record), flush=True)


emit(type="meta", config={"mode": mode}, producer="ends-early")
emit(type="metrics", env_steps=1, loss=0.5)
if mode == "failed":
    emit(type="end", status="failed", reason="diverged", env_steps=7)
    emit(type="metrics", env_steps=8, loss=0.4)
    sys.exit(0)
emit(type="end", status="finished", env_steps=1)
if mode == "crash":
    sys.exit(3)
steps = 1
while True:
    steps += 1
    emit(type="metrics", env_steps=steps, loss=1.0 / steps)
    if steps == 6:
        marker = os.path.join(os.environ["RLOPS_RUN_DIR"], "ended.json")
        with open(marker + ".tmp", "w") as handle:
            json.dump({"after_end": steps - 1}, handle)
        os.replace(marker + ".tmp", marker)
    time.sleep(0.05)
