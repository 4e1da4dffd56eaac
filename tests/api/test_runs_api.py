"""The runs API over a real run store filled by real training: what it returns is what the store
and the log hold, series downsampled with their peaks, errors in one shape."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from rlops.api.app import create_app
from rlops.store.runs import RunStore
from tests.api.http_helpers import raw_get, serving, sse
from tests.helpers import train_tiny


def test_runs_series_episodes_and_errors():
    result = train_tiny("ppo", steps=512)
    run_id = result.run.name
    with serving(create_app("rlruns/rlops.db")) as client:
        check_runs(client, run_id)


def check_runs(client: httpx.Client, run_id: str) -> None:
    assert client.get("/api/health").json()["ok"] is True
    listed = client.get("/api/runs").json()
    assert [r["run_id"] for r in listed] == [run_id] and listed[0]["status"] == "finished"
    assert client.get("/api/runs", params={"runner": "command"}).json() == []
    detail = client.get(f"/api/runs/{run_id}").json()
    store = RunStore("rlruns/rlops.db")
    assert detail["episodes"] == store.get_run(run_id)["episodes"]
    keys = client.get(f"/api/runs/{run_id}/metrics").json()
    assert "sps" in keys and keys == store.metric_keys(run_id)
    full = store.metric_series(run_id, "sps")
    body = client.get(f"/api/runs/{run_id}/metrics/sps").json()
    assert body["steps"] == full.steps.tolist() and np.allclose(body["values"], full.values)
    episodes = client.get(f"/api/runs/{run_id}/episodes").json()
    assert [e["seq"] for e in episodes] == [e["seq"] for e in store.episodes(run_id)]
    store.close()

    for path, status in (("/api/runs/nope", 404), (f"/api/runs/{run_id}/metrics/no/such", 404),
                         (f"/api/runs/{run_id}/metrics/sps?max_points=2", 422), ("/api/nothing", 404)):
        answer = client.get(path)
        assert answer.status_code == status, path
        assert set(answer.json()["error"]) == {"status", "message", "hint"} and answer.json()["error"]["message"]


def test_a_long_series_is_downsampled_with_its_peaks():
    result = train_tiny("ppo")
    store = RunStore("rlruns/rlops.db")
    run_id = result.run.name
    # A long synthetic series in the same store, as a million-step run would leave.
    from rlops.events.schema import Metrics

    records = [Metrics(run_id=run_id, trace_id="0" * 32, seq=10_000 + i, t=1.0, env_steps=i,
                       values={"spiky": 1e6 if i == 31_337 else float(i % 7)}) for i in range(50_000)]
    store.ingest(records)
    store.close()
    with serving(create_app("rlruns/rlops.db")) as client:
        body = client.get(f"/api/runs/{run_id}/metrics/spiky", params={"max_points": 500}).json()
    assert body["points"] == 50_000 and body["returned"] <= 500
    assert max(body["values"]) == 1e6 and 31_337 in body["steps"]


def test_files_are_served_from_inside_the_run_only_with_ranges(tmp_path):
    result = train_tiny("ppo")
    run_id, run_dir = result.run.name, result.run.path
    (run_dir / "videos").mkdir()
    video = bytes(range(256)) * 40  # 10,240 bytes
    (run_dir / "videos" / "rl-video-episode-0.mp4").write_bytes(video)
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    (run_dir / "escape").symlink_to(secret)
    (run_dir / "outside").symlink_to(tmp_path, target_is_directory=True)
    with serving(create_app("rlruns/rlops.db")) as client:
        port = int(str(client.base_url).rsplit(":", 1)[1].strip("/"))
        base = f"/api/runs/{run_id}/files/"
        status, body, headers = raw_get(port, base + "videos/rl-video-episode-0.mp4")
        assert status == 200 and body == video and headers["content-type"] == "video/mp4"
        status, body, headers = raw_get(port, base + "videos/rl-video-episode-0.mp4", {"Range": "bytes=100-199"})
        assert status == 206 and body == video[100:200] and headers["content-range"] == "bytes 100-199/10240"
        status, body, _ = raw_get(port, base + "train_log.jsonl")
        assert status == 200 and body == result.run.events_file.read_bytes()
        hostile = ["../../secret.txt", "..%2f..%2fsecret.txt", "%2e%2e/%2e%2e/secret.txt", "%252e%252e/secret.txt",
                   "..%5c..%5csecret.txt", "videos\\..\\..\\secret.txt", "%2fetc%2fpasswd", "/etc/passwd",
                   f"{secret}", "escape", "outside/secret.txt", "videos/%00.mp4", "c:%5cwindows", ".", ""]
        for path in hostile:
            status, body, _ = raw_get(port, base + path)
            assert status in (403, 404), (path, status)
            assert b"do not serve" not in body and b"root:" not in body, path


def test_a_live_run_streams_its_records_and_a_reconnect_resumes_where_it_left(tmp_path):
    from rlops.options import resolve_options
    from rlops.orchestrator.service import TrainerService

    program = tmp_path / "slow.py"
    program.write_text("import json, time\n"
                       "for i in range(30):\n"
                       "    print(json.dumps({'type': 'episode', 'episode_return': float(i), 'length': 1,"
                       " 'env_steps': i + 1, 'episode': i}), flush=True)\n"
                       "    time.sleep(0.05)\n")
    service = TrainerService(resolve_options(environ={}, args=[]).options)
    run_id = service.start("command", [sys.executable, str(program)], name="live")
    stop = threading.Event()

    def supervise() -> None:  # the daemon's part: settle the run when it ends
        while not stop.is_set():
            service.tick()
            time.sleep(0.1)

    supervisor = threading.Thread(target=supervise, daemon=True)
    supervisor.start()
    try:
        with serving(create_app("rlruns/rlops.db")) as client:
            url = f"/api/runs/{run_id}/stream"
            with client.stream("GET", url, params={"types": "episode"}, timeout=60) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                first = sse(response.iter_lines(), limit=5)
            resume_after = first[-1][0]
            with client.stream("GET", url, params={"types": "episode"}, headers={"Last-Event-ID": str(resume_after)},
                               timeout=60) as response:
                rest = sse(response.iter_lines())
    finally:
        stop.set()
        supervisor.join(5)
        service.close()
    assert rest[-1][1] == "eof"
    episodes = [json.loads(data)["return"] for _, kind, data in first + rest[:-1] if kind == "episode"]
    assert episodes == [float(i) for i in range(30)]  # every one once, in order, across the reconnect
    assert all(kind == "episode" for _, kind, _ in first + rest[:-1])


@pytest.mark.slow  # runs trained under the daemon: 79 s at load 12
def test_runs_are_started_and_stopped_through_the_api_with_validated_options():
    from rlops.options import resolve_options
    from rlops.orchestrator.service import TrainerService

    options = resolve_options(environ={}, args=["--orchestrator.stop-grace-s", "2"]).options
    stop = threading.Event()
    ticker = TrainerService(options)

    def supervise() -> None:
        while not stop.is_set():
            ticker.tick()
            time.sleep(0.1)

    tiny = {"env.env_id": "CartPole-v1", "env.n_envs": 2, "agent.hyperparams": {"n_steps": 64},
            "agent.net_arch": [16], "train.device": "cpu", "eval.episodes": 2}
    supervisor = threading.Thread(target=supervise, daemon=True)
    supervisor.start()
    try:
        with serving(create_app("rlruns/rlops.db", options)) as client:
            made = client.post("/api/runs", json={"options": {**tiny, "train.total_timesteps": 256}, "name": "api"})
            assert made.status_code == 201, made.text
            long = client.post("/api/runs", json={"options": {**tiny, "train.total_timesteps": 10_000_000},
                                                   "name": "long"})
            assert long.status_code == 201
            deadline = time.monotonic() + 120
            while client.get("/api/runs/long").json()["env_steps"] < 128:
                assert time.monotonic() < deadline
                time.sleep(0.2)
            assert client.post("/api/runs/long/stop").json()["state"] == "stopping"
            while client.get("/api/runs/api").json()["status"] == "running" or \
                    client.get("/api/runs/long").json()["status"] == "running":
                assert time.monotonic() < deadline
                time.sleep(0.2)
            assert client.get("/api/runs/api").json()["status"] == "finished"
            assert client.get("/api/runs/long").json()["status"] == "stopped"
            refused = {
                "bad value": client.post("/api/runs", json={"options": {"train.total_timesteps": "many"}}),
                "unknown option": client.post("/api/runs", json={"options": {"train.nope": 1}}),
                "a program": client.post("/api/runs", json={"runner": "command", "options": {}}),
                "stop a finished run": client.post("/api/runs/api/stop"),
                "taken name": client.post("/api/runs", json={"options": tiny, "name": "api"}),
            }
            for what, answer in refused.items():
                assert answer.status_code in (409, 422), (what, answer.status_code, answer.text)
                assert answer.json()["error"]["message"], what
    finally:
        stop.set()
        supervisor.join(5)
        ticker.close()


def test_the_registry_routes_list_validate_verify_and_promote():
    from rlops.options import resolve_options

    result = train_tiny("ppo", "--train.checkpoint-freq", "128")
    options = resolve_options(environ={}, args=["--registry.min-episodes", "2"]).options
    with serving(create_app("rlruns/rlops.db", options)) as client:
        models = client.get("/api/models").json()
        assert len(models) == 2 and {m["run_id"] for m in models} == {result.run.name}
        newest = max(models, key=lambda m: m["id"])
        checked = client.post(f"/api/models/{newest['id']}/validate").json()
        assert checked["model_id"] == newest["id"] and {r["rule"] for r in checked["rules"]} >= {"min_episodes"}
        promoted = client.post(f"/api/models/{newest['id']}/promote", json={"to": "production"}).json()
        assert promoted["model"]["deployment_status"] == "production"
        # A file changed on disk shows in the integrity badge.
        (Path(newest["model_path"]) / "parameters.pt").write_bytes(b"tampered")
        listed = {m["id"]: m for m in client.get("/api/models", params={"verify_files": True}).json()}
        assert listed[newest["id"]]["integrity"]["ok"] is False and listed[newest["id"]]["integrity"]["problems"]
        assert client.post("/api/models/999/promote", json={"to": "production"}).status_code == 404
        assert client.post(f"/api/models/{newest['id']}/promote", json={"to": "galaxy"}).status_code == 422


def test_tensorboard_is_launched_for_a_run_with_event_files_and_stopped():
    with_events = train_tiny("ppo", "--store.backend", "tensorboard", "--store.run-name", "tb")
    train_tiny("ppo", "--store.run-name", "plain")
    with serving(create_app("rlruns/rlops.db")) as client:
        refused = client.post("/api/runs/plain/tensorboard")
        assert refused.status_code == 422 and "no TensorBoard event files" in refused.json()["error"]["message"]
        started = client.post(f"/api/runs/{with_events.run.name}/tensorboard").json()
        try:
            assert started["started"] is True and started["url"].startswith("http://127.0.0.1:")
            again = client.post(f"/api/runs/{with_events.run.name}/tensorboard").json()
            assert again == {**started, "started": False}  # one per run
            deadline = time.monotonic() + 90
            while True:
                try:
                    runs = httpx.get(started["url"] + "data/runs", timeout=5).json()
                    if runs:
                        break
                except (httpx.HTTPError, ValueError):
                    pass
                assert time.monotonic() < deadline, "tensorboard never answered"
                time.sleep(0.5)
            assert any(name.startswith("tensorboard") for name in runs)
        finally:
            assert client.delete(f"/api/runs/{with_events.run.name}/tensorboard").json()["stopped"] is True
        with pytest.raises(httpx.HTTPError):
            httpx.get(started["url"], timeout=3)
