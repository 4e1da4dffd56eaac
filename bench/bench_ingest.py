"""Metric ingest and read-back: rlops's run store against MLflow, TensorBoard, W&B, raw sqlite3
and JSON lines, for the same 100,000 points (20,000 steps x 5 keys), in one run of this script.

    python bench/bench_ingest.py [--rounds 3] [--read-rounds 5] [--workdir DIR] [--json FILE] [--smoke]

Every measurement runs in a fresh subprocess (this script again, with ``--variant``), so imports,
start-up and one variant's state (caches, threads, a W&B service) never reach another's timer.
Creating the run, writer, client or connection is not timed; building each step's records is.
In each round every variant runs once, in an order rotated between rounds; ratios compare two
results of the same round. The read-backs read the data round 0 wrote, each in a fresh process.
Targets (docs/performance.md): >= 500,000 points/s end to end (>= 100x MLflow log_batch), and
one run's 100,000 points back in < 50 ms. Beside the wall-clock rate, the end-to-end variant
reports its CPU time (the producer's thread and the sink's), a figure the neighbours on a shared
machine do not move much; and the JSON encoders that could write the log (the standard library,
orjson, msgspec) are timed per record on the same records, and so are the decoders that could read
it back (orjson, msgspec, rlops's one-record and column decoders). The read-back times the reads
alone: NumPy's import, which a process's first read pays, is reported beside them.
``--smoke``: 1 round of 1,000 steps.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import results

STEPS = 20_000
KEYS = ("train/loss", "train/entropy", "rollout/reward_mean", "rollout/value_mean", "train/lr")
POINTS = STEPS * len(KEYS)
RUN_ID = "bench-ingest"
TARGET_POINTS_PER_S = 500_000
TARGET_MLFLOW_RATIO = 100
TARGET_READ_S = 0.050


EXTRA: dict[str, float] = {}  # a child's figures besides its seconds (the recorder's CPU time)


def set_steps(steps: int) -> None:
    global STEPS, POINTS
    STEPS, POINTS = steps, steps * len(KEYS)


def series() -> list[list[float]]:
    """The points, one list of 5 values per step; the same for every variant (seeded)."""
    rng = random.Random(0)
    return [[math.sin(step / 500 + k) + rng.gauss(0.0, 0.1) for k in range(len(KEYS))] for step in range(STEPS)]


# -- writers: each returns (seconds, points written); everything before the timer is set-up ----------


def rlops_recorder(workdir: Path, rows: list[list[float]]) -> tuple[float, int]:
    """End to end: RunRecorder (JSONL on this thread) + SqliteSink (dispatcher thread), one record per step."""
    from rlops.events.schema import Metrics
    from rlops.sinks.recorder import RunRecorder
    from rlops.sinks.sqlite import SqliteSink

    log = workdir / "train_log.jsonl"
    recorder = RunRecorder(RUN_ID, log, sinks=[SqliteSink(workdir / "rlops.db", RUN_ID, workdir, log)])
    started, cpu, producer = time.perf_counter(), time.process_time(), time.thread_time()
    t0 = time.monotonic()
    for step, row in enumerate(rows):
        recorder.emit(Metrics(env_steps=step, opt_steps=step, wall_time_s=time.monotonic() - t0, sps=0.0,
                              values=dict(zip(KEYS, row))))
    end = recorder.close("finished", env_steps=STEPS)
    elapsed = time.perf_counter() - started
    # Every thread's CPU (the sink threads have ended: process_time still holds theirs).
    EXTRA.update(cpu_s=time.process_time() - cpu, producer_cpu_s=time.thread_time() - producer)
    if end.dropped:
        raise SystemExit(f"the recorder dropped records: {end.dropped}")
    return elapsed, _rlops_points(workdir / "rlops.db")


def rlops_ingest(workdir: Path, rows: list[list[float]]) -> tuple[float, int]:
    """RunStore.ingest straight from pre-built records, 1,024 records per call (one transaction each)."""
    from rlops.events.schema import Metrics
    from rlops.sinks.recorder import new_trace_id
    from rlops.store.runs import RunStore

    trace, now = new_trace_id(), time.time()
    records = [Metrics(run_id=RUN_ID, trace_id=trace, seq=step, t=now + step * 1e-3, env_steps=step, opt_steps=step,
                       wall_time_s=step * 1e-3, sps=0.0, values=dict(zip(KEYS, row))) for step, row in enumerate(rows)]
    store = RunStore(workdir / "rlops.db")
    store.register_run(RUN_ID, workdir, workdir / "train_log.jsonl")
    started = time.perf_counter()
    for start in range(0, len(records), 1024):
        store.ingest(records[start:start + 1024])
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed, _rlops_points(workdir / "rlops.db")


def rlops_ingest_log(workdir: Path, rows: list[list[float]]) -> tuple[float, int]:
    """ingest_log of the run's JSONL file (the reindex / orchestrator path): parsing included."""
    from rlops.events.schema import Metrics
    from rlops.sinks.recorder import RunRecorder
    from rlops.store.ingest import ingest_log
    from rlops.store.runs import RunStore

    log = workdir / "train_log.jsonl"
    recorder = RunRecorder(RUN_ID, log)
    for step, row in enumerate(rows):
        recorder.emit(Metrics(env_steps=step, opt_steps=step, wall_time_s=step * 1e-3, values=dict(zip(KEYS, row))))
    recorder.close("finished", env_steps=STEPS)
    store = RunStore(workdir / "rlops.db")
    started = time.perf_counter()
    result = ingest_log(store, log)
    elapsed = time.perf_counter() - started
    store.close()
    if result.bad_lines:
        raise SystemExit(f"ingest_log found {result.bad_lines} bad lines")
    return elapsed, _rlops_points(workdir / "rlops.db")


