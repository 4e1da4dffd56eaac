"""OpenTelemetry's cost per episode: episode records through the OTel sink with the file export,
in CPU time (every thread of the process), in one process.

    python bench/bench_otel.py [--episodes 20000] [--rounds 3] [--batch 64] [--json bench/results/otel.json]

Each measurement opens a fresh ``OtelSink`` on the default options (metrics, traces and logs,
file export: what a training run uses), hands it a ``meta`` record, then ``--episodes``
``episode`` records in batches of ``--batch`` (as the sink's dispatcher thread does), then the
``end`` record, and shuts it down, so every span is exported to ``traces.jsonl`` and every metric
to ``metrics.jsonl`` within the measurement. The CPU time of the whole process (the calling
thread plus the SDK's batch-processor and metric-reader threads) less that of the same sink with
no episodes, divided by the episodes, is the cost of one episode: the neighbours on a shared
machine slow it down, but do not add to it. The calling thread's own CPU (``export``, the hot
path: span creation and instrument updates) is reported beside it, and the variants with only
traces or only metrics say where it goes. Every span must reach the file.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rlops.events.schema import End, Episode, Meta
from rlops.options import resolve_options
from rlops.sinks.otel import OtelSink
from rlops.sinks.recorder import new_trace_id

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results as bench_results  # noqa: E402

VARIANTS = {
    "all signals (the default)": [],
    "traces only": ["--metrics.enable", "false", "--logs.enable", "false"],
    "metrics only": ["--traces.enable", "false", "--logs.enable", "false"],
}


def episodes(n: int, run_id: str, trace_id: str, t0: float) -> list[Episode]:
    return [Episode(run_id=run_id, trace_id=trace_id, seq=i + 1, t=t0 + i * 1e-3, env_index=i % 8, episode=i,
                    episode_return=float(10 + i % 190), length=10 + i % 190, env_steps=100 * (i + 1))
            for i in range(n)]


def one_sink(args: list[str], n: int, batch: int, workdir: Path) -> dict[str, float]:
    """CPU seconds of the process and of this thread, opening the sink to its shutdown."""
    options = resolve_options(environ={}, args=args).options
    run_id, trace_id, t0 = "bench-otel", new_trace_id(), 1.8e9
    records = episodes(n, run_id, trace_id, t0 + 1.0)
    meta = Meta(run_id=run_id, trace_id=trace_id, seq=0, t=t0, config={}, device="cpu", producer="bench")
    end = End(run_id=run_id, trace_id=trace_id, seq=n + 1, t=t0 + 2.0 + n * 1e-3, status="finished", env_steps=100 * n)
    process, thread, wall = time.process_time(), time.thread_time(), time.perf_counter()
    sink = OtelSink(options, workdir, run_id, trace_id)
    sink.export([meta])
    for start in range(0, n, batch):
        sink.export(records[start:start + batch])
    sink.export([end])
    exported = time.thread_time() - thread
    sink.shutdown()
    out = {"process_s": time.process_time() - process, "thread_s": time.thread_time() - thread,
           "export_s": exported, "wall_s": time.perf_counter() - wall, "lost": sink.lost}
    spans = workdir / "otel" / "traces.jsonl"
    if options.traces.enable:
        names = [json.loads(line)["name"] for line in spans.read_text(encoding="utf-8").splitlines()]
        assert names.count("rl.episode") == n and names.count("rl.run") == 1, (len(names), n)
    return out


def measure(args: list[str], n: int, batch: int) -> dict[str, float]:
    """Per episode, in microseconds: (a sink with n episodes) - (the same sink with none)."""
    with tempfile.TemporaryDirectory(prefix="rlops-bench-otel-") as tmp:
        empty = one_sink(args, 0, batch, Path(tmp) / "empty")
        full = one_sink(args, n, batch, Path(tmp) / "full")
    assert full["lost"] == 0, full
    return {"process_us": (full["process_s"] - empty["process_s"]) / n * 1e6,
            "export_us": (full["export_s"] - empty["export_s"]) / n * 1e6,
            "other_threads_us": ((full["process_s"] - full["thread_s"]) - (empty["process_s"] - empty["thread_s"]))
            / n * 1e6,
            "wall_us": (full["wall_s"] - empty["wall_s"]) / n * 1e6}


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):,.1f} [{min(values):,.1f}-{max(values):,.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64, help="episode records per export call")
    parser.add_argument("--json", type=Path, default=None, help="write the figures, dated, to this file")
    parser.add_argument("--smoke", action="store_true", help="1 round of 200 episodes: seconds")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.episodes = 1, 200
    started_at = bench_results.stamp()
    print(f"{args.rounds} rounds x {args.episodes:,} episodes, batches of {args.batch}; "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    measure([], min(args.episodes, 500), args.batch)  # warm-up: imports and first-call costs untimed
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    names = list(VARIANTS)
    for round_index in range(args.rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            runs[name].append(measure(VARIANTS[name], args.episodes, args.batch))
    print(f"\n{'CPU us per episode (median [min-max])':<30} {'process':<26} {'export (hot path)':<26} "
          f"{'SDK threads':<26} wall")
    results: dict[str, Any] = {}
    for name, rounds in runs.items():
        columns = {key: [r[key] for r in rounds] for key in rounds[0]}
        print(f"{name:<30} {summary(columns['process_us']):<26} {summary(columns['export_us']):<26} "
              f"{summary(columns['other_threads_us']):<26} {summary(columns['wall_us'])}")
        results[name] = {key: {"values": values, "median": statistics.median(values)}
                         for key, values in columns.items()}
    print(f"1-minute load average at the end: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")
    data = {"episodes": args.episodes, "rounds": args.rounds, "batch": args.batch, "results": results}
    print(json.dumps(data))
    bench_results.write(args.json, "otel", started_at, data, smoke=args.smoke)


if __name__ == "__main__":
    main()
