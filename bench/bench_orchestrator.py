"""Ingest lag of supervised runs: N concurrent ``command`` runs, each printing RATE records a
second for SECONDS seconds, supervised by one daemon that ingests their logs into the run store.

    python bench/bench_orchestrator.py [--runs 20] [--rate 1000] [--seconds 30] [--workdir DIR] [--trace]

Each record carries the time it was printed (``t``). The script polls the store every 50 ms and
notes, for each run, the first row whose ``ingested_seq`` covers a record. The lag is that row's
``updated``, the time stamped by the transaction that took the record in, minus ``t``: when the
record reached the store, not when this script got the CPU to look (an upper bound all the same:
a later write to the row moves the stamp). The lag as this script saw it (that poll's moment - ``t``,
up to one poll later and waiting for a CPU like everyone else) is printed beside it. It prints
p50/p95/p99/max lag over every record, and checks that every record of every run is in the store
exactly once (episodes in the store = episodes in the log).

Where the time goes: the CPU every process of the benchmark got and waited for (the daemon, the
workers, the programs: the kernel's schedstat), and with ``--trace`` each record's lag cut into
its stages (``orchestrator_trace.py`` times the worker's flushes and the daemon's ticks from
outside): printed -> in the worker's log -> read by the daemon -> committed -> seen by this script.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
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
from rlops.orchestrator.daemon import LOCK_FILE
from rlops.orchestrator.service import TrainerService
from rlops.store.runs import RunStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results as bench_results  # noqa: E402
from orchestrator_trace import TRACE_DAEMON, TRACE_WORKER, children, schedstat, trace_spawns  # noqa: E402

TRACER = Path(__file__).resolve().parent / "orchestrator_trace.py"

PROGRAM = Path(__file__).resolve().parents[1] / "tests" / "orchestrator" / "programs" / "steady.py"
POLL_S = 0.05
TARGET_P95_MS = 250


class ProcessClocks:
    """The last schedstat seen of each worker and of each program (a worker's children), read at
    every poll: they are gone by the end."""

    def __init__(self) -> None:
        self.workers: dict[int, tuple[float, float]] = {}
        self.programs: dict[int, tuple[float, float]] = {}

    def sample(self, worker_pids: list[int]) -> None:
        for pid in worker_pids:
            self._note(self.workers, pid)
            for child in children(pid):
                self._note(self.programs, child)

    @staticmethod
    def _note(into: dict[int, tuple[float, float]], pid: int) -> None:
        clocks = schedstat(pid)
        if clocks != (0.0, 0.0):
            into[pid] = clocks

    def totals(self) -> dict[str, dict[str, float]]:
        def total(clocks: dict[int, tuple[float, float]]) -> dict[str, float]:
            return {"processes": len(clocks), "cpu_s": sum(ran for ran, _ in clocks.values()),
                    "wait_for_cpu_s": sum(waited for _, waited in clocks.values())}
        return {"workers": total(self.workers), "programs": total(self.programs)}


def worker_pid(run_dir: Path) -> int | None:
    try:
        return json.loads((run_dir / "worker.json").read_text(encoding="utf-8"))["pid"]
    except (OSError, ValueError, KeyError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--json", type=Path, default=None, help="write the figures, dated, to this file")
    parser.add_argument("--smoke", action="store_true", help="2 runs x 50 records/s x 2 s: seconds")
    parser.add_argument("--trace", action="store_true", help="time each record's stages (orchestrator_trace.py)")
    parser.add_argument("--daemon-nice", type=int, default=None,
                        help="the daemon's nice value once every run is launched (-10, as root: the daemon gets a "
                             "CPU whenever it wants one, the workers' and programs' CPU out of its way)")
    parser.add_argument("--run-nice", type=int, default=0,
                        help="orchestrator.run_nice: each run's session at this niceness (no root needed)")
    args = parser.parse_args()
    if args.smoke:
        args.runs, args.rate, args.seconds = 2, 50, 2
    if args.json is not None:
        args.json = args.json.resolve()  # the script moves into its work directory
    started_at = bench_results.stamp()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rlops-orch-"))
    os.chdir(workdir)
    flags = ["--orchestrator.max-concurrent", str(args.runs), "--orchestrator.poll-interval", "0.1",
             "--orchestrator.run-nice", str(args.run_nice)]
    options = resolve_options(environ={}, args=flags).options
    entry = [str(TRACER), "daemon"] if args.trace else ["-m", "rlops", "runs", "daemon"]
    daemon = subprocess.Popen([sys.executable, *entry, *flags],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Up and supervising before the first run: its pid is in the lock file once it holds the lock.
    # Read, not locked: taking the lock to look, as daemon_running does, can make the daemon find it
    # held at that moment and leave (it did, at load 12).
    lock = Path(options.store.model_dir) / LOCK_FILE
    while not (lock.is_file() and lock.read_text().strip() == str(daemon.pid)):
        if daemon.poll() is not None:
            raise SystemExit(f"the daemon exited ({daemon.returncode}) before it supervised")
        time.sleep(0.05)
    daemon_sched = schedstat(daemon.pid)
    if args.trace:
        trace_spawns()
    service = TrainerService(options)
    runs = [service.start("command", [sys.executable, str(PROGRAM), str(args.rate), str(args.seconds)],
                          name=f"steady-{i:02d}") for i in range(args.runs)]
    if args.daemon_nice is not None:  # after the launches: a worker the daemon starts would inherit it
        while any(worker_pid(Path(service.store.get_run(run)["run_dir"])) is None for run in runs):
            time.sleep(0.05)
        os.setpriority(os.PRIO_PROCESS, daemon.pid, args.daemon_nice)
        # With autogroup scheduling (Linux's default, sched_autogroup_enabled), CPU is shared between
        # sessions first, and each run's worker leads a session of its own: a process's nice value
        # only counts inside its session, so the daemon's session gets the nice value too.
        try:
            Path(f"/proc/{daemon.pid}/autogroup").write_text(str(args.daemon_nice))
        except OSError as exc:
            print(f"the daemon's session keeps its weight ({exc})")
    store = RunStore(options.store.db_path)
    # (ingested_seq, when first seen, the row's updated stamp then)
    seen: dict[str, list[tuple[int, float, float]]] = {run: [] for run in runs}
    load = [os.getloadavg()[0]]
    clocks = ProcessClocks()
    workers: dict[str, int] = {}
    started = time.time()
    for polls in itertools.count():
        now = time.time()
        rows = {row["run_id"]: row for row in store.list_runs()}
        if polls % 10 == 0:  # twice a second is enough for the clocks, and costs this script little
            for run in runs:
                if run not in workers and (pid := worker_pid(Path(rows[run]["run_dir"]))) is not None:
                    workers[run] = pid
            clocks.sample(list(workers.values()))
        for run in runs:
            seq = rows[run]["ingested_seq"]
            if not seen[run] or seq > seen[run][-1][0]:
                seen[run].append((seq, now, rows[run]["updated"]))
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
    trace = json.loads((Path(options.store.model_dir) / TRACE_DAEMON).read_text()) if args.trace else None
    lags, seen_lags, lost, total = [], [], 0, 0
    stages: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for run in runs:
        row = store.get_run(run)
        logged = [record for _, record in read_records(Path(row["log_path"]))]
        episodes = [r for r in logged if isinstance(r, Episode)]
        total += len(episodes)
        lost += len(episodes) - row["episodes"]
        marks = [seq for seq, *_ in seen[run]]
        for record in episodes:
            index = bisect.bisect_left(marks, record.seq)
            if index < len(marks):
                lags.append(seen[run][index][2] - record.t)
                seen_lags.append(seen[run][index][1] - record.t)
        if trace is not None:
            cut_stages(stages, episodes, seen[run], Path(row["run_dir"]), [i for i in trace["ingests"] if i[0] == run])
    lags.sort()
    seen_lags.sort()

    def pct(p: float, values: list[float] = lags) -> float:
        return values[min(len(values) - 1, int(p * len(values)))] * 1000

    print(f"{args.runs} command runs x {args.rate:,.0f} records/s x {args.seconds:g} s: {total:,} episode records, "
          f"{lost} not in the store (target 0)")
    print(f"ingest lag ms: p50 {pct(0.5):.0f}, p95 {pct(0.95):.0f}, p99 {pct(0.99):.0f}, max {lags[-1] * 1000:.0f} "
          f"(mean {statistics.fmean(lags) * 1000:.0f}; to the store's stamp of the transaction)")
    print(f"as this script saw it, ms: p50 {pct(0.5, seen_lags):.0f}, p95 {pct(0.95, seen_lags):.0f}, p99 "
          f"{pct(0.99, seen_lags):.0f}, max {seen_lags[-1] * 1000:.0f} (polling every {POLL_S * 1000:.0f} ms)")
    print(f"1-minute load average before and after: {load[0]:.1f}, {load[1]:.1f} ({os.cpu_count()} cores)")
    print(f"the daemon: {ran:.2f} s on a CPU, {waited:.2f} s runnable but waiting for one (schedstat)")
    processes = clocks.totals() if trace is None else traced_clocks([store.get_run(run)["run_dir"] for run in runs])
    for kind, figures in processes.items():
        print(f"the {figures['processes']} {kind}: {figures['cpu_s']:.2f} s on a CPU, "
              f"{figures['wait_for_cpu_s']:.2f} s waiting for one (schedstat, as last seen)")
    data = {"runs": args.runs, "rate": args.rate, "seconds": args.seconds, "records": total, "lost": lost,
            "lag_ms": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99), "max": lags[-1] * 1000},
            "seen_lag_ms": {"p50": pct(0.5, seen_lags), "p95": pct(0.95, seen_lags), "p99": pct(0.99, seen_lags),
                            "max": seen_lags[-1] * 1000},
            "load": load, "workdir": str(workdir), "target_p95_ms": TARGET_P95_MS,
            "daemon_cpu_s": ran, "daemon_wait_for_cpu_s": waited, "processes": processes,
            "daemon_nice": args.daemon_nice, "run_nice": args.run_nice,
            "poll_interval_s": options.orchestrator.poll_interval}
    if trace is not None:
        data["stages_ms"] = {stage: percentiles(values) for stage, values in stages.items()}
        data["ticks"] = tick_figures(trace["ticks"])
        for stage, figures in data["stages_ms"].items():
            print(f"stage {stage}: " + ", ".join(f"{k} {v:.0f}" for k, v in figures.items()) + " ms")
        print("daemon ticks: " + ", ".join(f"{k} {v:.1f}" for k, v in data["ticks"].items()))
    print(json.dumps(data))
    bench_results.write(args.json, "orchestrator", started_at, data, smoke=args.smoke)


STAGES = ("printed->logged", "logged->read", "read->committed", "committed->seen")


def cut_stages(stages: dict[str, list[float]], episodes: list[Episode], seen: list[tuple[int, float, float]],
               run_dir: Path, ingests: list[list]) -> None:
    """Each record's lag in its stages: when the worker's flush put it in the log (the first flush
    whose next seq is past it), when the daemon's ingest that took it in began and committed (the
    first whose watermark covers it), and when this script saw it."""
    flushes = json.loads((run_dir / TRACE_WORKER).read_text())["flushes"]
    flushes = [(when, nxt) for when, nxt in flushes if nxt >= 0]
    flush_seqs = [nxt for _, nxt in flushes]
    ingest_seqs = [watermark for *_, watermark in ingests]
    seen_seqs = [seq for seq, *_ in seen]
    for record in episodes:
        f = bisect.bisect_right(flush_seqs, record.seq)
        i = bisect.bisect_left(ingest_seqs, record.seq)
        s = bisect.bisect_left(seen_seqs, record.seq)
        if f >= len(flushes) or i >= len(ingests) or s >= len(seen):
            continue  # flushed at the end (shutdown) or seen only once the run was over
        logged, (_, read, committed, _) = flushes[f][0], ingests[i]
        stages["printed->logged"].append(logged - record.t)
        stages["logged->read"].append(read - logged)
        stages["read->committed"].append(committed - read)
        stages["committed->seen"].append(seen[s][1] - committed)


def traced_clocks(run_dirs: list[str]) -> dict[str, dict[str, float]]:
    """The workers' and programs' CPU as the traced workers read it (every 0.2 s, to their end)."""
    totals = {"workers": {"processes": 0, "cpu_s": 0.0, "wait_for_cpu_s": 0.0},
              "programs": {"processes": 0, "cpu_s": 0.0, "wait_for_cpu_s": 0.0}}
    for run_dir in run_dirs:
        clocks = json.loads((Path(run_dir) / TRACE_WORKER).read_text())["clocks"]
        for kind, key in (("workers", "worker"), ("programs", "programs")):
            totals[kind]["processes"] += 1
            totals[kind]["cpu_s"] += clocks[key][0]
            totals[kind]["wait_for_cpu_s"] += clocks[key][1]
    return totals


def percentiles(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    if not values:
        return {}
    return {f"p{int(p * 100)}": values[min(len(values) - 1, int(p * len(values)))] * 1000 for p in (0.5, 0.95, 0.99)} | \
        {"mean": statistics.fmean(values) * 1000}


def tick_figures(ticks: list[list[float]]) -> dict[str, float]:
    """How long the daemon's ticks took and how far apart they began (ms)."""
    durations = sorted(end - start for start, end, _ in ticks)
    cpu = sorted(used for *_, used in ticks)
    periods = sorted(b[0] - a[0] for a, b in zip(ticks, ticks[1:]))
    def at(values: list[float], p: float) -> float:
        return values[min(len(values) - 1, int(p * len(values)))] * 1000 if values else 0.0
    return {"count": len(ticks), "duration_p50": at(durations, 0.5), "duration_p95": at(durations, 0.95),
            "cpu_p50": at(cpu, 0.5), "cpu_p95": at(cpu, 0.95),
            "period_p50": at(periods, 0.5), "period_p95": at(periods, 0.95)}


if __name__ == "__main__":
    main()