def _rlops_points(db: Path) -> int:
    from rlops.store.runs import RunStore

    store = RunStore(db)
    try:
        return sum(len(store.metric_series(RUN_ID, key)) for key in KEYS)
    finally:
        store.close()


def mlflow_log_batch(workdir: Path, rows: list[list[float]]) -> tuple[float, int]:
    """MlflowClient.log_batch, 1,000 metrics (200 steps) per call, sqlite:/// store, no server."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}")
    experiment = client.create_experiment("bench", artifact_location=(workdir / "mlartifacts").as_uri())
    run_id = client.create_run(experiment).info.run_id
    (workdir / "mlflow_run_id").write_text(run_id)
    per_call = 1000 // len(KEYS)
    started = time.perf_counter()
    for start in range(0, len(rows), per_call):
        timestamp = int(time.time() * 1000)
        metrics = [Metric(key, value, timestamp, step)
                   for step in range(start, min(start + per_call, len(rows))) for key, value in zip(KEYS, rows[step])]
        client.log_batch(run_id, metrics=metrics)
    client.set_terminated(run_id)
    elapsed = time.perf_counter() - started
    return elapsed, sum(len(client.get_metric_history(run_id, key)) for key in KEYS)


def tensorboard_writer(workdir: Path, rows: list[list[float]]) -> tuple[float, int]:
    """torch.utils.tensorboard SummaryWriter.add_scalar per point, then flush + close."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(workdir / "tb"))
    started = time.perf_counter()
    for step, row in enumerate(rows):
        for key, value in zip(KEYS, row):
            writer.add_scalar(key, value, step)
    writer.flush()
    writer.close()
    return time.perf_counter() - started, POINTS


def wandb_offline(workdir: Path, rows: list[list[float]]) -> tuple[float, int]:
    """W&B offline: wandb.log one dict per step, then finish (wandb-core writes the .wandb file)."""
    import wandb

    run = wandb.init(project="bench", dir=str(workdir), mode="offline", settings=wandb.Settings(silent=True))
    started = time.perf_counter()
    for step, row in enumerate(rows):
        run.log(dict(zip(KEYS, row)), step=step)
    run.finish()
    elapsed = time.perf_counter() - started
    wandb.teardown()  # stop the wandb-core service now, not at interpreter exit
    return elapsed, POINTS


