"""Play sessions (issue 17): key press to the next frame shown, and frames per second, for CartPole
(600x400) and LunarLander over the dashboard's WebSocket on loopback.

    flock /tmp/rlops-bench.lock python bench/bench_play.py [--presses 60] [--seconds 5] [--json FILE]

A real ``rlops ui`` in a temporary directory starts a human ``play`` session per env through
``POST /api/play``; a WebSocket client (the ``websockets`` package, as a page would) then

1. measures frames per second at the env's own rate (``render_fps``: 50 for both) and uncapped
   (``fps`` 240, the session's ceiling), counting JPEG frames received over ``--seconds``;
2. presses a key ``--presses`` times at random moments (an ``input`` message with a sequence number)
   and times, on the client, the press to the arrival of the first frame stepped with it (the
   ``step`` message whose ``input_seq`` is the press's, then its JPEG): what a person sees, minus
   the browser's decode and paint (a few ms for a 600x400 JPEG).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results as bench_results  # noqa: E402

ENVS = {"CartPole-v1": ("ArrowRight", 1), "LunarLander-v3": ("ArrowUp", 2)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(base: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


async def session(base: str, env_id: str, fps: float | None, seconds: float, presses: int) -> dict:
    body = {"env_id": env_id, "mode": "human", **({"fps": fps} if fps else {})}
    started = post(base, "/api/play", body)
    url = base.replace("http://", "ws://") + started["socket"]
    key, action = ENVS[env_id]
    async with websockets.connect(url, max_size=None, open_timeout=60) as ws:
        frames, first, size = 0, None, 0
        while True:  # the hello frame: the session is up
            message = await ws.recv()
            if isinstance(message, bytes):
                break
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            message = await ws.recv()
            if isinstance(message, bytes):
                frames += 1
                size += len(message)
        rate = frames / (time.perf_counter() - t0)
        latencies = []
        for seq in range(1, presses + 1):
            await asyncio.sleep(random.uniform(0.05, 0.15))
            pressed = time.perf_counter()
            held = seq % 2 == 1
            await ws.send(json.dumps({"type": "input", "keys": [key] if held else [], "action": action if held else None,
                                      "seq": seq}))
            waiting = True
            while True:
                message = await ws.recv()
                if isinstance(message, str):
                    data = json.loads(message)
                    waiting = not (data.get("type") == "step" and data.get("input_seq") == seq)
                elif not waiting:
                    latencies.append((time.perf_counter() - pressed) * 1000)
                    break
    return {"env_id": env_id, "fps_asked": fps, "frames_per_s": round(rate, 1), "frames": frames,
            "jpeg_kb": round(size / max(frames, 1) / 1024, 1),
            "press_to_frame_ms": {"p50": round(float(np.percentile(latencies, 50)), 1) if latencies else None,
                                  "p95": round(float(np.percentile(latencies, 95)), 1) if latencies else None,
                                  "n": len(latencies)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--json", type=Path, default=None, help="write the figures, dated, to this file")
    parser.add_argument("--smoke", action="store_true", help="CartPole only, 1 s and 5 presses")
    args = parser.parse_args()
    if args.smoke:
        args.presses, args.seconds = 5, 1.0
    started_at = bench_results.stamp()
    envs = ["CartPole-v1"] if args.smoke else list(ENVS)
    home = Path(tempfile.mkdtemp(prefix="rlops-bench-play-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RL_", "OTEL_"))}
    server = subprocess.Popen([sys.executable, "-m", "rlops", "ui", "--ui.port", str(port),
                               "--orchestrator.poll-interval", "0.2"], cwd=home, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(base + "/api/health", timeout=2).close()
                break
            except OSError:
                time.sleep(0.2)
        rows = []
        for env_id in envs:
            for fps in (None, 240.0):
                row = asyncio.run(session(base, env_id, fps, args.seconds, args.presses))
                print(json.dumps(row))
                rows.append(row)
    finally:
        server.terminate()
        server.wait(30)
    data = {"sessions": rows}
    bench_results.write(args.json, "play", started_at, data, smoke=args.smoke)
    print(json.dumps(data))


if __name__ == "__main__":
    main()
