"""The Ray backend against the local one and against Ray Tune's own loop, on a local Ray cluster
(a head and two one-CPU worker nodes) inside a loopback-only network namespace.

    python bench/bench_ray.py [--runs 200] [--lag-runs 20] [--small-lag-runs 5] [--rate 1000] [--seconds 30]
                              [--trials 50] [--run-nice 0]

1. ``--runs`` tiny ``command`` runs (10 records each) on the Ray backend, then on the local one,
   at most 4 at once: wall time, and scheduling latency per run (queued -> its first record
   printed on its node), p50/p95.
2. Ingest lag on Ray: ``--lag-runs`` runs (then ``--small-lag-runs``) each printing ``--rate``
   records a second for ``--seconds`` seconds, supervised by a real daemon (``rlops runs
   daemon``, poll 0.1 s) while this script polls the store every 50 ms, as bench_orchestrator.py
   does for the local backend: p50/p95/p99/max, every record in the store exactly once, and where
   the time went: the daemon's CPU and its wait for a CPU (schedstat), and how busy the machine's
   CPUs were (/proc/stat).
3. The peer: Ray Tune's ``Tuner.fit`` of the same tiny trainable (10 reports) over ``--trials``
   trials on the same cluster, wall time and per trial.

Re-executes itself under ``unshare -n`` (root) when the machine has more than loopback up.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
PROGRAMS = ROOT / "tests" / "orchestrator" / "ray" / "programs"
STEADY = ROOT / "tests" / "orchestrator" / "programs" / "steady.py"


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def service(root: Path, backend: str, address: str, concurrent: int, cpus: float = 0.5, nice: int = 0):
    from rlops.options import resolve_options
    from rlops.orchestrator.service import TrainerService

    options = resolve_options(environ={}, args=flags(root, backend, address, concurrent, cpus, nice)).options
    return TrainerService(options)


def flags(root: Path, backend: str, address: str, concurrent: int, cpus: float, nice: int) -> list[str]:
    return ["--orchestrator.backend", backend, "--ray.address", address, "--store.model-dir", str(root / "runs"),
            "--registry.db-path", str(root / "rlops.db"), "--orchestrator.poll-interval", "0.1",
            "--orchestrator.max-concurrent", str(concurrent), "--ray.num-cpus", str(cpus),
            "--orchestrator.run-nice", str(nice)]


def tiny_runs(root: Path, backend: str, address: str, count: int) -> dict:
    svc = service(root, backend, address, 4)
    started = time.monotonic()
    ids = [svc.start("command", [sys.executable, str(PROGRAMS / "counter.py"), "10"], name=f"{backend}-{n:03d}")
           for n in range(count)]
    while any(svc.store.get_run(r)["exit_code"] is None and svc.store.get_run(r)["status"] != "lost" for r in ids):
        svc.tick()
        time.sleep(0.05)
    wall = time.monotonic() - started
    latencies = []
    for run_id in ids:
        run = svc.store.get_run(run_id)
        first = svc.store.events(run_id, limit=1)
        assert run["status"] == "finished" and run["episodes"] == 10, run
        latencies.append(first[0]["t"] - run["created"])
    svc.close()
    return {"runs": count, "wall_s": wall, "latency_p50_s": pct(latencies, 0.5), "latency_p95_s": pct(latencies, 0.95)}


def schedstat(pid: int) -> tuple[float, float]:
    """Seconds a process has run on a CPU and waited, runnable, for one."""
    try:
        ran, waited = Path(f"/proc/{pid}/schedstat").read_text().split()[:2]
    except (OSError, ValueError):
        return 0.0, 0.0
    return int(ran) / 1e9, int(waited) / 1e9


def cpu_ticks() -> tuple[int, int]:
    """(busy, all) jiffies of the machine's CPUs so far (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def ingest_lag(root: Path, address: str, runs: int, rate: float, seconds: float, nice: int = 0) -> dict:
    from rlops.events.reader import read_records
    from rlops.events.schema import Episode
    from rlops.orchestrator.daemon import daemon_running

    svc = service(root, "ray", address, runs, cpus=0.1, nice=nice)  # all of them at once on the two one-CPU nodes
    daemon_flags = flags(root, "ray", address, runs, 0.1, nice)
    with open(root / "daemon.log", "ab") as out:
        daemon = subprocess.Popen([sys.executable, "-m", "rlops", "runs", "daemon", *daemon_flags], stdout=out,
                                  stderr=out)
    try:
        while not daemon_running(root / "runs"):
            time.sleep(0.05)
        # A daemon joins the cluster with its first Ray run (seconds here): one tiny run first, so
        # that the figures are a running daemon's, not its start's.
        warm = svc.start("command", [sys.executable, str(PROGRAMS / "counter.py"), "1"], name="warm-up")
        while svc.store.get_run(warm)["exit_code"] is None:
            time.sleep(0.1)
        go = root / "go"  # the runs stream once all are up (steady.py GO_FILE): the lag at `runs` at once
        queued = time.monotonic()
        ids = [svc.start("command", [sys.executable, str(STEADY), str(rate), str(seconds), str(go)],
                         name=f"lag-{n:02d}") for n in range(runs)]
        while not all(row["ingested_seq"] is not None and row["ingested_seq"] >= 0
                      for row in svc.store.list_runs() if row["run_id"] in ids):
            if time.monotonic() - queued > 600:
                raise SystemExit("the lag runs did not all start in 10 minutes")
            time.sleep(0.1)
        ramp = time.monotonic() - queued  # queued -> every run's meta in the store
        daemon_before, busy_before, started = schedstat(daemon.pid), cpu_ticks(), time.monotonic()
        load = [os.getloadavg()[0]]
        go.touch()
        seen: dict[str, list[tuple[int, float]]] = {r: [] for r in ids}
        while True:
            now = time.time()
            rows = {row["run_id"]: row for row in svc.store.list_runs()}
            for run_id in ids:
                seq = rows[run_id]["ingested_seq"]
                if not seen[run_id] or seen[run_id][-1][0] < seq:
                    seen[run_id].append((seq, now))
            if all(rows[r]["exit_code"] is not None or rows[r]["status"] == "lost" for r in ids):
                break
            if time.monotonic() - started > seconds * 10 + 300:
                statuses = {r: rows[r]["status"] for r in ids}
                raise SystemExit(f"the lag runs did not finish in time: {json.dumps(statuses)}")
            time.sleep(0.05)
        wall = time.monotonic() - started
        ran, waited = (after - before for after, before in zip(schedstat(daemon.pid), daemon_before, strict=True))
        busy = [after - before for after, before in zip(cpu_ticks(), busy_before, strict=True)]
        load.append(os.getloadavg()[0])
    finally:
        daemon.terminate()
        daemon.wait(30)
    lags, total = [], 0
    for run_id in ids:
        run = svc.store.get_run(run_id)
        marks = seen[run_id]
        records = [r for _, r in read_records(Path(run["log_path"]))]
        episodes = sum(isinstance(r, Episode) for r in records)
        assert run["status"] == "finished" and episodes == run["episodes"], (run_id, episodes, run)
        assert [r.seq for r in records] == list(range(len(records))), run_id  # each record once, gap-free
        total += episodes
        for record in records:
            if isinstance(record, Episode):
                when = next(t for seq, t in marks if seq >= record.seq)
                lags.append(when - record.t)
    svc.close()
    return {"runs": runs, "rate": rate, "seconds": seconds, "records": total, "lost": 0, "wall_s": wall,
            "lag_ms": {p: pct(lags, q) * 1000 for p, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))},
            "daemon_cpu_s": ran, "daemon_wait_for_cpu_s": waited, "machine_cpu_busy": busy[0] / max(1, busy[1]),
            "load": load, "run_nice": nice, "all_started_s": ramp}


