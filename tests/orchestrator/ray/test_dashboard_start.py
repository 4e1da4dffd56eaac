"""A run started from the dashboard's form on the Ray backend (issue 12, item 7): `rlops ui` given the
test cluster's address offers the backend, a start request choosing it (and the run's CPUs) queues
the run on Ray through the same checked options, the run executes on a node, and the runs API says
which node. The server is a real `rlops ui` process: its request threads and its supervisor thread
join the cluster themselves."""

from __future__ import annotations

import json

import pytest

from tests.ui.test_dashboard_browser import api, ui_server, wait_for

pytestmark = pytest.mark.slow  # a dashboard process and a tiny training on a node: about a minute under load

RUN = "from-the-form"
TINY = {"agent.algorithm": "ppo", "env.env_id": "CartPole-v1", "env.n_envs": 2, "agent.hyperparams": {"n_steps": 64},
        "train.batch_size": 32, "train.total_timesteps": 256, "env.seed": 1, "eval.episodes": 2,
        "train.device": "cpu", "agent.net_arch": [16]}


def test_a_run_started_from_the_form_on_ray_executes_on_a_node_and_the_api_says_which(cluster, tmp_path):
    with ui_server(tmp_path, "--ray.address", cluster.address, "--orchestrator.poll-interval", "0.2") as base:
        offered = {section["name"]: section for section in api(base, "/api/options")["sections"]}
        assert offered["orchestrator"]["fields"][0]["default"] == "local"
        assert {f["option"]: f["default"] for f in offered["ray"]["fields"]}["ray.address"] == cluster.address
        started = api(base, "/api/runs", {"options": {"orchestrator.backend": "ray", "ray.num_cpus": 0.5, **TINY},
                                          "name": RUN})
        assert started["backend"] == "ray", started
        run = wait_for(lambda: (lambda r: r if r["status"] in ("finished", "failed", "lost") else None)(
            api(base, f"/api/runs/{RUN}")), 240, "the run on Ray to end")
        assert run["status"] == "finished", run
        assert run["node"].startswith("127.0.0.1 (") and run["backend_ref"] == f"rlops-{RUN}-0", run
        assert run["episodes"] > 0  # its records came home into the server's store
        listed = {r["run_id"]: r for r in api(base, "/api/runs")}
        assert listed[RUN]["node"] == run["node"] and listed[RUN]["backend"] == "ray"
    state = json.loads((tmp_path / "rlruns" / RUN / "ray.json").read_text())
    assert state["ray"]["num_cpus"] == 0.5 and state["ray"]["address"] == cluster.address  # the form's, checked
    assert "--orchestrator.backend=ray" not in state["args"] and "--ray.num-cpus=0.5" not in state["args"]
