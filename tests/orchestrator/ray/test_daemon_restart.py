"""The daemon that queued a Ray run is killed mid-run and started again: it finds the run's actor
by the name on the run row and ingests what the run wrote meanwhile, losing and doubling nothing.
The run is started from the CLI (rlops runs start --orchestrator.backend ray), and the daemon runs
in a mount namespace where the nodes' directories are an empty tmpfs: it cannot read their files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rlops.events.reader import read_records
from rlops.store.runs import RunStore
from tests.orchestrator.ray.helpers import PROGRAMS, ray_args, wait_for


def blind_daemon(cluster, root: Path) -> subprocess.Popen:
    """``rlops runs daemon`` that sees none of the nodes' run files."""
    nodes = cluster.root / "nodes"
    command = (f"mount -t tmpfs tmpfs {nodes} && exec {sys.executable} -m rlops runs daemon "
               + " ".join(ray_args(cluster, root)))
    with open(root / "daemon.out", "ab") as out:
        return subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", command], stdout=out,
                                stderr=out, start_new_session=True)


def test_a_daemon_killed_and_restarted_loses_and_doubles_nothing_of_a_ray_run(cluster, tmp_path):
    started = subprocess.run([sys.executable, "-m", "rlops", "runs", "start", "--runner", "command", "--name", "steady",
                              "--no-daemon", "--json", *ray_args(cluster, tmp_path), "--",
                              sys.executable, str(PROGRAMS / "counter.py"), "800", "10", "0.1"],
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stderr
    run_id = json.loads(started.stdout)["run"]
    store = RunStore(tmp_path / "rlops.db")
    daemon = blind_daemon(cluster, tmp_path)
    try:
        wait_for(lambda: store.get_run(run_id)["episodes"] >= 100, what="the first records home")
        os.killpg(daemon.pid, signal.SIGKILL)
        daemon.wait(timeout=30)
        held = store.get_run(run_id)["ingested_seq"]
        time.sleep(3)  # the run goes on writing on its node, unwatched
        assert store.get_run(run_id)["ingested_seq"] == held
        daemon = blind_daemon(cluster, tmp_path)
        run = wait_for(lambda: (r := store.get_run(run_id))["exit_code"] is not None and r, timeout=120,
                       what="the run settled by the second daemon")
    finally:
        if daemon.poll() is None:
            os.killpg(daemon.pid, signal.SIGTERM)
            daemon.wait(timeout=30)
    assert run["status"] == "finished" and run["backend"] == "ray" and run["backend_ref"].startswith("rlops-steady-")
    records = [record for _, record in read_records(Path(run["log_path"]))]
    assert [r.seq for r in records] == list(range(len(records)))
    assert run["ingested_seq"] == records[-1].seq and run["episodes"] == 800
    assert len(store.events(run_id, types=["eval"])) == 80
    listed = subprocess.run([sys.executable, "-m", "rlops", "runs", "list", "--registry.db-path",
                             str(tmp_path / "rlops.db")], capture_output=True, text=True, timeout=60)
    assert "127.0.0.1 (" in listed.stdout and "steady" in listed.stdout, listed.stdout  # the node column