def sqlite_executemany(workdir: Path, rows: list[list[float]]) -> tuple[float, int]:
    """Raw sqlite3: WAL, synchronous=NORMAL, index (run_id, key, step), executemany + commit per 1,000 rows."""
    import sqlite3

    db = sqlite3.connect(workdir / "raw.db", isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("CREATE TABLE metrics (run_id TEXT, key TEXT, step INTEGER, value REAL, t REAL)")
    db.execute("CREATE INDEX metrics_series ON metrics (run_id, key, step)")
    per_call = 1000 // len(KEYS)
    started = time.perf_counter()
    for start in range(0, len(rows), per_call):
        now = time.time()
        batch = [(RUN_ID, key, step, value, now)
                 for step in range(start, min(start + per_call, len(rows))) for key, value in zip(KEYS, rows[step])]
        db.execute("BEGIN")
        db.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)", batch)
        db.execute("COMMIT")
    db.close()
    elapsed = time.perf_counter() - started
    check = sqlite3.connect(workdir / "raw.db")
    points = check.execute("SELECT count(*) FROM metrics").fetchone()[0]
    check.close()
    return elapsed, points


def jsonl(workdir: Path, rows: list[list[float]]) -> tuple[float, int]:
    """JSON lines: one json.dumps per step into a buffered file."""
    started = time.perf_counter()
    with open(workdir / "metrics.jsonl", "w", encoding="utf-8") as handle:
        for step, row in enumerate(rows):
            handle.write(json.dumps({"step": step, "t": time.time(), **dict(zip(KEYS, row))}) + "\n")
    return time.perf_counter() - started, POINTS


# -- readers: each returns (seconds, points read) from the data of the writer named in READ_FROM -------


def read_rlops(workdir: Path) -> tuple[float, int]:
    from rlops.store.runs import RunStore

    store = RunStore(workdir / "rlops.db")
    # NumPy is imported by the first series read of a process (so that listing runs never pays for
    # it): set-up, like the connection, timed apart; it was imported with the store until 2026-12-01.
    started = time.perf_counter()
    import numpy  # noqa: F401

    EXTRA["numpy_import_s"] = time.perf_counter() - started
    started = time.perf_counter()
    got = [store.metric_series(RUN_ID, key) for key in KEYS]
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed, sum(len(s.values) for s in got)


def read_mlflow(workdir: Path) -> tuple[float, int]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}")
    run_id = (workdir / "mlflow_run_id").read_text()
    client.get_run(run_id)  # the connection and ORM set-up, not timed
    started = time.perf_counter()
    got = [client.get_metric_history(run_id, key) for key in KEYS]
    return time.perf_counter() - started, sum(len(h) for h in got)


def read_tensorboard(workdir: Path) -> tuple[float, int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(workdir / "tb"), size_guidance={"scalars": 0})
    started = time.perf_counter()
    accumulator.Reload()
    got = [accumulator.Scalars(key) for key in KEYS]
    return time.perf_counter() - started, sum(len(s) for s in got)


def read_sqlite(workdir: Path) -> tuple[float, int]:
    import sqlite3

    db = sqlite3.connect(workdir / "raw.db")
    sql = "SELECT step, value FROM metrics WHERE run_id = ? AND key = ? ORDER BY step"
    plan = " ".join(str(row[-1]) for row in db.execute("EXPLAIN QUERY PLAN " + sql, (RUN_ID, KEYS[0])))
    if "metrics_series" not in plan:
        raise SystemExit(f"the raw sqlite read does not use the index: {plan}")
    started = time.perf_counter()
    got = [db.execute(sql, (RUN_ID, key)).fetchall() for key in KEYS]
    return time.perf_counter() - started, sum(len(rows) for rows in got)


def read_jsonl(workdir: Path) -> tuple[float, int]:
    started = time.perf_counter()
    with open(workdir / "metrics.jsonl", encoding="utf-8") as handle:
        lines = [json.loads(line) for line in handle]
    got = {key: [(line["step"], line[key]) for line in lines] for key in KEYS}
    return time.perf_counter() - started, sum(len(v) for v in got.values())


