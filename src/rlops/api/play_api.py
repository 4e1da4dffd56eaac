"""Play sessions from the dashboard: start one, then drive it over one WebSocket.

    GET  /api/play/envs            the envs with a built-in key map (any other Gymnasium id may be given)
    POST /api/play                 {env_id, mode, model_id?, key_map?, fps?}: a ``play`` run; its id
    WS   /api/play/{run_id}/ws     frames (binary JPEG, each after its JSON ``step``) to the page,
                                   the page's input (JSON) to the session
    POST /api/play/{run_id}/dataset  {name?}: "save as dataset", the session's finished episodes as an
                                   offline-RL dataset (its source: this run); the dataset's row

The env runs in the session's own process (``rlops.play.session``); this route only relays
between the page and the session's Unix socket, so closing the tab closes the socket and ends the
session. The WebSocket passes the same guard as every route (Host, Origin, token).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, WebSocket
from pydantic import BaseModel
from starlette.websockets import WebSocketDisconnect

from rlops.errors import RunStateError, UsageError
from rlops.options.schema import Options
from rlops.store.registry import Registry
from rlops.store.run_status import LIVE
from rlops.store.runs import RunStore

MAX_SESSIONS = 4  # concurrent play sessions: each holds an env, a process and a model
SESSION_START_S = 60.0  # how long the relay waits for a queued or starting session's socket


class SaveRequest(BaseModel):
    name: str | None = None


class PlayRequest(BaseModel):
    env_id: str
    mode: str = "human"
    model_id: int | None = None
    key_map: dict[str, Any] | None = None
    fps: float | None = None


def add_play_routes(app: FastAPI, db_path: str | Path, options: Options | None) -> None:
    # Counting the open sessions and starting one are one step: requests run on a thread pool, and a
    # burst of them would otherwise all count the same sessions and all start.
    starting = threading.Lock()

    @app.get("/api/play/envs")
    def play_envs() -> list[dict[str, Any]]:
        from gymnasium import registry

        from rlops.play.keymaps import BUILT_IN, base_name

        found = [env_id for env_id in registry if base_name(env_id) in BUILT_IN and "/" not in env_id]
        return [{"env_id": env_id, "key_map": BUILT_IN[base_name(env_id)]} for env_id in sorted(found)]

    @app.post("/api/play", status_code=201)
    def start_play(body: PlayRequest) -> dict[str, Any]:
        if options is None:
            raise RunStateError("this server only reads runs", hint="start the dashboard with rlops ui")
        from rlops.orchestrator.service import TrainerService

        args = ["--env", body.env_id, "--mode", body.mode]
        if body.model_id is not None:
            args += ["--model", model_path(options, body.model_id, body.env_id)]
        if body.key_map is not None:
            args += ["--key-map", json.dumps(body.key_map)]
        if body.fps is not None:
            args += ["--fps", str(body.fps)]
        service = TrainerService(options)
        try:
            with starting:
                live = [r for r in service.store.list_runs()
                        if r.get("runner") == "play" and r["status"] in LIVE]
                if len(live) >= MAX_SESSIONS:
                    raise RunStateError(f"{len(live)} play sessions are open (at most {MAX_SESSIONS})",
                                        hint="close another play tab, or stop a play run from the runs page")
                run_id = service.start("play", args)
            return {"run_id": run_id, "socket": f"/api/play/{run_id}/ws"}
        finally:
            service.close()

    @app.post("/api/play/{run_id}/dataset", status_code=201)
    def save_dataset(run_id: str, body: SaveRequest) -> dict[str, Any]:
        if options is None:
            raise RunStateError("this server only reads runs", hint="start the dashboard with rlops ui")
        from rlops.play.dataset import save_session_dataset

        store = RunStore(db_path)
        try:
            run = store.get_run(run_id)
        finally:
            store.close()
        return save_session_dataset(run, options.store.model_dir, db_path, body.name)

    @app.websocket("/api/play/{run_id}/ws")
    async def play_socket(websocket: WebSocket, run_id: str) -> None:
        # Accepted at once: a session loading its model (torch) takes seconds, which the page shows.
        await websocket.accept()
        await websocket.send_text(json.dumps({"type": "status", "message": "starting the session…"}))
        path = await _session_socket(db_path, run_id)
        if isinstance(path, str):
            await websocket.send_text(json.dumps({"type": "error", "message": path}))
            await websocket.close(code=1008, reason=path[:120])
            return
        try:
            reader, writer = await asyncio.open_unix_connection(str(path))
        except OSError as exc:
            await websocket.close(code=1011, reason=f"the session's socket did not answer: {exc}"[:120])
            return
        await relay(websocket, reader, writer)


async def _session_socket(db_path: str | Path, run_id: str) -> Path | str:
    """The socket of a play run, once its session listens; or why there is none."""
    from rlops.play.session import SESSION_FILE

    deadline = time.monotonic() + SESSION_START_S
    while time.monotonic() < deadline:
        store = RunStore(db_path)
        try:
            run = next((r for r in store.list_runs() if r["run_id"] == run_id), None)
        finally:
            store.close()
        if run is None or run.get("runner") != "play":
            return f"no play session {run_id}"
        if run["status"] not in LIVE:
            return f"play session {run_id} has ended ({run['status']})"
        info = Path(run["run_dir"]) / SESSION_FILE
        if info.is_file():
            try:
                socket = Path(json.loads(info.read_text(encoding="utf-8"))["socket"])
            except (ValueError, KeyError):
                socket = None
            if socket is not None and socket.exists():
                return socket
        await asyncio.sleep(0.05)
    return f"play session {run_id} did not start within {SESSION_START_S:g} s"


async def relay(websocket: WebSocket, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Page <-> session until either goes; then both are closed (the session ends with its page)."""
    from rlops.play import wire

    async def to_session() -> None:
        while True:
            text = await websocket.receive_text()
            writer.write(wire.pack(wire.JSON, text.encode()))  # the session checks what it says
            await writer.drain()

    async def to_page() -> None:
        while True:
            message = await wire.read_message(reader)
            if message is None:
                return
            kind, payload = message
            if kind == wire.JPEG:
                await websocket.send_bytes(payload)
            else:
                await websocket.send_text(payload.decode())

    tasks = [asyncio.ensure_future(to_session()), asyncio.ensure_future(to_page())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        writer.close()
        try:
            await websocket.close()
        except (RuntimeError, WebSocketDisconnect):  # the page has gone already
            pass


def model_path(options: Options, model_id: int, env_id: str) -> str:
    """A registered model's checkpoint, if it may act: validated (its evaluation passed)."""
    registry = Registry(options.store.db_path)
    try:
        row = registry.get(model_id)
    finally:
        registry.close()
    if not row.get("validated"):
        raise UsageError(f"model {model_id} is not validated", hint="validate it on the Models page first, or pick a "
                                                                   "validated model")
    if row.get("env_id") and row["env_id"] != env_id:
        raise UsageError(f"model {model_id} was trained on {row['env_id']}, not {env_id}",
                         hint=f"switch env to {row['env_id']}, or pick a model trained on {env_id}")
    return str(row["model_path"])
