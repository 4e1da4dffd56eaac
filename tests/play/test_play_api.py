"""Play sessions through a real `rlops ui` and a real WebSocket client: the session's own process
steps the env, the records land in the run's log and the store, the guard covers the handshake."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import websockets

from tests.ui.test_dashboard_browser import api, ui_server, wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("play")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    with ui_server(home, "--orchestrator.poll-interval", "0.2", "--orchestrator.stop-grace-s", "3") as base:
        yield base, home


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


async def until(received: list, predicate, timeout: float = 20.0) -> dict:  # noqa: ANN001
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


def test_a_second_tab_is_refused_and_sessions_are_limited(server):
    base, _ = server
    run_id = start(base, env_id="CartPole-v1", mode="human")

    async def two_tabs(ws, received):  # noqa: ANN001
        await until(received, lambda m: m["type"] == "hello")
        second = await drive(ws_url(base, run_id), lambda ws2, r2: until(r2, lambda m: m["type"] == "error"))
        assert any(isinstance(m, dict) and "another tab" in m.get("message", "") for m in second)

    asyncio.run(drive(ws_url(base, run_id), two_tabs))
    run_row(base, run_id)
