"""Where a run executes, as the runs API tells it (issue 12, item 7): the list, a run's page and the
live runs stream carry each run's backend, the node Ray placed it on and the host that registered
it. Rows are written by the store's own functions, as the orchestrator writes them."""

from __future__ import annotations

import json
import socket

from rlops.api.app import create_app
from rlops.store.runs import RunStore
from tests.api.http_helpers import serving, sse

DB = "rlruns/rlops.db"
NODE = "10.0.0.5 (ab12cd34)"  # as ray_backend writes it: the node's IP and the start of its Ray node id


def two_runs() -> None:
    """A run that a Ray actor runs on another node, and a run on this machine."""
    with RunStore(DB) as store:
        store.register_run("on-ray", "rlruns/on-ray", "rlruns/on-ray/train_log.jsonl", runner="rlops")
        store.set_backend("on-ray", "ray", ref="rlops-on-ray-0")
        store.queue_run("on-ray", "CartPole-v1", "ppo", "0" * 32)
        store.set_backend("on-ray", "ray", node=NODE)  # placed: the actor told where it runs
        store.register_run("here", "rlruns/here", "rlruns/here/train_log.jsonl", runner="rlops", pid=4321)
        store.queue_run("here", "CartPole-v1", "ppo", "1" * 32)


def test_the_runs_list_and_a_runs_page_say_where_each_run_executes():
    two_runs()
    with serving(create_app(DB)) as client:
        listed = {run["run_id"]: run for run in client.get("/api/runs").json()}
        on_ray, here = listed["on-ray"], listed["here"]
        assert (on_ray["backend"], on_ray["node"], on_ray["backend_ref"]) == ("ray", NODE, "rlops-on-ray-0")
        assert (here["backend"], here["node"], here["host"]) == ("local", None, socket.gethostname())
        page = client.get("/api/runs/on-ray").json()
        assert (page["backend"], page["node"], page["backend_ref"]) == ("ray", NODE, "rlops-on-ray-0")
        assert client.get("/api/runs/here").json()["backend"] == "local"


def test_the_live_runs_stream_carries_the_node():
    two_runs()
    with serving(create_app(DB)) as client:
        with client.stream("GET", "/api/stream/runs", timeout=30) as response:
            events = sse(response.iter_lines(), limit=2)
    sent = {json.loads(data)["run_id"]: json.loads(data) for _, event, data in events if event == "run"}
    assert sent["on-ray"]["node"] == NODE and sent["on-ray"]["backend"] == "ray"
    assert sent["here"]["backend"] == "local" and sent["here"]["host"] == socket.gethostname()
