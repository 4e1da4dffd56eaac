"""Play sessions through a real `rlops ui` and a real WebSocket client: the session's own process
steps the env, the records land in the run's log and the store, the guard covers the handshake."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import websockets

from tests.helpers import tiny_args
from tests.ui.test_dashboard_browser import api, clean_env, ui_server, wait_for

# A 256-step model validates only under rules this lenient.
LENIENT = ("--registry.min-reward", "0", "--registry.min-episodes", "1")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("play")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    with ui_server(home, "--orchestrator.poll-interval", "0.2", "--orchestrator.stop-grace-s", "3", *LENIENT) as base:
        yield base, home


@pytest.fixture(scope="module")
def model_id(server):
    """A tiny PPO of CartPole, trained, registered and validated in the server's registry."""
    base, home = server
    subprocess.run([sys.executable, "-m", "rlops", "train", *tiny_args("ppo", steps=256), "--store.run-name", "tiny", *LENIENT],
                   cwd=home, env=clean_env(), check=True, capture_output=True)
    return next(m["id"] for m in api(base, "/api/models?validated=true") if m["env_id"] == "CartPole-v1")


def start(base: str, **body) -> str:  # noqa: ANN003
    return api(base, "/api/play", body)["run_id"]


def ws_url(base: str, run_id: str) -> str:
    return base.replace("http://", "ws://") + f"/api/play/{run_id}/ws"


async def drive(url: str, script, origin: str | None = None) -> list:  # noqa: ANN001
    """Connect, run ``script(ws, received)`` and return every message received (JSON as dicts,
    frames as bytes)."""
    received: list = []
    headers = {"Origin": origin} if origin else {}
    async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
        async def listen() -> None:
            async for message in ws:
                received.append(message if isinstance(message, bytes) else json.loads(message))
        listener = asyncio.ensure_future(listen())
        await script(ws, received)
        await ws.close()
        await asyncio.wait_for(listener, 10)
    return received


async def until(received: list, predicate, timeout: float = 60.0) -> dict:  # noqa: ANN001
    # As patient as the relay (SESSION_START_S): an agent session imports torch and loads its model
    # before its first frame, which took over 20 s at load 12 on this 2-core machine.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in received:
            if isinstance(message, dict) and predicate(message):
                return message
        await asyncio.sleep(0.02)
    raise AssertionError(f"no such message among {[m for m in received if isinstance(m, dict)][-5:]}")


def run_row(base: str, run_id: str, status: tuple[str, ...] = ("finished", "stopped", "failed")) -> dict:
    return wait_for(lambda: (row := api(base, f"/api/runs/{run_id}")) and row["status"] in status and row, 30,
                    f"run {run_id} to end")


def steps_of(base: str, run_id: str) -> list[dict]:
    return [e for e in api(base, f"/api/runs/{run_id}/events?types=step") if e["type"] == "step"]


def test_a_human_session_records_each_key_and_ends_with_its_page(server):
    base, home = server
    run_id = start(base, env_id="CartPole-v1", mode="human", fps=60)

    async def script(ws, received):  # noqa: ANN001
        await until(received, lambda m: m["type"] == "hello")
        await ws.send(json.dumps({"type": "input", "keys": ["ArrowRight"], "action": 1, "seq": 1}))
        await until(received, lambda m: m["type"] == "step" and m["input_seq"] == 1 and m["step"] >= 3)
        await ws.send(json.dumps({"type": "input", "keys": [], "action": None, "seq": 2}))
        await until(received, lambda m: m["type"] == "step" and m["input_seq"] == 2 and m["actor"] == "human")
        await ws.send(json.dumps({"type": "input", "keys": ["x"], "action": 7, "seq": 3}))  # not in Discrete(2)
        await ws.send("not json")
        await until(received, lambda m: m["type"] == "refused" and m["refused"] == 2)

    received = asyncio.run(drive(ws_url(base, run_id), script))
    frames = [m for m in received if isinstance(m, bytes)]
    assert frames and frames[0][:2] == b"\xff\xd8"  # JPEG
    row = run_row(base, run_id)
    assert row["status"] == "finished" and row["runner"] == "play"
    steps = wait_for(lambda: steps_of(base, run_id), 20, "the session's steps")
    assert all(s["actor"] == "human" for s in steps)
    for s in steps:  # the recorded action is the key held, CartPole's default (0, push left) with none
        assert s["action"] == (1 if s["keys"] == ["ArrowRight"] else 0)
        assert s["action"] != 7
    assert any(s["keys"] == ["ArrowRight"] for s in steps) and any(s["keys"] == [] for s in steps)
    assert all(s["frame"] and (Path(row["run_dir"]) / s["frame"]).is_file() for s in steps)
    episodes = api(base, f"/api/runs/{run_id}/episodes")
    assert episodes and episodes[-1]["length"] == len(steps) - sum(e["length"] for e in episodes[:-1])


def test_an_env_that_raises_ends_the_session_with_the_error_shown_and_the_episode_kept(server):
    base, _ = server
    run_id = start(base, env_id="tests.play.raising_env:Raising-v0", mode="human", fps=60,
                   key_map={"keys": {"ArrowLeft": 0, "ArrowRight": 1}, "noop": 0})

    async def script(ws, received):  # noqa: ANN001
        await until(received, lambda m: m["type"] == "error")

    received = asyncio.run(drive(ws_url(base, run_id), script))
    error = next(m for m in received if isinstance(m, dict) and m["type"] == "error")
    assert "the simulator lost its state" in error["message"]
    assert run_row(base, run_id)["status"] == "failed"
    steps = wait_for(lambda: steps_of(base, run_id), 20, "the steps before the failure")
    assert len(steps) == 4
    assert api(base, f"/api/runs/{run_id}/episodes")[-1]["length"] == 4


