"""Where a run started from the dashboard executes (issue 12, item 7; the hardening of issue 18): the
start form offers the backend and the run's Ray options only on a server with a Ray cluster
configured, with the server's own values as the defaults; a request's ``ray.address`` is held to
``ui.allowed_endpoints`` like every address, and to the one cluster the server joins. Against a
real uvicorn server; a refused start creates nothing and contacts nobody."""

from __future__ import annotations

from pathlib import Path

from rlops.api.app import create_app
from tests.api.http_helpers import serving
from tests.api.test_request_addresses import CountingListener, server_options

DB = "rlruns/rlops.db"


def sections(client) -> dict[str, dict]:
    return {section["name"]: section for section in client.get("/api/options").json()["sections"]}


def problems(client, options: dict) -> dict[str, str]:
    answer = client.post("/api/options/check", json={"options": options}).json()
    return {error["option"]: error["message"] for error in answer["errors"]}


def nothing_started(client) -> None:
    assert client.get("/api/runs").json() == []
    runs = Path("rlruns")
    assert not runs.exists() or not [entry for entry in runs.iterdir() if entry.is_dir()]


def test_a_server_without_a_ray_cluster_offers_no_backend_and_refuses_one():
    with serving(create_app(DB, server_options())) as client:
        offered = sections(client)
        assert "orchestrator" not in offered and "ray" not in offered  # the form is not cluttered
        said = problems(client, {"orchestrator.backend": "ray"})
        assert "no Ray cluster configured" in said["orchestrator.backend"], said
        assert "--ray.address HOST:PORT" in said["orchestrator.backend"]  # what to do instead
        start = client.post("/api/runs", json={"options": {"orchestrator.backend": "ray", "ray.num_cpus": 2}})
        assert start.status_code == 422, start.text
        assert {field["option"] for field in start.json()["error"]["fields"]} == {"orchestrator.backend",
                                                                                  "ray.num_cpus"}
        nothing_started(client)


def test_a_server_with_a_ray_address_offers_the_backend_with_its_own_values():
    with serving(create_app(DB, server_options("--ray.address", "10.1.2.3:6379", "--ray.num-cpus", "2"))) as client:
        offered = sections(client)
        backend = {field["option"]: field for field in offered["orchestrator"]["fields"]}
        assert list(backend) == ["orchestrator.backend"]  # not the queue's or retention's settings
        assert backend["orchestrator.backend"]["choices"] == ["local", "ray"]
        assert backend["orchestrator.backend"]["default"] == "local"  # the server's own
        ray = {field["option"]: field for field in offered["ray"]["fields"]}
        assert ray["ray.address"]["default"] == "10.1.2.3:6379" and ray["ray.num_cpus"]["default"] == 2
        assert "ray.node_dir" not in ray  # the nodes' disks are the server's business
        assert problems(client, {"orchestrator.backend": "ray", "ray.num_cpus": 0.5, "ray.max_retries": 3}) == {}
        said = problems(client, {"ray.node_dir": "/anywhere", "ray.num_gpus": -1})
        assert said["ray.node_dir"] == "set by the server for every run it starts" and "ray.num_gpus" in said
    with serving(create_app(DB, server_options("--orchestrator.backend", "ray"))) as client:
        offered = sections(client)  # a server whose runs all go to Ray (ray.address auto)
        assert offered["orchestrator"]["fields"][0]["default"] == "ray"
        assert offered["ray"]["fields"][0]["default"] == "auto"


def test_a_ray_address_from_a_request_is_refused_unless_the_server_allows_it():
    cluster = CountingListener()  # a port where a Ray head would answer
    try:
        with serving(create_app(DB, server_options("--ray.address", "10.1.2.3:6379"))) as client:
            asked = {"orchestrator.backend": "ray", "ray.address": f"127.0.0.1:{cluster.port}"}
            said = problems(client, asked)
            assert list(said) == ["ray.address"], said
            assert "ui.allowed_endpoints" in said["ray.address"] and "loopback" in said["ray.address"], said
            start = client.post("/api/runs", json={"options": asked, "name": "elsewhere"})
            assert start.status_code == 422, start.text
            body = start.json()["error"]
            assert body["message"].startswith("ray.address")
            assert [field["option"] for field in body["fields"]] == ["ray.address"]
            assert problems(client, {"ray.address": "ray://10.9.9.9:10001"})["ray.address"].count("allowed_endpoints")
            nothing_started(client)
    finally:
        cluster.close()
    assert cluster.connections == 0  # nobody tried the address the request gave


def test_an_allowed_address_of_another_cluster_is_refused_with_the_servers_own():
    allowed = server_options("--ray.address", "10.1.2.3:6379", "--ui.allowed-endpoints", '["10.9.9.9:6379"]')
    with serving(create_app(DB, allowed)) as client:
        said = problems(client, {"orchestrator.backend": "ray", "ray.address": "10.9.9.9:6379"})
        assert list(said) == ["ray.address"], said
        assert "'10.1.2.3:6379'" in said["ray.address"] and "one cluster" in said["ray.address"], said
        assert "rlops runs start --orchestrator.backend ray --ray.address 10.9.9.9:6379" in said["ray.address"]
        assert problems(client, {"orchestrator.backend": "ray", "ray.address": "10.1.2.3:6379"}) == {}  # its own
        nothing_started(client)
