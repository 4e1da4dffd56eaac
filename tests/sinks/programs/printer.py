"""A `command` program printing the protocol: a meta, then per tick one episode and every fifth tick
a metrics record, with plain text between, for TICKS ticks SECONDS apart; an end record last."""

import json
import sys
import time

ticks, pause = int(sys.argv[1]), float(sys.argv[2])
print(json.dumps({"type": "meta", "config": {"ticks": ticks}, "producer": "printer"}), flush=True)
for n in range(ticks):
    print(f"tick {n}")  # text: kept in output.log, never a record
    print(json.dumps({"type": "episode", "episode_return": float(n), "length": 1, "env_steps": n + 1, "episode": n}))
    if n % 5 == 4:
        print(json.dumps({"type": "metrics", "env_steps": n + 1, "loss": 1.0 / (n + 1)}))
    sys.stdout.flush()
    time.sleep(pause)
print(json.dumps({"type": "end", "status": "finished", "env_steps": ticks}), flush=True)