def test_an_env_with_no_key_map_is_refused_with_what_to_do(server):
    base, _ = server
    with pytest.raises(urllib.error.HTTPError) as refused:
        start(base, env_id="Pendulum-v1", mode="human")
    body = json.loads(refused.value.read())["error"]
    assert refused.value.code == 422 and "no key map" in body["message"] and "agent mode" in body["hint"]


def test_the_websocket_handshake_passes_the_guard(server):
    base, _ = server
    run_id = start(base, env_id="FrozenLake-v1", mode="human")
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        asyncio.run(drive(ws_url(base, run_id), lambda ws, r: asyncio.sleep(0), origin="http://evil.example"))
    assert refused.value.response.status_code == 403

    async def turns(ws, received):  # noqa: ANN001 - turn-based: a step per key press, none between
        await until(received, lambda m: m["type"] == "hello")
        await asyncio.sleep(0.5)
        assert not any(isinstance(m, dict) and m["type"] == "step" for m in received)
        await ws.send(json.dumps({"type": "input", "keys": ["ArrowDown"], "action": 1, "press": True, "seq": 1}))
        await until(received, lambda m: m["type"] == "step" and m["step"] == 1)

    received = asyncio.run(drive(ws_url(base, run_id), turns, origin=base))
    assert sum(1 for m in received if isinstance(m, dict) and m["type"] == "step") == 1
    run_row(base, run_id)
    assert [s["action"] for s in steps_of(base, run_id)] == [1]


def test_a_second_tab_is_refused(server):  # the limit on sessions: test_play_limits.py
    base, _ = server
    run_id = start(base, env_id="CartPole-v1", mode="human")

    async def two_tabs(ws, received):  # noqa: ANN001
        await until(received, lambda m: m["type"] == "hello")
        second = await drive(ws_url(base, run_id), lambda ws2, r2: until(r2, lambda m: m["type"] == "error"))
        assert any(isinstance(m, dict) and "another tab" in m.get("message", "") for m in second)

    asyncio.run(drive(ws_url(base, run_id), two_tabs))
    run_row(base, run_id)


@pytest.mark.slow  # trains a model first
def test_a_hybrid_session_marks_the_steps_of_the_model_and_of_the_person(server, model_id):
    base, _ = server
    run_id = start(base, env_id="CartPole-v1", mode="hybrid", model_id=model_id, fps=60)

    async def script(ws, received):  # noqa: ANN001
        await until(received, lambda m: m["type"] == "step" and m["actor"] == "agent")
        await ws.send(json.dumps({"type": "input", "keys": ["ArrowLeft"], "action": 0, "seq": 1}))
        await until(received, lambda m: m["type"] == "step" and m["actor"] == "human")
        await ws.send(json.dumps({"type": "input", "keys": [], "action": None, "seq": 2}))
        await until(received, lambda m: m["type"] == "step" and m["input_seq"] == 2 and m["actor"] == "agent")

    asyncio.run(drive(ws_url(base, run_id), script))
    assert run_row(base, run_id)["algorithm"] == "hybrid"
    steps = wait_for(lambda: steps_of(base, run_id), 20, "the session's steps")
    human = [s for s in steps if s["actor"] == "human"]
    agent = [s for s in steps if s["actor"] == "agent"]
    assert human and agent and len(human) + len(agent) == len(steps)
    assert all(s["action"] == 0 and s["keys"] == ["ArrowLeft"] for s in human)


@pytest.mark.slow  # trains a model first
def test_an_agent_session_pauses_and_steps(server, model_id):
    base, _ = server
    run_id = start(base, env_id="CartPole-v1", mode="agent", model_id=model_id, fps=30)

    async def script(ws, received):  # noqa: ANN001
        await until(received, lambda m: m["type"] == "step")
        await ws.send(json.dumps({"type": "pause", "paused": True}))
        await asyncio.sleep(0.3)
        count = sum(1 for m in received if isinstance(m, dict) and m["type"] == "step")
        await asyncio.sleep(0.5)
        assert sum(1 for m in received if isinstance(m, dict) and m["type"] == "step") == count  # paused
        await ws.send(json.dumps({"type": "step"}))
        await until(received, lambda m: sum(1 for x in received if isinstance(x, dict) and x["type"] == "step")
                    == count + 1)

    asyncio.run(drive(ws_url(base, run_id), script))
    run_row(base, run_id)
    assert {s["actor"] for s in steps_of(base, run_id)} == {"agent"}


@pytest.mark.slow  # trains a model first
def test_a_model_for_another_env_is_refused_with_a_switch_env_suggestion(server, model_id):
    base, _ = server
    with pytest.raises(urllib.error.HTTPError) as refused:
        start(base, env_id="Acrobot-v1", mode="agent", model_id=model_id)
    body = json.loads(refused.value.read())["error"]
    assert "CartPole-v1" in body["message"] and "switch env to CartPole-v1" in body["hint"]
