"""The program a play session runs (``python -m rlops.play.session``, launched by the ``play``
runner): the env steps here, server-side, and the dashboard only relays.

It listens on a Unix socket (owner-only) named in ``play.json`` of the run directory and takes one
connection, the page's (through the dashboard's WebSocket relay): a second page is refused, and
the session ends when its page goes (the tab closed, the relay gone) or after ``--connect-timeout``
with no page at all, so no session outlives what drives it. Each step prints a schema v1 ``step``
record on stdout (who acted, the keys held, the frame saved as JPEG under ``play_frames/``) and each
finished episode an ``episode`` record; the ``command`` protocol makes them the run's log, so the
replay page plays a session back like any evaluation.

Messages from the page (JSON): ``input`` {keys, action or null, press}; ``pause`` {paused};
``step``; ``speed`` {fps}. An action the env's space does not hold, or a message of no known type,
is refused (``refused`` goes back, with the count) and never reaches the env.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from PIL import Image

from rlops.errors import RlopsError, UsageError
from rlops.events.schema import Episode, Error, Meta, Step, encode
from rlops.play import wire
from rlops.play.actions import ActionRefused, as_record, checked_action
from rlops.play.agents import PlayAgent, check_fits, load_agent
from rlops.play.episode_files import EPISODES_DIR, EpisodeBuffer
from rlops.play.keymaps import checked_key_map, key_map_for, no_map_error

SESSION_FILE = "play.json"
FRAMES_DIR = "play_frames"
MODES = ("human", "agent", "hybrid")
JPEG_QUALITY = 80


class PlaySession:
    def __init__(self, env: Any, env_id: str, mode: str, key_map: dict[str, Any] | None, agent: PlayAgent | None,
                 fps: float, run_dir: Path | None, out: Any = sys.stdout) -> None:
        self.env, self.env_id, self.mode, self.key_map, self.agent = env, env_id, mode, key_map, agent
        self.fps = fps
        self.run_dir, self.out = run_dir, out
        if run_dir is not None:  # None: only checked (the runner's launch), never played
            (run_dir / FRAMES_DIR).mkdir(parents=True, exist_ok=True)
        # Observations too, per episode: what "save as dataset" needs and step records do not hold.
        self.transitions = EpisodeBuffer(run_dir / EPISODES_DIR if run_dir is not None else None,
                                         env.observation_space, env.action_space)
        self.turn_based = bool(key_map and key_map["turn_based"]) and mode == "human"
        self.held_action: Any = None
        self.held_keys: list[str] = []
        self.turns: list[tuple[Any, list[str]]] = []  # key presses waiting for their step (turn-based)
        self.input_seq = 0
        self.paused = False
        self.single_steps = 0
        self.refused = 0
        self.episode = self.step = self.env_steps = 0
        self.episode_return = 0.0
        self.wake = asyncio.Event()
        self.closed = asyncio.Event()
        self.connected = False
        self.failure: str | None = None
        self.seed: int | None = None
        self.obs: Any = None

    # -- the page's connection --------------------------------------------------------------

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.connected:  # one page per session: a second tab starts its own
            writer.write(wire.pack_json({"type": "error", "message": "this session is open in another tab",
                                         "hint": "start a new session from the play page"}))
            await writer.drain()
            writer.close()
            return
        self.connected = True
        self.writer = writer
        player = asyncio.create_task(self.play())
        try:
            while not player.done():
                message = await read_or_done(reader, player)
                if message is None:
                    break
                self.on_message(message)
        finally:
            self.closed.set()
            self.wake.set()
            await player
            writer.close()

    def on_message(self, message: tuple[int, bytes]) -> None:
        kind, payload = message
        try:
            data = json.loads(payload) if kind == wire.JSON else None
            self._apply(data)
        except (ActionRefused, UsageError, ValueError) as exc:
            self.refused += 1
            self.send({"type": "refused", "message": getattr(exc, "message", str(exc)),
                       "hint": getattr(exc, "hint", None), "refused": self.refused})
        self.wake.set()

    def _apply(self, data: Any) -> None:
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "input":
            keys = data.get("keys", [])
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise UsageError("input.keys is a list of key names")
            action = data.get("action")
            action = None if action is None else checked_action(self.env.action_space, action)
            self.input_seq = int(data.get("seq", self.input_seq + 1))
            self.held_action, self.held_keys = action, keys[:16]
            if self.turn_based and data.get("press") and action is not None:
                self.turns.append((action, self.held_keys))
        elif kind == "pause":
            self.paused = bool(data.get("paused"))
        elif kind == "step":
            self.single_steps += 1
        elif kind == "speed":
            fps = data.get("fps")
            if not isinstance(fps, (int, float)) or not 0.5 <= fps <= 240:
                raise UsageError(f"speed {fps!r} is not a rate from 0.5 to 240 steps per second")
            self.fps = float(fps)
        else:
            raise UsageError(f"message type {kind!r} is not one a session takes",
                             hint="send input, pause, step or speed")

    def send(self, message: dict[str, Any], frame: bytes | None = None) -> None:
        writer = getattr(self, "writer", None)
        if writer is None or writer.is_closing():
            return
        writer.write(wire.pack_json(message) + (wire.pack(wire.JPEG, frame) if frame is not None else b""))

    # -- the env ----------------------------------------------------------------------------------

    async def play(self) -> None:
        self.obs, _ = self.env.reset(seed=self.seed)
        self.transitions.clear(self.obs)
        self.send({"type": "hello", "env_id": self.env_id, "mode": self.mode, "key_map": self.key_map,
                   "turn_based": self.turn_based, "action_space": str(self.env.action_space), "fps": self.fps},
                  self.jpeg(self.env.render()))
        next_tick = time.monotonic()
        while not self.closed.is_set():
            choice = await self._next_choice(next_tick)
            if choice is None:
                break
            next_tick = max(time.monotonic(), next_tick + 1.0 / self.fps)
            action, actor, keys, extras = choice
            try:
                obs, reward, terminated, truncated, _ = self.env.step(action)
                image = self.env.render()
            except Exception as exc:  # the env's own failure: the episode so far is kept, the page is told
                self.fail(exc)
                return
            self.record(obs, action, float(reward), bool(terminated), bool(truncated), actor, keys, extras, image)
            if terminated or truncated:
                self.end_episode()
                obs, _ = self.env.reset()
                self.transitions.clear(obs)
            self.obs = obs
            try:
                await self.writer.drain()
            except ConnectionError:  # the page went while a frame was on its way
                break
        if self.step:  # the page went mid-episode: what was played is kept as an episode
            self.end_episode()

    async def _next_choice(self, next_tick: float) -> tuple[Any, str, list[str], dict[str, Any]] | None:
        """Wait for the next step (a tick, a key press in turn-based play, a single step while
        paused) and decide who acts with what."""
        while not self.closed.is_set():
            if self.turn_based:
                if self.turns:
                    action, keys = self.turns.pop(0)
                    return action, "human", keys, {}
            elif self.paused and self.mode != "human":
                if self.single_steps:
                    self.single_steps -= 1
                    return self._choose()
            else:
                # Always yield, late or not: a loop that is behind would otherwise never let the
                # page's input in (drain does not yield while the buffer is short).
                await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
                return None if self.closed.is_set() else self._choose()
            self.wake.clear()
            await self.wake.wait()
        return None

    def _choose(self) -> tuple[Any, str, list[str], dict[str, Any]]:
        if self.mode != "agent" and self.held_action is not None:
            return self.held_action, "human", list(self.held_keys), {}
        if self.mode == "human":
            return self.key_map["noop"], "human", [], {}
        action, extras = self.agent.act(self.obs)
        return action, "agent", list(self.held_keys), extras

    def record(self, obs: Any, action: Any, reward: float, terminated: bool, truncated: bool, actor: str,
               keys: list[str], extras: dict[str, Any], image: Any) -> None:
        frame = self.jpeg(image)
        name = None
        if frame is not None:
            name = f"{FRAMES_DIR}/e{self.episode:04d}_s{self.step:06d}.jpg"
            (self.run_dir / name).write_bytes(frame)
        self.emit(Step(episode=self.episode, step=self.step, action=as_record(action), reward=reward,
                       terminated=terminated, truncated=truncated, frame=name, actor=actor, keys=keys,
                       belief=extras.get("belief"), intention=extras.get("intention"),
                       confidence=extras.get("confidence")))
        self.transitions.add(action, reward, terminated, truncated, obs)
        self.episode_return += reward
        self.step += 1
        self.env_steps += 1
        self.send({"type": "step", "episode": self.episode, "step": self.step, "action": as_record(action),
                   "reward": reward, "return": self.episode_return, "terminated": terminated, "truncated": truncated,
                   "actor": actor, "input_seq": self.input_seq, "refused": self.refused, "t": time.time(), **extras},
                  frame)

    def end_episode(self) -> None:
        self.transitions.save(self.episode)
        self.emit(Episode(episode=self.episode, episode_return=self.episode_return, length=self.step,
                          env_steps=self.env_steps))
        self.send({"type": "episode", "episode": self.episode, "return": self.episode_return, "length": self.step})
        self.episode += 1
        self.step = 0
        self.episode_return = 0.0

    def fail(self, exc: BaseException) -> None:
        message = f"{self.env_id} raised {type(exc).__name__}: {exc}"
        self.failure = message
        self.emit(Error(message=message, traceback=traceback.format_exc()))
        if self.step:
            self.end_episode()
        self.send({"type": "error", "message": message, "hint": "the episode so far is kept: replay it from the run "
                                                                "page; fix the env and start a new session"})

    def jpeg(self, image: Any) -> bytes | None:
        if image is None or np.ndim(image) != 3:
            return None
        buffer = io.BytesIO()
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="JPEG", quality=JPEG_QUALITY)
        return buffer.getvalue()

    def emit(self, record: Any) -> None:
        record.t = time.time()
        self.out.write(encode(record) + "\n")
        self.out.flush()


async def read_or_done(reader: asyncio.StreamReader, player: asyncio.Task) -> tuple[int, bytes] | None:
    """The page's next message, or None when the page has gone or the env has stopped playing."""
    reading = asyncio.ensure_future(wire.read_message(reader))
    done, _ = await asyncio.wait({reading, player}, return_when=asyncio.FIRST_COMPLETED)
    if reading in done:
        return reading.result()
    reading.cancel()
    return None


