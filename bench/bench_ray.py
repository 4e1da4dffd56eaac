"""The Ray backend against the local one and against Ray Tune's own loop, on a local Ray cluster
(a head and two one-CPU worker nodes) inside a loopback-only network namespace.

    python bench/bench_ray.py [--runs 200] [--lag-runs 20] [--rate 1000] [--seconds 30] [--trials 50]

1. ``--runs`` tiny ``command`` runs (10 records each) on the Ray backend, then on the local one,
   at most 4 at once: wall time, and scheduling latency per run (queued -> its first record
   printed on its node), p50/p95.
2. Ingest lag on Ray: ``--lag-runs`` runs each printing ``--rate`` records a second for
   ``--seconds`` seconds (the local backend's figure is bench_orchestrator.py's): p50/p95/p99,
   and every record in the store exactly once.
3. The peer: Ray Tune's ``Tuner.fit`` of the same tiny trainable (10 reports) over ``--trials``
   trials on the same cluster, wall time and per trial.

Re-executes itself under ``unshare -n`` (root) when the machine has more than loopback up.
"""

from __future__ import annotations

import argparse
import json
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


def service(root: Path, backend: str, address: str, concurrent: int, cpus: float = 0.5):
    from rlops.options import resolve_options
    from rlops.orchestrator.service import TrainerService

    args = ["--orchestrator.backend", backend, "--ray.address", address, "--store.model-dir", str(root / "runs"),
            "--registry.db-path", str(root / "rlops.db"), "--orchestrator.poll-interval", "0.1",
            "--orchestrator.max-concurrent", str(concurrent), "--ray.num-cpus", str(cpus)]
    return TrainerService(resolve_options(environ={}, args=args).options)


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


def ingest_lag(root: Path, address: str, runs: int, rate: float, seconds: float) -> dict:
    from rlops.events.reader import read_records
    from rlops.events.schema import Episode

    svc = service(root, "ray", address, runs, cpus=0.1)  # all of them at once on the two one-CPU nodes
    ids = [svc.start("command", [sys.executable, str(STEADY), str(rate), str(seconds)], name=f"lag-{n:02d}")
           for n in range(runs)]
    seen: dict[str, list[tuple[int, float]]] = {r: [] for r in ids}
    while any(svc.store.get_run(r)["exit_code"] is None for r in ids):
        svc.tick()
        now = time.time()
        for run_id in ids:
            seq = svc.store.get_run(run_id)["ingested_seq"]
            if not seen[run_id] or seen[run_id][-1][0] < seq:
                seen[run_id].append((seq, now))
    lags, total = [], 0
    for run_id in ids:
        run = svc.store.get_run(run_id)
        marks = seen[run_id]
        records = [r for _, r in read_records(Path(run["log_path"]))]
        episodes = sum(isinstance(r, Episode) for r in records)
        assert episodes == run["episodes"], (run_id, episodes, run["episodes"])
        total += episodes
        for record in records:
            if isinstance(record, Episode):
                when = next(t for seq, t in marks if seq >= record.seq)
                lags.append(when - record.t)
    svc.close()
    return {"runs": runs, "rate": rate, "seconds": seconds, "records": total,
            "lag_ms": {p: pct(lags, q) * 1000 for p, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))}}


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
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--json", type=Path, default=None, help="write the figures, dated, to this file")
    parser.add_argument("--smoke", action="store_true", help="4 runs, 4 trials, 2 runs x 100 records/s x 3 s")
    args = parser.parse_args()
    if args.smoke:
        args.runs, args.trials, args.lag_runs, args.rate, args.seconds = 4, 4, 2, 100, 3
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
        results["ray_tiny"] = tiny_runs(root / "ray", "ray", cluster.address, args.runs)
        print("ray:", json.dumps(results["ray_tiny"]), flush=True)
        results["local_tiny"] = tiny_runs(root / "local", "local", cluster.address, args.runs)
        print("local:", json.dumps(results["local_tiny"]), flush=True)
        results["tune_peer"] = tune_peer(root, args.trials)
        print("tune:", json.dumps(results["tune_peer"]), flush=True)
        if args.lag_runs:
            results["ray_lag"] = ingest_lag(root / "lag", cluster.address, args.lag_runs, args.rate, args.seconds)
            print("lag:", json.dumps(results["ray_lag"]), flush=True)
    finally:
        cluster.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(results))
    bench_results.write(args.json, "ray", started_at, results, smoke=args.smoke)


if __name__ == "__main__":
    main()
