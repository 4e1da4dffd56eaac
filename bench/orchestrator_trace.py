"""Stage timestamps for ``bench_orchestrator.py --trace``: where a record's ingest lag goes.

    python bench/orchestrator_trace.py daemon [rlops runs daemon flags]   # the daemon, traced
    python bench/orchestrator_trace.py worker RUN_DIR                     # a worker, traced

Run as the daemon, it is ``rlops runs daemon`` with two stages timed in memory and written to
``<model_dir>/trace_daemon.json`` when it stops: every tick (start, end, CPU) and every run's ingest
(start, end, the run's ``ingested_seq`` after it); the workers it launches are this script too
(``trace_spawns``: the benchmark, whose ``start`` launches the runs, calls it as well).
Run as a worker, it is the run's worker with every flush of the log timed (when, the log's next
``seq``), and its own and its program's schedstat (CPU run and waited for) read every 0.2 s,
written to ``<run_dir>/trace_worker.json`` when it ends. Nothing in ``src/rlops``
knows of it: the production paths are timed from outside, by wrapping their methods.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

TRACE_DAEMON = "trace_daemon.json"
TRACE_WORKER = "trace_worker.json"


def traced_daemon(argv: list[str]) -> int:
    from rlops.options import resolve_options
    from rlops.orchestrator import daemon, service
    from rlops.store.runs import RunStore

    ticks: list[tuple[float, float, float]] = []  # start, end, the CPU it took
    ingests: list[tuple[str, float, float, int]] = []
    tick, ingest_new = service.TrainerService.tick, service.TrainerService.ingest_new

    def timed_tick(self: service.TrainerService) -> None:
        start, cpu = time.time(), time.thread_time()
        tick(self)
        ticks.append((start, time.time(), time.thread_time() - cpu))

    def timed_ingest(self: service.TrainerService, run: dict) -> None:
        start = time.time()
        ingest_new(self, run)
        ingests.append((run["run_id"], start, time.time(), _watermark(self.store, run["run_id"])))

    def _watermark(store: RunStore, run_id: str) -> int:
        return store.get_run(run_id)["ingested_seq"]

    service.TrainerService.tick = timed_tick
    service.TrainerService.ingest_new = timed_ingest
    trace_spawns()
    options = resolve_options(environ={}, args=argv).options
    try:
        return daemon.run_daemon(options)
    finally:
        path = Path(options.store.model_dir) / TRACE_DAEMON
        path.write_text(json.dumps({"ticks": ticks, "ingests": ingests}), encoding="utf-8")


def trace_spawns() -> None:
    """Runs launched by this process from now on have traced workers."""
    from rlops.orchestrator import process, service

    def spawn_traced_worker(run_dir: Path, nice: int = 0) -> int:
        env = {**os.environ, process.NICE_VARIABLE: str(nice)} if nice else None
        with open(Path(run_dir) / process.WORKER_LOG, "ab") as log:
            child = subprocess.Popen([sys.executable, __file__, "worker", str(run_dir)], stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log, start_new_session=True, close_fds=True, env=env)
        process._reap_later(child)
        return child.pid

    service.spawn_worker = spawn_traced_worker


def traced_worker(run_dir: Path) -> int:
    from rlops.orchestrator import process, worker

    process.lower_priority()  # as the worker's main does: orchestrator.run_nice holds for traced runs too

    flushes: list[tuple[float, int]] = []
    flush, finish = worker.Worker._flush_log, worker.Worker._finish
    clocks: dict[str, dict[int, tuple[float, float]]] = {"worker": {}, "programs": {}}
    done = threading.Event()

    def watch_clocks() -> None:
        me = os.getpid()
        while True:
            clocks["worker"][me] = schedstat(me)
            for child in children(me):
                if (found := schedstat(child)) != (0.0, 0.0):
                    clocks["programs"][child] = found
            if done.wait(0.2):
                return

    def timed_flush(self: worker.Worker) -> None:
        flush(self)
        flushes.append((time.time(), self.log.next_seq))

    def timed_finish(self: worker.Worker, code: int, output) -> int:
        flushes.append((time.time(), -1))  # the end: what follows was flushed by shutdown
        try:
            return finish(self, code, output)
        finally:
            done.set()
            clocks["worker"][os.getpid()] = schedstat(os.getpid())
            summary = {kind: [sum(c[0] for c in found.values()), sum(c[1] for c in found.values())]
                       for kind, found in clocks.items()}
            (Path(run_dir) / TRACE_WORKER).write_text(json.dumps({"flushes": flushes, "clocks": summary}),
                                                      encoding="utf-8")

    threading.Thread(target=watch_clocks, daemon=True).start()
    worker.Worker._flush_log = timed_flush
    worker.Worker._finish = timed_finish
    return worker.Worker(Path(run_dir)).run()


def schedstat(pid: int) -> tuple[float, float]:
    """Seconds a process has run on a CPU and waited, runnable, for one (0, 0 where unknown)."""
    try:
        with open(f"/proc/{pid}/schedstat", encoding="ascii") as handle:
            ran, waited = handle.read().split()[:2]
    except (OSError, ValueError):
        return 0.0, 0.0
    return int(ran) / 1e9, int(waited) / 1e9


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
            return [int(child) for child in handle.read().split()]
    except (OSError, ValueError):
        return []


if __name__ == "__main__":
    if sys.argv[1:2] == ["daemon"]:
        sys.exit(traced_daemon(sys.argv[2:]))
    if sys.argv[1:2] == ["worker"] and len(sys.argv) == 3:
        sys.exit(traced_worker(Path(sys.argv[2])))
    sys.exit(__doc__)