def socket_path(run_dir: Path) -> Path:
    """``play.sock`` in the run directory, or in a private temporary directory when that path is
    too long for a Unix socket (108 bytes on Linux)."""
    path = run_dir.resolve() / "play.sock"
    if len(str(path)) < 100:
        return path
    return Path(tempfile.mkdtemp(prefix="rlops-play-")) / "s.sock"


async def serve(session: PlaySession, run_dir: Path, connect_timeout: float) -> int:
    path = socket_path(run_dir)
    server = await asyncio.start_unix_server(session.client, path=str(path))
    os.chmod(path, 0o600)
    (run_dir / SESSION_FILE).write_text(json.dumps({"socket": str(path), "pid": os.getpid()}), encoding="utf-8")
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):  # a stop from the runs page ends the session cleanly
        loop.add_signal_handler(signum, session.closed.set)
    try:
        deadline = time.monotonic() + connect_timeout
        while not session.connected and not session.closed.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if not session.connected:
            print(f"no page connected within {connect_timeout:g} s; the session ends", file=sys.stderr)
        else:
            await session.closed.wait()
            await asyncio.sleep(0.2)  # the client handler records the partial episode and closes
    finally:
        server.close()
        path.unlink(missing_ok=True)
    return 1 if session.failure else 0


def open_session(env_id: str, mode: str, model: str | None, key_map: Any, fps: float | None,
                 run_dir: Path | None) -> PlaySession:
    """Everything checked before a frame is shown: the mode, the env (renders rgb_array), the key
    map (human and hybrid), the model (agent and hybrid: intact and fitting the env)."""
    if mode not in MODES:
        raise UsageError(f"unknown play mode {mode!r}", hint=f"one of {', '.join(MODES)}")
    try:
        env = gym.make(env_id, render_mode="rgb_array")
    except gym.error.Error as exc:
        raise UsageError(f"cannot make env {env_id!r}: {exc}", hint="give a Gymnasium id that renders rgb_array") from None
    if mode != "human" and not model:
        raise UsageError(f"{mode} mode needs a model", hint="pick a registered model, or play in human mode")
    agent = load_agent(model) if model and mode != "human" else None
    if agent is not None:
        check_fits(agent, env_id, env)
    if key_map is not None:
        key_map = checked_key_map(key_map, lambda a: as_record(checked_action(env.action_space, a)))
    else:
        key_map = key_map_for(env_id, env)
    if key_map is None and mode != "agent":
        raise no_map_error(env_id)
    if key_map is not None and key_map["noop"] is None and not key_map["turn_based"] and mode == "human":
        raise UsageError(f"the key map of {env_id} has no no-op for when no key is held",
                         hint="give the key map a noop action")
    rate = fps or float(env.metadata.get("render_fps") or 30)
    return PlaySession(env, env_id, mode, key_map, agent, min(max(rate, 0.5), 240.0), run_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlops.play.session", description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True)
    parser.add_argument("--mode", default="human", choices=MODES)
    parser.add_argument("--model", default=None, help="checkpoint directory (agent and hybrid)")
    parser.add_argument("--key-map", default=None, help="a key map as JSON (else the env's built-in one)")
    parser.add_argument("--fps", type=float, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--connect-timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    run_dir = Path(os.environ.get("RLOPS_RUN_DIR", "."))
    try:
        session = open_session(args.env, args.mode, args.model, json.loads(args.key_map) if args.key_map else None,
                               args.fps, run_dir)
    except RlopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    session.seed = args.seed
    # The run's first record: the runs table reads the env and, as the algorithm column, the mode.
    session.emit(Meta(config={"runner": "play", "env": {"env_id": args.env}, "agent": {"algorithm": args.mode},
                              "play": {"mode": args.mode, "model": args.model, "key_map": session.key_map,
                                       "fps": session.fps}},
                      seed=args.seed, argv=list(sys.argv), producer="rlops.play"))
    try:
        return asyncio.run(serve(session, run_dir, args.connect_timeout))
    finally:
        session.env.close()


if __name__ == "__main__":
    sys.exit(main())
