"""Telemetry overhead: SB3 PPO on CartPole-v1 (8 envs) with rlops telemetry vs. the same
training with none, and vs. SB3's own TensorBoard logging, in one run, paired by round.

    python bench/bench_overhead.py [--rounds 5] [--steps 50000] [--torch-threads 1]

Variants: bare SB3; SB3 with ``tensorboard_log``; rlops with the JSONL log and the SQLite store
(``rlops_local``), plus the OpenTelemetry sink's default file export (``rlops_otel``: what
``rlops train`` runs by default), plus the MLflow (sqlite:/// store) and TensorBoard backends
(``rlops_backends``), the sinks built by name as training builds them. Targets: rlops_local >= 97%
and rlops_otel >= 95% of bare SB3 (median of paired ratios). Every variant builds
the same model from the same seed; only ``model.learn`` is timed. The order of variants rotates
between rounds so drift on a shared machine does not favour one of them. Each measurement runs in
a fresh process (this script again, with ``--variant``), as the peers' figures were taken: no
variant inherits another's warm caches, threads or leftover dispatcher. Torch runs on one thread
by default: the 64x64 MLP gains nothing from a second, and on a shared 2-core machine OpenMP's
spin-waiting workers made the very same seeded run swing from 76 to 2,572 steps/s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from rlops.events.accumulator import MetricsAccumulator
from rlops.options import resolve_options
from rlops.pipeline.sb3.logger import telemetry_logger
from rlops.pipeline.telemetry import TelemetryCallback
from rlops.sinks.base import RunContext
from rlops.sinks.recorder import RunRecorder, new_trace_id
from rlops.sinks.registry import build_sinks
from rlops.store.runs import RunStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results  # noqa: E402
from cpu_clocks import since, thread_cpu  # noqa: E402


N_STEPS = [2048]  # PPO's default rollout per env; --smoke makes it 64 (one rollout of 512 steps)


def build(seed: int, tensorboard: str | None = None) -> PPO:
    venv = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
    return PPO("MlpPolicy", venv, seed=seed, device="cpu", verbose=0, tensorboard_log=tensorboard,
               n_steps=N_STEPS[0], batch_size=min(64, N_STEPS[0] * 8))


class Clocks:
    """Wall time, the training thread's CPU time and the whole process's (every thread's) CPU time."""

    def __init__(self) -> None:
        self.wall, self.train, self.process = time.perf_counter(), time.thread_time(), time.process_time()
        self.threads = thread_cpu()

    def figures(self, steps: int, sink_threads: dict[str, float] | None = None) -> dict:
        wall, train = time.perf_counter() - self.wall, time.thread_time() - self.train
        return {"sps": steps / wall, "train_cpu_s": train, "total_cpu_s": time.process_time() - self.process,
                "sink_threads_cpu_s": sink_threads or {}}


def bare(steps: int, seed: int, _: Path) -> dict:
    model = build(seed)
    clocks = Clocks()
    model.learn(steps)
    return clocks.figures(model.num_timesteps)


def sb3_tensorboard(steps: int, seed: int, workdir: Path) -> dict:
    model = build(seed, tensorboard=str(workdir / "tb"))
    clocks = Clocks()
    model.learn(steps)
    return clocks.figures(model.num_timesteps)


def rlops_telemetry(steps: int, seed: int, workdir: Path, sinks: tuple[str, ...], backend: str = "local") -> dict:
    """Training with rlops telemetry; ``sinks`` are built by name exactly as ``rlops train`` builds them."""
    model = build(seed)
    run_id = f"bench-{seed}"
    options = resolve_options(environ={}, args=[
        "--registry.db-path", str(workdir / "rlops.db"), "--store.model-dir", str(workdir), "--store.backend", backend,
        "--store.tracking-uri", f"sqlite:///{workdir / 'mlflow.db'}", "--env.env-id", "CartPole-v1",
        "--agent.algorithm", "ppo"]).options
    log = workdir / "train_log.jsonl"
    context = RunContext(run_id, workdir, log, options, new_trace_id())
    built, unavailable = build_sinks(context, list(sinks))
    if unavailable:
        raise SystemExit(f"sinks unavailable: {unavailable}")
    recorder = RunRecorder(run_id, log, sinks=built, trace_id=context.trace_id)
    for sink in built:  # remote backends open (and import) on their own thread: not part of the steady cost
        sink.wait_open(120) if hasattr(sink, "wait_open") else None
    telemetry = TelemetryCallback(recorder, MetricsAccumulator())
    model.set_logger(telemetry_logger(telemetry))
    clocks = Clocks()
    started, cpu, main_cpu = time.perf_counter(), time.process_time(), time.thread_time()
    model.learn(steps, callback=telemetry)
    elapsed = time.perf_counter() - started
    # CPU the sinks' threads took while training (the process's CPU minus the training thread's):
    # steadier than wall-clock ratios on a shared machine, and what they cost a 1-core budget.
    main_cpu = time.thread_time() - main_cpu
    other_cpu = time.process_time() - cpu - main_cpu
    # Each sink thread by its own clock, read while it still lives (close ends them).
    by_thread = {name: spent for name, spent in since(clocks.threads, thread_cpu()).items()
                 if name.startswith("rlops-")}
    end = recorder.close("finished", env_steps=model.num_timesteps)
    figures = clocks.figures(model.num_timesteps, by_thread)  # close's CPU counts, its wall time does not
    # Telemetry that silently wrote nothing would be free: check it all reached the store.
    store = RunStore(workdir / "rlops.db")
    run = store.get_run(run_id)
    store.close()
    if end.dropped or run["ingested_seq"] != end.seq or run["episodes"] != telemetry.episodes:
        raise SystemExit(f"telemetry incomplete: dropped {end.dropped}, run row {run}")
    closing = time.perf_counter() - started - elapsed
    print(f"rlops ({'+'.join(sinks)}): {end.seq + 1} records ({telemetry.episodes} episodes), close {closing:.3f} s, "
          f"sink threads {other_cpu:.2f} s CPU = {other_cpu / main_cpu:.1%} of the training thread's {main_cpu:.1f} s",
          file=sys.stderr)
    SINK_CPU.append(other_cpu / main_cpu)
    return {**figures, "sps": model.num_timesteps / elapsed}


SINK_CPU: list[float] = []  # the measured variant's sink-thread CPU share (one value, in its own process)


def rlops_local(steps: int, seed: int, workdir: Path) -> float:
    return rlops_telemetry(steps, seed, workdir, ("sqlite",))


def rlops_otel(steps: int, seed: int, workdir: Path) -> float:
    return rlops_telemetry(steps, seed, workdir, ("sqlite", "otel"))


def rlops_backends(steps: int, seed: int, workdir: Path) -> float:
    return rlops_telemetry(steps, seed, workdir, ("sqlite", "otel", "mlflow", "tensorboard"), "mlflow,tensorboard")


VARIANTS = {"sb3_bare": bare, "sb3_tensorboard": sb3_tensorboard, "rlops_local": rlops_local,
            "rlops_otel": rlops_otel, "rlops_backends": rlops_backends}
TARGETS = (("rlops_local", "sb3_bare", 0.97, "JSONL + SQLite (issue 3)"),
           ("rlops_otel", "sb3_bare", 0.95, "JSONL + SQLite + OTEL file export (issue 5)"),
           ("rlops_backends", "sb3_tensorboard", None, "+ MLflow + TensorBoard, against SB3's own TensorBoard"))


def measure(name: str, steps: int, seed: int, threads: int) -> float:
    """One measurement in a fresh process; returns its steps/s."""
    with tempfile.TemporaryDirectory() as workdir:
        command = [sys.executable, __file__, "--variant", name, "--steps", str(steps), "--seed", str(seed),
                   "--workdir", workdir, "--torch-threads", str(threads)] + (["--smoke"] if N_STEPS[0] != 2048 else [])
        done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    for line in done.stderr.splitlines():
        if line.startswith("rlops ("):
            print(f"  {line}", flush=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["sink_cpu"] is not None:
        SINK_CPU_BY_VARIANT.setdefault(name, []).append(result["sink_cpu"])
    CPU_BY_VARIANT.setdefault(name, []).append({key: result[key] for key in
                                                ("train_cpu_s", "total_cpu_s", "sink_threads_cpu_s")})
    return result["sps"]


SINK_CPU_BY_VARIANT: dict[str, list[float]] = {}
CPU_BY_VARIANT: dict[str, list[dict]] = {}  # per round: the training thread's, every thread's, each sink's
CALLGRIND_NOTE = "callgrind is ~50x slower (importing torch alone took 5 min of wall under load)"


def perf_note() -> str:
    """Whether ``perf stat`` can count instructions here, asked now: it needs the CPU's hardware
    counters, which a VM without a virtual PMU does not have (the kernel then registers no ``cpu``
    event source, and perf answers ``<not supported>``). Without them the CPU clocks stand alone."""
    try:
        done = subprocess.run(["perf", "stat", "-x", ",", "-e", "instructions:u", "true"], capture_output=True,
                              text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"not measured: perf stat could not run ({exc}); {CALLGRIND_NOTE}"
    line = next((line for line in done.stderr.splitlines() if "instructions" in line), "")
    value = line.split(",", 1)[0]
    if value.isdigit():
        return ("perf stat counts instructions on this machine, but this script does not collect them yet "
                "(run a variant under perf stat -e instructions:u)")
    pmu = Path("/sys/bus/event_source/devices/cpu").exists()
    return (f"not measured: perf stat -e instructions:u reports {value or done.stderr.strip()[-120:]!r} here"
            f"{'' if pmu else ' (no hardware PMU: the kernel registered no cpu event source, as on a VM without a virtual PMU)'}"
            f"; {CALLGRIND_NOTE}")
CPU_TARGETS = (("rlops_local", 0.03, "JSONL + SQLite"), ("rlops_otel", 0.05, "+ OpenTelemetry file export"),
               ("rlops_backends", 0.07, "+ MLflow and TensorBoard"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--variant", choices=list(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--torch-threads", type=int, default=1, help="0: torch's default")
    parser.add_argument("--only", nargs="+", choices=list(VARIANTS), help="a subset of the variants (sb3_bare always)")
    parser.add_argument("--json", type=Path, default=None, help="write the figures, dated, to this file")
    parser.add_argument("--smoke", action="store_true", help="1 round of one 512-step rollout: seconds, not minutes")
    args = parser.parse_args()
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    if args.smoke:
        args.rounds, args.steps, N_STEPS[0] = 1, 512, 64
    if args.variant:
        figures = VARIANTS[args.variant](args.steps, args.seed, args.workdir)
        print(json.dumps({**figures, "sink_cpu": SINK_CPU[0] if SINK_CPU else None}))
        return
    started_at = results.stamp()
    names = list(VARIANTS) if not args.only else ["sb3_bare", *[n for n in args.only if n != "sb3_bare"]]
    sps: dict[str, list[float]] = {name: [] for name in names}
    load = [os.getloadavg()[0]]
    for round_index in range(args.rounds):
        order = names[round_index % len(names):] + names[:round_index % len(names)]
        for name in order:
            sps[name].append(measure(name, args.steps, round_index, args.torch_threads))
        load.append(os.getloadavg()[0])
        print(f"round {round_index}: " + ", ".join(f"{n} {sps[n][-1]:,.0f}" for n in names)
              + f" (order {', '.join(order)}; load {load[-1]:.1f})", flush=True)

    def summary(values: list[float]) -> str:
        return f"{statistics.median(values):,.3f} [{min(values):,.3f}-{max(values):,.3f}]"

    def paired(name: str, base: str) -> list[float]:
        return [v / b for v, b in zip(sps[name], sps[base], strict=True)]

    ratios = {name: paired(name, "sb3_bare") for name in names}
    print(f"\nSB3 PPO CartPole-v1, 8 envs, {args.steps} steps, {args.rounds} rounds, torch threads {torch.get_num_threads()}")
    print(f"{'variant':<18} {'steps/s (median [min-max])':<34} ratio to bare SB3 (paired)")
    for name in names:
        print(f"{name:<18} {summary(sps[name]):<34} {summary(ratios[name])}")
    for name, base, target, what in TARGETS:
        if name not in names or base not in names:
            continue
        ratio = statistics.median(paired(name, base))
        verdict = "" if target is None else f" (target >= {target:.0%}: {'met' if ratio >= target else 'MISSED'})"
        print(f"{name} / {base}, {what}: {ratio:.1%}{verdict}")
    for name, shares in SINK_CPU_BY_VARIANT.items():
        print(f"{name}: sink threads' CPU while training = {summary(shares)} of the training thread's (median [min-max])")
    print(f"1-minute load average at start and after each round: {', '.join(f'{x:.1f}' for x in load)} "
          f"({os.cpu_count()} cores)")
    # The CPU measure: the same seeded training (the same steps, updates and episodes), so the CPU
    # time every thread of the process spent, with telemetry against without, is its cost, whatever
    # the neighbours did to the wall clock.
    cpu_overhead = {name: [r["total_cpu_s"] / b["total_cpu_s"] - 1 for r, b in
                           zip(CPU_BY_VARIANT[name], CPU_BY_VARIANT["sb3_bare"], strict=True)] for name in names}
    train_overhead = {name: [r["train_cpu_s"] / b["train_cpu_s"] - 1 for r, b in
                             zip(CPU_BY_VARIANT[name], CPU_BY_VARIANT["sb3_bare"], strict=True)] for name in names}
    print("\nCPU time against bare SB3's, same seed (paired): every thread of the process | the training thread alone")
    for name in names:
        print(f"{name:<18} {summary([100 * x for x in cpu_overhead[name]])} % | "
              f"{summary([100 * x for x in train_overhead[name]])} %")
    for name, target, what in CPU_TARGETS:
        if name in names:
            value = statistics.median(cpu_overhead[name])
            print(f"{name} ({what}): CPU overhead {value:.1%} (target <= {target:.0%}: "
                  f"{'met' if value <= target else 'MISSED'})")
    for name in names:
        threads: dict[str, list[float]] = {}
        for figures in CPU_BY_VARIANT[name]:
            for thread, spent in figures["sink_threads_cpu_s"].items():
                threads.setdefault(thread, []).append(spent)
        if threads:
            print(f"{name}: sink threads' CPU s while training: " +
                  ", ".join(f"{thread} {statistics.median(v):.2f}" for thread, v in sorted(threads.items())))
    perf = perf_note()
    print(f"instruction counts: {perf}")
    data = {"sps": sps, "ratios": ratios, "ratio_median": {n: statistics.median(r) for n, r in ratios.items()},
            "sink_cpu": SINK_CPU_BY_VARIANT, "load": load, "steps": args.steps, "rounds": args.rounds,
            "cpu": CPU_BY_VARIANT, "cpu_overhead": cpu_overhead, "train_cpu_overhead": train_overhead,
            "cpu_overhead_median": {n: statistics.median(v) for n, v in cpu_overhead.items()},
            "cpu_targets": {name: target for name, target, _ in CPU_TARGETS}, "perf": perf}
    print(json.dumps(data))
    results.write(args.json, "overhead", started_at, data, smoke=args.smoke)


if __name__ == "__main__":
    main()