def tune_peer(root: Path, trials: int) -> dict:
    from ray import tune

    def trainable(config: dict) -> None:
        for n in range(10):
            tune.report({"score": config["x"] * n})

    started = time.monotonic()
    tuner = tune.Tuner(tune.with_resources(trainable, {"cpu": 0.5}),
                       param_space={"x": tune.grid_search(list(range(trials)))},
                       tune_config=tune.TuneConfig(metric="score", mode="max", max_concurrent_trials=4),
                       run_config=tune.RunConfig(storage_path=str(root / "tune"), verbose=0))
    tuner.fit()
    wall = time.monotonic() - started
    return {"trials": trials, "wall_s": wall, "per_trial_s": wall / trials}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--lag-runs", type=int, default=20)
    parser.add_argument("--small-lag-runs", type=int, default=5, help="the lag again with this many runs (0: not)")
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--run-nice", type=int, default=0, help="orchestrator.run_nice of the lag runs (0-19)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures, dated, to this file")
    parser.add_argument("--smoke", action="store_true", help="4 runs, 4 trials, 2 runs x 100 records/s x 3 s")
    args = parser.parse_args()
    if args.smoke:
        args.runs, args.trials, args.lag_runs, args.small_lag_runs, args.rate, args.seconds = 4, 4, 2, 0, 100, 3
    if [name for _, name in socket.if_nameindex()] != ["lo"]:
        command = "ip link set lo up && exec " + " ".join(shlex.quote(a) for a in [sys.executable, *sys.argv])
        sys.exit(subprocess.call(["unshare", "-n", "sh", "-c", command]))
    import results as bench_results
    from tests.orchestrator.ray.cluster import Cluster

    started_at = bench_results.stamp()
    root = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    cluster = Cluster(root / "cluster")
    results = {}
    try:
        cluster.start(workers=2)
        if args.runs:  # 0: not (while iterating on one part)
            results["ray_tiny"] = tiny_runs(root / "ray", "ray", cluster.address, args.runs)
            print("ray:", json.dumps(results["ray_tiny"]), flush=True)
            results["local_tiny"] = tiny_runs(root / "local", "local", cluster.address, args.runs)
            print("local:", json.dumps(results["local_tiny"]), flush=True)
        if args.trials:
            results["tune_peer"] = tune_peer(root, args.trials)
            print("tune:", json.dumps(results["tune_peer"]), flush=True)
        if args.lag_runs:
            results["ray_lag"] = ingest_lag(root / "lag", cluster.address, args.lag_runs, args.rate, args.seconds,
                                            args.run_nice)
            print("lag:", json.dumps(results["ray_lag"]), flush=True)
        if args.small_lag_runs:
            results["ray_lag_small"] = ingest_lag(root / "lag-small", cluster.address, args.small_lag_runs, args.rate,
                                                  args.seconds, args.run_nice)
            print("lag (fewer runs):", json.dumps(results["ray_lag_small"]), flush=True)
    finally:
        cluster.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(results))
    bench_results.write(args.json, "ray", started_at, results, smoke=args.smoke)


if __name__ == "__main__":
    main()