WRITERS = {
    "rlops_recorder": (rlops_recorder, "rlops RunRecorder + SqliteSink, end to end (close included)"),
    "rlops_ingest": (rlops_ingest, "rlops RunStore.ingest, 1,024 pre-built records per call"),
    "rlops_ingest_log": (rlops_ingest_log, "rlops ingest_log of the JSONL (reindex path, parsing included)"),
    "mlflow": (mlflow_log_batch, "MLflow MlflowClient.log_batch, 1,000 per batch, sqlite store"),
    "tensorboard": (tensorboard_writer, "TensorBoard SummaryWriter.add_scalar, then flush + close"),
    "wandb": (wandb_offline, "W&B offline wandb.log per step, then finish"),
    "sqlite": (sqlite_executemany, "raw sqlite3 executemany per 1,000 rows, WAL, NORMAL, indexed"),
    "jsonl": (jsonl, "JSON lines, json.dumps per step, buffered file"),
}
RLOPS = ("rlops_recorder", "rlops_ingest", "rlops_ingest_log")
PEERS = ("mlflow", "tensorboard", "wandb", "sqlite", "jsonl")
READERS = {
    "rlops": (read_rlops, "rlops_recorder", "rlops RunStore.metric_series x5"),
    "mlflow": (read_mlflow, "mlflow", "MLflow get_metric_history x5"),
    "tensorboard": (read_tensorboard, "tensorboard", "TB EventAccumulator (scalars=0), Reload + Scalars x5"),
    "sqlite": (read_sqlite, "sqlite", "raw sqlite SELECT ... ORDER BY step x5 (indexed)"),
    "jsonl": (read_jsonl, "jsonl", "JSON lines, parse the whole file (extra)"),
}


# -- the encoders that could write the log, on the same records -------------------------------------------


def time_encoders(count: int) -> dict[str, float]:
    """CPU microseconds per record for each encoder, from the record's JSON object (built by the
    schema) to bytes; rlops's ``encode_bytes`` is timed whole (its object, orjson, the NaN check)."""
    import orjson

    from rlops.events.schema import _ENCODER, Metrics, encode_bytes, to_dict

    rows = series()[:count]
    records = [Metrics(run_id=RUN_ID, trace_id="0" * 32, seq=i, t=1.7e9 + i, env_steps=i, opt_steps=i,
                       wall_time_s=i * 1e-3, values=dict(zip(KEYS, row))) for i, row in enumerate(rows)]
    objects = [to_dict(record) for record in records]
    candidates = {"stdlib json": lambda o: _ENCODER.encode(o).encode(), "orjson": orjson.dumps}
    try:
        import msgspec

        candidates["msgspec"] = msgspec.json.Encoder().encode
    except ImportError:
        pass
    timed: dict[str, float] = {}
    for name, encoder in candidates.items():
        started = time.thread_time()
        for item in objects:
            encoder(item)
        timed[name] = (time.thread_time() - started) / count * 1e6
    started = time.thread_time()
    for record in records:
        encode_bytes(record)
    timed["rlops encode_bytes (object + orjson + NaN check)"] = (time.thread_time() - started) / count * 1e6
    return timed


def time_decoders(count: int) -> dict[str, float]:
    """CPU microseconds per record to read the log's lines back: each library's parse (orjson,
    msgspec) to a dict, rlops's one-record ``decode`` (parse, checks, a ``Metrics``), and the
    store's column decoder (``events.columns.decode_lines``: parse and checks by column)."""
    import orjson

    from rlops.events.columns import decode_lines
    from rlops.events.schema import Metrics, decode, encode_bytes

    rows = series()[:count]
    lines = [encode_bytes(Metrics(run_id=RUN_ID, trace_id="0" * 32, seq=i, t=1.7e9 + i, env_steps=i, opt_steps=i,
                                  wall_time_s=i * 1e-3, values=dict(zip(KEYS, row)))) for i, row in enumerate(rows)]
    candidates = {"orjson.loads": orjson.loads, "rlops decode (parse + checks + Metrics)": decode}
    try:
        import msgspec

        candidates["msgspec.json.decode"] = msgspec.json.Decoder().decode
    except ImportError:
        pass
    timed: dict[str, float] = {}
    block = 2800  # the lines of a megabyte, as the ingest reads them
    for name, decoder in candidates.items():
        started = time.thread_time()
        for start in range(0, count, block):
            [decoder(line) for line in lines[start:start + block]]
        timed[name] = (time.thread_time() - started) / count * 1e6
    started = time.thread_time()
    for start in range(0, count, block):
        decode_lines(lines[start:start + block])
    timed["rlops decode_lines (parse + checks by column)"] = (time.thread_time() - started) / count * 1e6
    return timed


