"""A `command` program that prints a record every 5 ms for half a second, flushing each, and notes the
size of its run's log before each print (its worker's flushes, as the program sees them) and the
size of its stdout pipe; it writes both to cadence.json in its run directory."""

import fcntl
import json
import os
import sys
import time
from pathlib import Path

log = Path(os.environ["RLOPS_RUN_DIR"]) / "train_log.jsonl"
sizes = set()
for n in range(100):
    sizes.add(log.stat().st_size if log.exists() else 0)
    print(json.dumps({"type": "metrics", "env_steps": n + 1, "loss": 1.0}), flush=True)
    time.sleep(0.005)
pipe = fcntl.fcntl(sys.stdout.fileno(), fcntl.F_GETPIPE_SZ)
(log.parent / "cadence.json").write_text(json.dumps({"log_sizes": len(sizes), "pipe_bytes": pipe}))
