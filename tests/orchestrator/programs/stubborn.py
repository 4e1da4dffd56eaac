"""A program that ignores SIGTERM and spawns children that ignore it too: only SIGKILL to the whole
group stops them all. It writes the pids of its family to family.json."""

import json
import os
import signal
import subprocess
import sys
import time

signal.signal(signal.SIGTERM, signal.SIG_IGN)
children = [subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
                                                    "signal.SIG_IGN); time.sleep(600)"]) for _ in range(2)]
family = os.path.join(os.environ["RLOPS_RUN_DIR"], "family.json")  # the orchestrator says where the run lives
with open(family + ".tmp", "w") as handle:
    json.dump([os.getpid(), *[child.pid for child in children]], handle)
os.replace(family + ".tmp", family)
print(json.dumps({"type": "metrics", "env_steps": 1, "loss": 0.5}), flush=True)
time.sleep(600)