# -- the driver -----------------------------------------------------------------------------------------


def child(kind: str, name: str, workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    if kind == "write":
        seconds, points = WRITERS[name][0](workdir, series())
    else:
        seconds, points = READERS[name][0](workdir)
    print(json.dumps({"seconds": seconds, "points": points, **EXTRA}))


def measure(kind: str, name: str, workdir: Path) -> dict[str, float]:
    env = dict(os.environ)
    if name == "wandb":
        env.update(WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DIR=str(workdir),
                   WANDB_CONFIG_DIR=str(workdir / "wandb-config"), WANDB_CACHE_DIR=str(workdir / "wandb-cache"))
    command = [sys.executable, __file__, f"--{kind}", name, "--workdir", str(workdir), "--steps", str(STEPS)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"{kind} {name} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["points"] != POINTS:
        raise SystemExit(f"{kind} {name}: {result['points']} points, expected {POINTS}")
    return result


def rotated(names: list[str], round_index: int) -> list[str]:
    shift = round_index % len(names)
    return names[shift:] + names[:shift]


def summary(values: list[float], fmt: str = ",.0f") -> str:
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}-{max(values):{fmt}}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--read-rounds", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None, help="kept afterwards when given")
    parser.add_argument("--steps", type=int, default=STEPS, help="metrics records (of 5 points each)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures, dated, to this file")
    parser.add_argument("--smoke", action="store_true", help="1 round of 1,000 steps, 1 read round: seconds")
    parser.add_argument("--write", choices=list(WRITERS), help=argparse.SUPPRESS)
    parser.add_argument("--read", choices=list(READERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.read_rounds, args.steps = 1, 1, 1000
    set_steps(args.steps)
    if args.write or args.read:
        child("write" if args.write else "read", args.write or args.read, args.workdir)
        return

    started_at = results.stamp()
    encoders = time_encoders(2000 if args.smoke else 50_000)
    print("JSON encoders, CPU microseconds per metrics record (one thread): " +
          ", ".join(f"{name} {us:.2f}" for name, us in encoders.items()), flush=True)
    decoders = time_decoders(2000 if args.smoke else 50_000)
    print("JSON decoders, CPU microseconds per metrics line (one thread): " +
          ", ".join(f"{name} {us:.2f}" for name, us in decoders.items()), flush=True)
    base = args.workdir or Path(tempfile.mkdtemp(prefix="rlops-bench-ingest-"))
    names = list(WRITERS)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {"cpu_s": [], "producer_cpu_s": []}
    print(f"Ingest: {POINTS:,} points ({STEPS:,} steps x {len(KEYS)} keys), {args.rounds} rounds, "
          f"a fresh process per measurement, order rotated between rounds; workdir {base}", flush=True)
    for round_index in range(args.rounds):
        for name in rotated(names, round_index):
            result = measure("write", name, base / f"round{round_index}" / name)
            seconds[name].append(result["seconds"])
            for key in cpu:
                if key in result:
                    cpu[key].append(result[key])
        print(f"round {round_index}: " + ", ".join(f"{n} {POINTS / seconds[n][-1]:,.0f}/s" for n in names), flush=True)
    rate = {name: [POINTS / s for s in seconds[name]] for name in names}

    print(f"\n{'variant':<66} {'points/s, median [min-max]':<32} s per 100k points")
    for name in names:
        print(f"{WRITERS[name][1]:<66} {summary(rate[name]):<32} {summary(seconds[name], '.3f')}")
    ratios = {f"{r}/{p}": [a / b for a, b in zip(rate[r], rate[p], strict=True)] for r in RLOPS for p in PEERS}
    print("\nrlops points/s / peer points/s (paired by round), median [min-max]")
    print(f"{'':<18}" + "".join(f"{p:<24}" for p in PEERS))
    for r in RLOPS:
        print(f"{r:<18}" + "".join(f"{summary(ratios[f'{r}/{p}'], '.2f'):<24}" for p in PEERS))

    readers = list(READERS)
    read_s: dict[str, list[float]] = {name: [] for name in readers}
    numpy_import_s: list[float] = []
    print(f"\nRead-back of one run's {POINTS:,} points (the data round 0 wrote), {args.read_rounds} rounds, "
          "a fresh process per measurement, connection/client set-up not timed", flush=True)
    for round_index in range(args.read_rounds):
        for name in rotated(readers, round_index):
            result = measure("read", name, base / "round0" / READERS[name][1])
            read_s[name].append(result["seconds"])
            if "numpy_import_s" in result:
                numpy_import_s.append(result["numpy_import_s"])
        print(f"round {round_index}: " + ", ".join(f"{n} {read_s[n][-1] * 1000:,.1f} ms" for n in readers), flush=True)
    read_ratios = {name: [p / r for p, r in zip(read_s[name], read_s["rlops"], strict=True)] for name in readers}
    print(f"\n{'reader':<60} {'ms, median [min-max]':<28} peer time / rlops time (paired)")
    for name in readers:
        print(f"{READERS[name][2]:<60} {summary([s * 1000 for s in read_s[name]], ',.1f'):<28} "
              f"{summary(read_ratios[name], ',.1f')}")

    e2e = statistics.median(rate["rlops_recorder"])
    vs_mlflow = statistics.median(ratios["rlops_recorder/mlflow"])
    read_ms = statistics.median(read_s["rlops"]) * 1000
    print(f"\ntarget ingest >= {TARGET_POINTS_PER_S:,} points/s end to end: {e2e:,.0f} -> "
          f"{'met' if e2e >= TARGET_POINTS_PER_S else 'MISSED'}")
    print(f"target >= {TARGET_MLFLOW_RATIO}x MLflow log_batch: {vs_mlflow:,.1f}x -> "
          f"{'met' if vs_mlflow >= TARGET_MLFLOW_RATIO else 'MISSED'}")
    print(f"target read-back < {TARGET_READ_S * 1000:.0f} ms: {read_ms:,.1f} ms -> "
          f"{'met' if read_ms < TARGET_READ_S * 1000 else 'MISSED'} (a process's first read also imports NumPy: "
          f"{summary([s * 1000 for s in numpy_import_s], ',.1f')} ms, not in this figure)")
    per_cpu = [POINTS / c for c in cpu["cpu_s"]]
    print(f"end to end by CPU time (every thread of the process, close included): {summary(per_cpu)} points per "
          f"CPU-second; the producer's thread {summary([c / STEPS * 1e6 for c in cpu['producer_cpu_s']], '.2f')} us "
          "per record")
    data = {"points": POINTS, "rounds": args.rounds, "write_seconds": seconds, "points_per_s": rate,
            "ratio_median": {k: statistics.median(v) for k, v in ratios.items()},
            "ratios": ratios, "read_seconds": read_s,
            "read_ratio_median": {k: statistics.median(v) for k, v in read_ratios.items()},
            "recorder_cpu_s": cpu["cpu_s"], "recorder_producer_cpu_s": cpu["producer_cpu_s"],
            "recorder_points_per_cpu_s": per_cpu, "encoders_us_per_record": encoders,
            "decoders_us_per_record": decoders, "read_numpy_import_s": numpy_import_s,
            "targets": {"points_per_s": [TARGET_POINTS_PER_S, e2e], "vs_mlflow": [TARGET_MLFLOW_RATIO, vs_mlflow],
                        "read_ms": [TARGET_READ_S * 1000, read_ms]}}
    print(json.dumps(data))
    results.write(args.json, "ingest", started_at, data, smoke=args.smoke)
    if args.workdir is None:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
