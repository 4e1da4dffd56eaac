"""A `command` program whose descendants leave its process group: a child started in a session of
its own, and a daemon (a grandchild in its own session whose parent exits at once, so that it is
orphaned). Both sleep for ten minutes (MODE `stubborn`: ignoring SIGTERM). The pids go to
family.json; MODE `stay` or `stubborn` then sleeps too, `exit` exits 0 at once, leaving them
behind."""

import json
import os
import subprocess
import sys
import time

run_dir = os.environ["RLOPS_RUN_DIR"]
deaf = ("import os, signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); "  # then says so: deaf from now on
        f"open(os.path.join({run_dir!r}, 'deaf-%d' % os.getpid()), 'w').close(); ") if sys.argv[1] == "stubborn" else ""
sleeper = [sys.executable, "-c", deaf + "import time; time.sleep(600)"]
child = subprocess.Popen(sleeper, start_new_session=True)
launcher = subprocess.run([sys.executable, "-c", "import subprocess, sys; print(subprocess.Popen(sys.argv[1:], "
                           "start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)", *sleeper],
                          capture_output=True, text=True, check=True)
while deaf and len([name for name in os.listdir(run_dir) if name.startswith("deaf-")]) < 2:
    time.sleep(0.05)
family = os.path.join(run_dir, "family.json")
with open(family + ".tmp", "w") as handle:
    json.dump({"program": os.getpid(), "child": child.pid, "daemon": int(launcher.stdout)}, handle)
os.replace(family + ".tmp", family)
print(json.dumps({"type": "metrics", "env_steps": 1, "loss": 0.5}), flush=True)
if sys.argv[1] != "exit":
    time.sleep(600)
