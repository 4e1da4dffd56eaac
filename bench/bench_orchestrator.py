"""Ingest lag of supervised runs: N concurrent ``command`` runs, each printing RATE records a
second for SECONDS seconds, supervised by one daemon that ingests their logs into the run store.

    python bench/bench_orchestrator.py [--runs 20] [--rate 1000] [--seconds 30] [--workdir DIR]

Each record carries the time it was printed (``t``). The script polls the store every 50 ms and
notes when each run's ``ingested_seq`` first covers a record: lag = that moment - ``t`` (an upper
bound, by up to one poll). It prints p50/p95/p99/max lag over every record, and checks that every
record of every run is in the store exactly once (episodes in the store = episodes in the log).
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rlops.events.reader import read_records
from rlops.events.schema import Episode
from rlops.options import resolve_options
from rlops.orchestrator.daemon import daemon_running
from rlops.orchestrator.service import TrainerService
from rlops.store.runs import RunStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results as bench_results  # noqa: E402

PROGRAM = Path(__file__).resolve().parents[1] / "tests" / "orchestrator" / "programs" / "steady.py"
POLL_S = 0.05
TARGET_P95_MS = 250


def schedstat(pid: int) -> tuple[float, float]:
    """Seconds a process has run on a CPU and waited, runnable, for one (0, 0 where unknown)."""
    try:
        with open(f"/proc/{pid}/schedstat", encoding="ascii") as handle:
            ran, waited = handle.read().split()[:2]
    except (OSError, ValueError):
        return 0.0, 0.0
    return int(ran) / 1e9, int(waited) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--json", type=Path, default=None, help="write the figures, dated, to this file")
    parser.add_argument("--smoke", action="store_true", help="2 runs x 50 records/s x 2 s: seconds")
    args = parser.parse_args()
    if args.smoke:
        args.runs, args.rate, args.seconds = 2, 50, 2
    if args.json is not None:
        args.json = args.json.resolve()  # the script moves into its work directory
    started_at = bench_results.stamp()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rlops-orch-"))
    os.chdir(workdir)
    flags = ["--orchestrator.max-concurrent", str(args.runs), "--orchestrator.poll-interval", "0.1"]
    options = resolve_options(environ={}, args=flags).options
    daemon = subprocess.Popen([sys.executable, "-m", "rlops", "runs", "daemon", *flags],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not daemon_running(Path(options.store.model_dir)):  # up and supervising before the first run
        time.sleep(0.05)
    daemon_sched = schedstat(daemon.pid)
    service = TrainerService(options)
    runs = [service.start("command", [sys.executable, str(PROGRAM), str(args.rate), str(args.seconds)],
                          name=f"steady-{i:02d}") for i in range(args.runs)]
    store = RunStore(options.store.db_path)
    seen: dict[str, list[tuple[int, float]]] = {run: [] for run in runs}  # (ingested_seq, when first seen)
    load = [os.getloadavg()[0]]
    started = time.time()
    while True:
        now = time.time()
        rows = {row["run_id"]: row for row in store.list_runs()}
        for run in runs:
            seq = rows[run]["ingested_seq"]
            if not seen[run] or seq > seen[run][-1][0]:
                seen[run].append((seq, now))
        if all(rows[run]["status"] not in ("queued", "running") and rows[run]["exit_code"] is not None for run in runs):
            break
        if now - started > args.seconds * 4 + 120:
            raise SystemExit("runs did not finish in time: " + json.dumps({r: rows[r]["status"] for r in runs}))
        time.sleep(POLL_S)
    load.append(os.getloadavg()[0])
    # Where the daemon's time went: on a CPU, or runnable and waiting for one (the kernel's schedstat).
    ran, waited = (after - before for after, before in zip(schedstat(daemon.pid), daemon_sched, strict=True))
    daemon.terminate()
    daemon.wait(30)
    lags, lost, total = [], 0, 0
    for run in runs:
        row = store.get_run(run)
        logged = [record for _, record in read_records(Path(row["log_path"]))]
        episodes = [r for r in logged if isinstance(r, Episode)]
        total += len(episodes)
        lost += len(episodes) - row["episodes"]
        marks = [seq for seq, _ in seen[run]]
        for record in episodes:
            index = bisect.bisect_left(marks, record.seq)
            if index < len(marks):
                lags.append(seen[run][index][1] - record.t)
    lags.sort()

    def pct(p: float) -> float:
        return lags[min(len(lags) - 1, int(p * len(lags)))] * 1000

    print(f"{args.runs} command runs x {args.rate:,.0f} records/s x {args.seconds:g} s: {total:,} episode records, "
          f"{lost} not in the store (target 0)")
    print(f"ingest lag ms: p50 {pct(0.5):.0f}, p95 {pct(0.95):.0f}, p99 {pct(0.99):.0f}, max {lags[-1] * 1000:.0f} "
          f"(mean {statistics.fmean(lags) * 1000:.0f}; includes up to {POLL_S * 1000:.0f} ms of polling)")
    print(f"1-minute load average before and after: {load[0]:.1f}, {load[1]:.1f} ({os.cpu_count()} cores)")
    print(f"the daemon: {ran:.2f} s on a CPU, {waited:.2f} s runnable but waiting for one (schedstat)")
    data = {"runs": args.runs, "rate": args.rate, "seconds": args.seconds, "records": total, "lost": lost,
            "lag_ms": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99), "max": lags[-1] * 1000},
            "load": load, "workdir": str(workdir), "target_p95_ms": TARGET_P95_MS,
            "daemon_cpu_s": ran, "daemon_wait_for_cpu_s": waited}
    print(json.dumps(data))
    bench_results.write(args.json, "orchestrator", started_at, data, smoke=args.smoke)


if __name__ == "__main__":
    main()
