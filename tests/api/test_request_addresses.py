"""SPEC §13 security: an option given over HTTP never points the server at an address, a listener
or a path of the caller's choosing (issue 18, item 1). Against a real uvicorn server: each
reported payload is refused by the form's check and by a start, naming the option, and nothing is
created, launched or contacted; the server's [ui] allowlists let exactly what they name through."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
from pathlib import Path

import pytest

from rlops.api.app import create_app
from rlops.api.options_api import DECIDED_BY_THE_SERVER, RUN_SECTIONS
from rlops.errors import UsageError
from rlops.options import resolve_options
from rlops.options.fields import option_specs
from rlops.options.schema import NAMES
from tests.api.http_helpers import serving

# An option whose name or help reads like an address, a listener, a path or code must say what it
# names in the schema (names(...)), or be here with the reason it names none of them.
LOOKS_LIKE_A_PLACE_KEY = re.compile(r"(uri|url|endpoint|host|_dir$|path|file|_log$|python|kwargs|hyperparams|"
                                    r"env_id$|encoder|init_from|address|bind|root)")
LOOKS_LIKE_A_PLACE_HELP = re.compile(r"\b(paths?|director(y|ies)|urls?|uris?|endpoints?|address(es)?|bind|"
                                     r"interpreter|module:\w+|s3://\S*|hosts?|files?)\b", re.IGNORECASE)
NAMES_NO_PLACE = {
    "infer.env_id": "a filter on the registry's models, never made or loaded",
    "store.run_name": "a plain directory name under store.model_dir, checked by the orchestrator (and decided by the "
                      "server over HTTP)",
    "serve.port": "the port of serve.host, which is marked",
    "ui.port": "the port of ui.host, which is marked",
    "ui.allowed_endpoints": "the allowlist itself: the server's own configuration, never a run's",
    "ui.allowed_paths": "the allowlist itself: the server's own configuration, never a run's",
}
# A value of each kind that reaches outside anything a server allows by default.
OUTSIDE = {"code": "os:system", "checkpoint": "/tmp/some/checkpoint", "address": "http://169.254.169.254/",
           "listen": "0.0.0.0:9464", "path": "/anywhere", "uri": "file:///anywhere",
           "kwargs": {"log_dir": "/anywhere"}}

REPORTED = {  # issue 18's payloads, each a start request's options and the option it must name
    "metadata endpoint": ({"store.backend": "s3", "store.s3_uri": None,
                           "store.endpoint_url": "http://169.254.169.254/latest/meta-data/"}, "store.endpoint_url"),
    "private traces": ({"traces.endpoint": "10.0.0.1"}, "traces.endpoint"),
    "private logs": ({"logs.endpoint": "10.0.0.1:4318"}, "logs.endpoint"),
    "any mlflow host": ({"store.backend": "mlflow", "store.tracking_uri": "http://mlflow.example.com:5000"},
                        "store.tracking_uri"),
    "every interface": ({"metrics.exporter": "prometheus", "metrics.endpoint": "0.0.0.0:9464"}, "metrics.endpoint"),
    "file store anywhere": ({"store.backend": "mlflow", "store.tracking_uri": "file:///anywhere"},
                            "store.tracking_uri"),
    "tensorboard anywhere": ({"agent.hyperparams": {"n_steps": 64, "tensorboard_log": "/anywhere"}},
                             "agent.hyperparams"),
}


class CountingListener:
    """A real socket on 127.0.0.1 that counts who connects (an MLflow server a run would call)."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.1)
        self.port = self.socket.getsockname()[1]
        self.connections = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.socket.accept()
            except OSError:
                continue
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.socket.close()


def children() -> list[int]:
    """Processes whose parent is this one (a launched run's worker would be one)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid():
                found.append(int(entry.name))
    return found


def server_options(*args: str):
    return resolve_options(environ={}, args=list(args)).options


def test_every_option_that_names_an_address_a_listener_or_a_path_is_marked():
    unmarked = {}
    for spec in option_specs():
        assert spec.names is None or spec.names in NAMES, spec.dotted
        looks = LOOKS_LIKE_A_PLACE_KEY.search(spec.key) or LOOKS_LIKE_A_PLACE_HELP.search(spec.help)
        if looks and spec.names is None and spec.dotted not in NAMES_NO_PLACE:
            unmarked[spec.dotted] = spec.help
    assert not unmarked, f"mark these with names(...) in options/schema.py, or say why not here: {unmarked}"
    marked = {spec.dotted: spec.names for spec in option_specs()}
    assert marked["store.endpoint_url"] == "address" and marked["store.tracking_uri"] == "uri"
    assert marked["metrics.endpoint"] == "address" and marked["agent.hyperparams"] == "kwargs"
    assert marked["store.db_path"] == marked["store.model_dir"] == "path" and marked["ui.host"] == "listen"


def test_every_marked_run_option_refuses_a_place_outside_the_server_over_http():
    """The rule is the schema's, not a list in the API: each marked option of a run, enumerated."""
    marked = [spec for spec in option_specs() if spec.names and spec.section in RUN_SECTIONS
              and spec.dotted not in DECIDED_BY_THE_SERVER]
    assert len(marked) >= 10
    with serving(create_app("rlruns/rlops.db", server_options())) as client:
        for spec in marked:
            answer = client.post("/api/options/check", json={"options": {spec.dotted: OUTSIDE[spec.names]}}).json()
            assert answer["ok"] is False and [e["option"] for e in answer["errors"]] == [spec.dotted], spec.dotted
        schema = client.get("/api/options/schema").json()
        assert schema["$defs"]["StoreOptions"]["properties"]["endpoint_url"]["x-names"] == "address"


