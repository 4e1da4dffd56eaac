"""Policy server under load: latency of one observation, throughput of batches of 256.

    python bench/bench_policy_server.py [--seconds 10]

Trains a small PPO CartPole policy (MLP 64x64, SB3's default) with rlops, starts ``rlops serve``
on 127.0.0.1 in its own process, and drives it from this process with httpx over keep-alive
connections. Client and server share the machine's 2 cores, so the figures are a floor for a
server given its own cores. For scale, the same forward pass is timed in-process (no HTTP).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from rlops.options import resolve_options
from rlops.services.policy import ServedPolicy
from rlops.services.training import prepare_options, train

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results as bench_results  # noqa: E402

OBS = [0.01, -0.02, 0.03, 0.0]


def load(url: str, body: dict, seconds: float, connections: int) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    lock = threading.Lock()

    def worker() -> None:
        mine = []
        with httpx.Client(base_url=url, timeout=30) as client:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = client.post("/v1/act", json=body)
                assert response.status_code == 200, response.text
                mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def summary(latencies: list[float], seconds: float, per_request: int = 1) -> dict[str, float]:
    ordered = sorted(latencies)
    return {"requests": len(ordered), "requests_per_s": len(ordered) / seconds,
            "observations_per_s": len(ordered) * per_request / seconds,
            "p50_ms": statistics.median(ordered) * 1000, "p99_ms": ordered[int(len(ordered) * 0.99)] * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", type=Path, default=None, help="write the figures, dated, to this file")
    parser.add_argument("--smoke", action="store_true", help="0.5 s per load, a 512-step policy: seconds")
    args = parser.parse_args()
    timesteps = "512" if args.smoke else "4096"
    if args.smoke:
        args.seconds = 0.5
    if args.json is not None:
        args.json = args.json.resolve()  # the script moves into a work directory
    started_at = bench_results.stamp()
    with tempfile.TemporaryDirectory() as workdir:
        os.chdir(workdir)
        options = resolve_options(environ={}, args=["--train.total-timesteps", timesteps, "--env.seed", "0",
                                                    "--train.device", "cpu", "--eval.episodes", "2"]).options
        result = train(prepare_options(options), progress=False)
        policy = ServedPolicy(result.checkpoint)
        for _ in range(100):
            policy.act(OBS)
        started = time.perf_counter()
        for _ in range(2000):
            policy.act(OBS)
        in_process_us = (time.perf_counter() - started) / 2000 * 1e6
        batch = np.random.default_rng(0).normal(0, 0.05, (256, 4)).tolist()
        server = subprocess.Popen([sys.executable, "-m", "rlops", "serve", str(result.checkpoint.path),
                                   "--serve.port", "0", "--serve.hotswap", "off"], stdout=subprocess.PIPE, text=True)
        try:
            url = server.stdout.readline().split(" on ")[-1].strip()
            load(url, {"observation": OBS}, 1.0, 1)  # warm up
            results = {
                "one observation, 1 connection": summary(load(url, {"observation": OBS}, args.seconds, 1),
                                                         args.seconds),
                "one observation, 4 connections": summary(load(url, {"observation": OBS}, args.seconds, 4),
                                                          args.seconds),
                "batch of 256, 2 connections": summary(load(url, {"observations": batch}, args.seconds, 2),
                                                       args.seconds, per_request=256),
            }
        finally:
            server.terminate()
            server.wait(10)
    print(f"in-process forward (ServedPolicy.act, one observation): {in_process_us:.0f} us")
    print(f"{'load':<34} {'requests/s':>11} {'observations/s':>15} {'p50 ms':>8} {'p99 ms':>8}")
    for name, row in results.items():
        print(f"{name:<34} {row['requests_per_s']:>11,.0f} {row['observations_per_s']:>15,.0f} "
              f"{row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f}")
    data = {"in_process_us": in_process_us, **results}
    print(json.dumps(data))
    bench_results.write(args.json, "policy_server", started_at, data, smoke=args.smoke)


if __name__ == "__main__":
    main()
