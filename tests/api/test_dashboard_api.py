"""The routes the dashboard page is built on, over real runs: the option form and its checks,
replays of recorded episodes, logs and the live runs stream, retention, deploy, serving and import."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from rlops.api.app import create_app
from rlops.options import resolve_options
from rlops.options.fields import specs_by_dotted
from rlops.store.runs import RunStore
from tests.api.http_helpers import raw_get, serving, sse
from tests.helpers import train_tiny


def test_the_form_is_generated_from_the_option_schema_and_checks_each_field():
    with serving(create_app("rlruns/rlops.db")) as client:
        sections = client.get("/api/options").json()["sections"]
        names = [section["name"] for section in sections]
        assert names[:5] == ["env", "obs", "feature", "agent", "train"] and "ui" not in names and "serve" not in names
        fields = {field["option"]: field for section in sections for field in section["fields"]}
        assert "store.model_dir" not in fields and "store.db_path" not in fields  # the server decides these
        steps = fields["train.total_timesteps"]
        assert steps["type"] == "integer" and steps["minimum"] == 1 and steps["default"] == 100_000
        assert fields["obs.normalize"]["choices"] == ["none", "obs", "reward", "all"]
        assert fields["env.seed"]["nullable"] is True and fields["env.seed"]["type"] == "integer"
        assert fields["agent.net_arch"]["type"] == "json" and fields["eval.deterministic"]["type"] == "boolean"
        assert fields["train.gamma"]["exclusive_minimum"] == 0 and fields["train.gamma"]["maximum"] == 1
        for option, field in fields.items():  # each field is the option's own help and default
            assert field["help"] == specs_by_dotted()[option].help, option
        assert client.get("/api/options/schema").json()["$defs"]["TrainOptions"]["properties"]

        check = client.post("/api/options/check", json={"options": {"train.total_timesteps": 5000}}).json()
        assert check == {"ok": True, "errors": []}
        check = client.post("/api/options/check", json={"options": {
            "train.total_timesteps": 0, "obs.normalize": "sometimes", "train.learnin_rate": "3e-4",
            "store.model_dir": "/etc", "ui.port": 1, "agent.net_arch": "wide"}}).json()
        problems = {error["option"]: error["message"] for error in check["errors"]}
        assert check["ok"] is False and set(problems) == {"train.total_timesteps", "obs.normalize",
                                                          "train.learnin_rate", "store.model_dir", "ui.port",
                                                          "agent.net_arch"}
        assert "greater than or equal to 1" in problems["train.total_timesteps"]
        assert "train.learning_rate" in problems["train.learnin_rate"]  # did you mean
        assert "set by the server" in problems["store.model_dir"]
        # Nothing from a request imports a module or unpickles a file of the caller's choosing.
        check = client.post("/api/options/check", json={"options": {
            "env.env_id": "os:system", "env.env_kwargs": {"command": "touch pwned"}, "feature.encoder": "evil:Encoder",
            "train.init_from": "/tmp/some/checkpoint"}}).json()
        assert {e["option"] for e in check["errors"]} == {"env.env_id", "feature.encoder", "train.init_from"}
        allowed = {"env.env_id": "Pendulum-v1", "feature.encoder": "mlp", "train.init_from": "3"}
        assert client.post("/api/options/check", json={"options": allowed}).json()["ok"] is True


def test_a_start_with_bad_options_is_refused_field_by_field_and_nothing_is_created():
    options = resolve_options(environ={}, args=[]).options
    with serving(create_app("rlruns/rlops.db", options)) as client:
        answer = client.post("/api/runs", json={"options": {"train.total_timesteps": -5, "env.n_envs": "two"},
                                                "name": "bad"})
        assert answer.status_code == 422
        error = answer.json()["error"]
        assert {f["option"] for f in error["fields"]} == {"train.total_timesteps", "env.n_envs"}
        assert error["message"].startswith("train.total_timesteps") and error["hint"]
        assert client.get("/api/runs").json() == [] and not Path("rlruns/bad").exists()
        runners = {r["name"]: r for r in client.get("/api/runners").json()}
        assert runners["rlops"]["http_start"] is True and runners["cleanrl"]["http_start"] is False
        assert runners["rlops"]["capabilities"]["warm_start"] is True


def test_recorded_episodes_replay_step_by_step_with_frames():
    result = train_tiny("ppo")
    run_id = result.run.name
    with serving(create_app("rlruns/rlops.db")) as client:
        replays = client.get(f"/api/runs/{run_id}/replays").json()
        assert len(replays) == 2  # eval.episodes
        first = replays[0]
        assert first["steps"] > 0 and first["frames"] > 0 and first["checkpoint"].startswith("checkpoints/")
        episode = client.get(f"/api/runs/{run_id}/replays/{first['episode']}",
                             params={"env_index": first["env_index"]}).json()
        steps = episode["steps"]
        assert [s["step"] for s in steps] == list(range(first["steps"])) and steps[-1]["terminated"] or \
            steps[-1]["truncated"]
        assert abs(sum(s["reward"] for s in steps) - first["return"]) < 1e-9
        frame = next(s["frame"] for s in steps if s["frame"])
        image = client.get(f"/api/runs/{run_id}/files/{frame}")
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert image.content[:8] == b"\x89PNG\r\n\x1a\n"
        # What a run wrote never runs as a page of the dashboard's origin.
        (result.run.path / "report.html").write_text("<script>fetch('/api/runs')</script>")
        page = client.get(f"/api/runs/{run_id}/files/report.html")
        assert page.headers["content-type"] == "application/octet-stream"
        assert page.headers["content-disposition"] == "attachment"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert image.headers["content-security-policy"] == "sandbox" and "content-disposition" not in image.headers
        missing = client.get(f"/api/runs/{run_id}/replays/99")
        assert missing.status_code == 404 and "replays" in missing.json()["error"]["hint"]

        checkpoints = client.get(f"/api/runs/{run_id}/events", params={"types": "checkpoint,eval"}).json()
        assert {r["type"] for r in checkpoints} == {"checkpoint", "eval"}
        assert [r["seq"] for r in checkpoints] == sorted(r["seq"] for r in checkpoints)
        bad = client.get(f"/api/runs/{run_id}/events", params={"types": "checkpoint,bogus"})
        assert bad.status_code == 422 and "bogus" in bad.json()["error"]["message"]


def test_logs_tail_and_stream_resume_at_a_byte_offset(tmp_path):
    from rlops.orchestrator.service import TrainerService

    program = tmp_path / "talk.py"
    program.write_text("import time\nfor i in range(40):\n    print(f'line {i} é', flush=True)\n"
                       "    time.sleep(0.02)\n")
    service = TrainerService(resolve_options(environ={}, args=[]).options)
    run_id = service.start("command", ["python3", str(program)], name="talk")
    stop = threading.Event()
    supervisor = threading.Thread(target=_tick, args=(service, stop), daemon=True)
    supervisor.start()
    try:
        with serving(create_app("rlruns/rlops.db")) as client:
            url = f"/api/runs/{run_id}/logs/stream"
            with client.stream("GET", url, timeout=60) as response:
                first = sse(response.iter_lines(), limit=10)
            with client.stream("GET", url, headers={"Last-Event-ID": str(first[-1][0])}, timeout=60) as response:
                rest = sse(response.iter_lines())
            tail = client.get(f"/api/runs/{run_id}/logs", params={"tail": 5}).json()
    finally:
        stop.set()
        supervisor.join(5)
        service.close()
    assert rest[-1][1] == "eof"
    texts = [json.loads(data)["text"] for _, kind, data in first + rest[:-1] if kind == "line"]
    assert texts == [f"line {i} é" for i in range(40)]  # each once, in order, across the reconnect
    assert tail["lines"] == [f"line {i} é" for i in range(35, 40)] and tail["file"] == "output.log"
    assert tail["offset"] == (Path("rlruns") / run_id / "output.log").stat().st_size
    with serving(create_app("rlruns/rlops.db")) as client:  # the starter's environment is never served
        refused = client.get(f"/api/runs/{run_id}/files/launch.json")
        assert refused.status_code == 403 and b"PATH" not in refused.content


def test_the_runs_stream_sends_every_run_then_each_change():
    train_tiny("ppo", "--store.run-name", "old")
    with serving(create_app("rlruns/rlops.db")) as client:
        with client.stream("GET", "/api/stream/runs", timeout=60) as response:
            lines = response.iter_lines()
            first = _next_event(lines)
            assert first[0] == "run" and json.loads(first[1])["run_id"] == "old"
            store = RunStore("rlruns/rlops.db")
            store.register_run("new", None, None, runner="command")
            store.settle("old", "finished", "touched")
            store.close()
            seen = {json.loads(_next_event(lines)[1])["run_id"] for _ in range(2)}
            assert seen == {"new", "old"}


def test_retention_status_shows_disk_use_rules_and_the_plan_without_deleting():
    for name in ("a", "b", "c"):
        train_tiny("ppo", "--store.run-name", name)
    options = resolve_options(environ={}, args=["--orchestrator.max-runs-per-agent", "1"]).options
    with serving(create_app("rlruns/rlops.db", options)) as client:
        body = client.get("/api/retention").json()
    sizes = {run["run_id"]: run["bytes"] for run in body["runs"]}
    assert set(sizes) == {"a", "b", "c"} and all(size > 0 for size in sizes.values())
    assert body["total_bytes"] == sum(sizes.values()) and body["free_bytes"] > 0
    assert body["rules"]["max_runs_per_agent"] == 1
    planned = {p["run_id"] for p in body["plan"] if p["kept_because"] is None}
    assert len(planned) == 2 and body["plan_bytes"] > 0
    assert all((Path("rlruns") / name).is_dir() for name in ("a", "b", "c"))  # a dry run


def test_deploy_promotes_and_reports_the_policy_server_and_import_copies_a_checkpoint(tmp_path):
    result = train_tiny("ppo")
    unregistered = train_tiny("ppo", "--registry.enable", "false", "--store.run-name", "elsewhere")
    options = resolve_options(environ={}, args=["--serve.port", "9"]).options  # nothing listens on port 9
    with serving(create_app("rlruns/rlops.db", options)) as client:
        model = client.get("/api/models").json()[0]
        deployed = client.post(f"/api/models/{model['id']}/deploy").json()
        assert deployed["model"]["deployment_status"] == "production"
        assert deployed["server"] == {"url": "http://127.0.0.1:9", "reachable": False, "serving": None,
                                      "hotswap": None}  # no server to say what it follows
        imported = client.post("/api/models/import", json={"path": str(unregistered.checkpoint.path)})
        assert imported.status_code == 201, imported.text
        row = imported.json()
        assert row["sha256"] == unregistered.checkpoint.sha256
        assert Path(row["model_path"]).parent == Path("rlruns/registry").resolve()
        refused = client.post("/api/models/import", json={"path": str(tmp_path / "nothing")})
        assert refused.status_code in (404, 422) and refused.json()["error"]["hint"]
    assert result.run.path.is_dir()


def test_the_page_and_its_files_are_served_and_hostile_static_paths_are_refused():
    with serving(create_app("rlruns/rlops.db")) as client:
        documented = client.get("/openapi.json").json()["paths"]  # the API documents itself
        for route in ("/api/runs", "/api/runs/{run_id}/stream", "/api/runs/{run_id}/replays/{episode}",
                      "/api/runs/{run_id}/logs/stream", "/api/stream/runs", "/api/options", "/api/options/check",
                      "/api/models/{model_id}/deploy", "/api/models/import", "/api/retention", "/api/runners",
                      "/api/runs/{run_id}/tensorboard", "/api/health"):
            assert route in documented, route
        page = client.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert '<script type="module"' in page.text
        assert client.get("/static/app.js").headers["content-type"].split(";")[0] in ("text/javascript",
                                                                                      "application/javascript")
        port = int(str(client.base_url).rsplit(":", 1)[1].strip("/"))
        for path in ("/static/../api/app.py", "/static/../../rlops/api/app.py", "/static/%2e%2e/%2e%2e/api/app.py",
                     "/static/..%2f..%2fapi%2fapp.py", "/static/%252e%252e/app.py", "/static/..\\..\\api\\app.py"):
            status, body, _ = raw_get(port, path)
            assert status == 404 and b"create_app" not in body, path


def _tick(service, stop: threading.Event) -> None:  # the daemon's part: settle runs when they end
    while not stop.is_set():
        service.tick()
        time.sleep(0.1)


def _next_event(lines) -> tuple[str, str]:
    """(event, data) of the next event in ``lines``; the stream ending first fails the test."""
    found = sse(lines, limit=1)
    assert found, "the stream ended"
    return found[0][1], found[0][2]


def test_a_request_value_never_becomes_a_flag_of_its_own():
    from rlops.api.run_control_api import option_flags
    from rlops.options.sources import read_cli

    flags = option_flags("rlops", {"train.device": "--registry.db-path /tmp/elsewhere.db", "eval.deterministic": False,
                                   "env.seed": None, "agent.net_arch": [32, 32]})
    assert len(flags) == 4 and all(flag.startswith("--") and "=" in flag for flag in flags)
    layer = read_cli(flags)
    assert layer["train.device"][0] == "--registry.db-path /tmp/elsewhere.db" and "store.db_path" not in layer
    assert layer["eval.deterministic"][0] is False and layer["env.seed"][0] is None
    assert layer["agent.net_arch"][0] == [32, 32]


def test_a_token_in_the_query_is_decoded_and_a_wildcard_bind_takes_any_host_name():
    from rlops.api.guard import RequestGuard

    token = "a+b/c=d%"
    with serving(RequestGuard(create_app("rlruns/rlops.db"), "0.0.0.0", token)) as client:
        assert client.get("/api/health").status_code == 401
        assert client.get("/api/health", params={"token": token}).status_code == 200  # an EventSource's URL
        named = client.get("/api/health", headers={"Host": "trainer-7.lan:8765", "Authorization": f"Bearer {token}"})
        assert named.status_code == 200
    with serving(RequestGuard(create_app("rlruns/rlops.db"), "127.0.0.1", None)) as client:
        assert client.get("/api/health", headers={"Host": "trainer-7.lan"}).status_code == 403  # rebinding


def test_a_stream_resumes_at_the_byte_after_its_last_event_and_distrusts_a_bad_offset(tmp_path):
    from rlops.api.run_stream_api import resume_point

    log = tmp_path / "train_log.jsonl"
    log.write_bytes(b'{"seq": 0}\n{"seq": 1}\n{"seq": 2}\n')
    assert resume_point("1:22", -1, log) == (1, 22)  # 22 bytes: the end of the line of seq 1
    assert resume_point("1:5", -1, log) == (1, 0)  # not a line's end: read from the start, filter by seq
    assert resume_point("1:9999", -1, log) == (1, 0)  # past the end (a log rewritten since)
    assert resume_point("1", -1, log) == (1, 0) and resume_point("", 7, log) == (7, 0)
    assert resume_point("x:22", 3, log) == (3, 0)