def test_the_reported_payloads_are_refused_and_nothing_is_started_or_contacted(tmp_path):
    mlflow = CountingListener()
    payloads = {**REPORTED, "this machine's mlflow": ({"store.backend": "mlflow", "store.tracking_uri":
                                                       f"http://127.0.0.1:{mlflow.port}"}, "store.tracking_uri")}
    before = set(children())
    try:
        with serving(create_app("rlruns/rlops.db", server_options())) as client:
            for what, (options, option) in payloads.items():
                check = client.post("/api/options/check", json={"options": options}).json()
                assert check["ok"] is False, what
                assert [e["option"] for e in check["errors"]] == [option], (what, check)
                start = client.post("/api/runs", json={"options": options, "name": what.replace(" ", "-")})
                assert start.status_code == 422, (what, start.text)
                body = start.json()["error"]
                assert body["message"].startswith(option) and [f["option"] for f in body["fields"]] == [option]
                assert "ui.allowed" in body["fields"][0]["message"], body  # says why, and what the server sets
            assert client.get("/api/runs").json() == []
        metadata = REPORTED["metadata endpoint"]
        assert "cloud metadata" in _message(metadata[0], metadata[1])
        assert "private address" in _message({"traces.endpoint": "10.0.0.1"}, "traces.endpoint")
        assert "every interface" in _message({"metrics.endpoint": "0.0.0.0:9464"}, "metrics.endpoint")
        assert "tensorboard_log" in _message({"agent.hyperparams": {"tensorboard_log": "/anywhere"}},
                                             "agent.hyperparams")
    finally:
        mlflow.close()
    runs_root = tmp_path / "rlruns"
    assert not [entry for entry in runs_root.iterdir() if entry.is_dir()] if runs_root.exists() else True
    assert set(children()) <= before  # no worker, no trainer
    assert mlflow.connections == 0  # nobody called the address a request gave


def _message(options: dict, option: str) -> str:
    with serving(create_app("rlruns/rlops.db", server_options())) as client:
        errors = client.post("/api/options/check", json={"options": options}).json()["errors"]
    return next(error["message"] for error in errors if error["option"] == option)


def test_the_servers_allowlists_let_through_exactly_what_they_name(tmp_path):
    root = tmp_path / "allowed"
    (root / "inside").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (root / "out").symlink_to(tmp_path / "outside")
    options = server_options(
        "--ui.allowed-endpoints", json.dumps(["*", "127.0.0.1:5000", "10.20.0.0/16", "0.0.0.0:9464", "mlflow.lab",
                                              "localhost:8080"]),
        "--ui.allowed-paths", json.dumps([str(root), "s3://bucket/runs"]),
        "--store.tracking-uri", "http://10.99.0.1:5000")
    allowed = {
        "store.tracking_uri": ["http://127.0.0.1:5000", "http://10.20.3.4:8080/", "http://93.184.216.34/",
                               "http://LOCALHOST.:8080/",  # named exactly: what it resolves to is the server's call
                               "http://10.99.0.1:5000",  # the server's own value: its configuration
                               f"file://{root}/mlruns", f"sqlite:///{root}/inside/mlflow.db", str(root / "inside")],
        "metrics.endpoint": ["0.0.0.0:9464", "10.20.0.7:4317"],
        "store.s3_uri": ["s3://bucket/runs/a"],
        "agent.hyperparams": [{"tensorboard_log": str(root / "tb"), "n_steps": 64}],
    }
    refused = {
        "store.tracking_uri": [
            "http://127.0.0.1:5001",  # loopback, named only on port 5000
            "http://localhost:5001",  # a name that resolves to loopback: the wildcard does not reach it
            "http://2130706433:8081/",  # 127.0.0.1 spelled as a number resolves like any name
            "http://10.99.0.2:5000",  # private, and not the server's own
            "http://10.30.0.1/", "http://192.168.1.1/", "http://172.16.0.1/",  # private, outside 10.20/16
            "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://[fd00:ec2::254]/",
            "http://[::ffff:169.254.169.254]/", "http://[fc00::1]/",
            "http://mlflow.lab.evil:80/",  # not the named host; its DNS is never asked (refused before)
            f"{root}/../outside/x", f"file://{root}/%2e%2e/outside", str(root / "out" / "x"),  # out by a symlink
            "file://elsewhere/x", "mlruns",  # another machine's file; a path relative to the server's directory
            "s3://bucket/other",
        ],
        "metrics.endpoint": ["0.0.0.0:9465", "[::]:9464", "127.0.0.1:9464"],
        "store.s3_uri": ["s3://bucket/runs/../other", "s3://other/runs"],
        "agent.hyperparams": [{"tensorboard_log": str(tmp_path / "outside")}, {"policy_kwargs": {"x_dir": "/etc"}}],
        "env.env_kwargs": [{"xml_file": "/etc/passwd"}, {"anything": "file:///etc/passwd"}],
    }
    with serving(create_app("rlruns/rlops.db", options)) as client:
        def problems(option: str, value) -> list[dict]:
            return client.post("/api/options/check", json={"options": {option: value}}).json()["errors"]

        for option, values in allowed.items():
            for value in values:
                assert problems(option, value) == [], (option, value)
        for option, values in refused.items():
            for value in values:
                found = problems(option, value)
                assert [error["option"] for error in found] == [option], (option, value, found)


def test_a_server_refuses_an_allowlist_entry_it_cannot_read():
    with pytest.raises(UsageError, match="allowed_endpoints"):
        create_app("rlruns/rlops.db", server_options("--ui.allowed-endpoints", '["http://"]'))
