"""Where runs execute, from the terminal (issue 12, item 7): ``rlops runs list`` shows each run's
backend and node, and ``rlops runs start --orchestrator.backend ray`` parses and goes to the Ray
backend, which joins the cluster when the run is queued: without one it says it cannot reach it,
and queues nothing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rlops.cli.app import main
from rlops.store.runs import RunStore
from tests.api.test_run_placement_api import NODE, two_runs
from tests.helpers import tiny_args


def listed(capsys) -> dict[str, list[str]]:
    """``rlops runs list``'s rows by run id, split into their columns."""
    assert main(["runs", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    header = out[0].split()
    assert header[:4] == ["run", "status", "backend", "node"], out[0]
    return {line.split()[0]: line.split() for line in out[1:] if line.strip()}


def test_runs_list_shows_each_runs_backend_and_node(capsys):
    two_runs()
    rows = listed(capsys)
    assert rows["on-ray"][2:5] == ["ray", *NODE.split()], rows["on-ray"]  # "10.0.0.5 (ab12cd34)"
    assert rows["here"][2:4] == ["local", socket.gethostname()], rows["here"]
    with RunStore("rlruns/rlops.db") as store:
        store.register_run("waiting", "rlruns/waiting", "rlruns/waiting/train_log.jsonl", runner="rlops")
        store.set_backend("waiting", "ray")  # queued for Ray, no actor placed yet
    assert " ".join(listed(capsys)["waiting"][2:6]) == "ray not placed yet", "a Ray run before Ray places it"
    assert main(["runs", "list", "--json"]) == 0
    by_id = {run["run_id"]: run for run in json.loads(capsys.readouterr().out)}
    assert (by_id["on-ray"]["backend"], by_id["on-ray"]["node"]) == ("ray", NODE)


def test_runs_show_says_where_a_run_executes(capsys):
    two_runs()
    assert main(["runs", "show", "on-ray"]) == 0
    assert f"where:           ray on {NODE}, actor rlops-on-ray-0" in capsys.readouterr().out
    assert main(["runs", "show", "here"]) == 0
    assert f"where:           local on {socket.gethostname()}" in capsys.readouterr().out


@pytest.mark.slow  # importing Ray and its connection attempt: 10-30 s on a loaded machine
def test_runs_start_on_ray_without_a_cluster_says_it_cannot_reach_it(tmp_path):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]  # held bound, never listening: nothing answers there
    # Ray retries an absent head for minutes by default; its own knobs shorten that to one try.
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("RL_", "OTEL_", "RAY_ADDRESS"))},
           "RAY_gcs_server_port_wait_time_s": "1", "RAY_py_gcs_connect_timeout_s": "2",
           "RAY_gcs_rpc_server_connect_timeout_s": "1", "RAY_TMPDIR": str(tmp_path / "ray")}
    try:
        started = subprocess.run(
            [sys.executable, "-m", "rlops", "runs", "start", "--orchestrator.backend", "ray", "--ray.address",
             f"127.0.0.1:{port}", "--ray.num-cpus", "1", "--no-daemon", "--name", "on-ray", "--",
             *tiny_args("ppo")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    finally:
        probe.close()
    assert started.returncode != 0, started.stdout
    assert f"cannot reach the Ray cluster at ray.address '127.0.0.1:{port}'" in started.stderr, started.stderr[-2000:]
    assert "--ray.address HOST:PORT" in started.stderr  # what to do
    assert "Traceback" not in started.stderr
    assert not (Path(tmp_path) / "rlruns" / "on-ray").exists()  # nothing queued
