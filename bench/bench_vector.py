"""The vector engine (``train.engine = vector``) against its peers, in one process run.

    flock /tmp/rlops-bench.lock python bench/bench_vector.py [--envs 1024 4096 16384] [--threads 1 2]
        [--rollouts 4] [--skip-solve] [--skip-peers] [--only-training] [--smoke] [--json bench/results/vector.json]

1. acting + env stepping (rollouts without updates) with telemetry on (accumulator + episode
   bookkeeping + the JSONL log) and off, per env count;
2. training end to end (rollout + update + record) with telemetry on and off, at the example
   config's settings (examples/cartpole-vector.toml), per env count and torch thread count;
3. a profile at 4,096 envs: env step alone, acting (forward + sampling), telemetry, update;
4. the wall clock (and CPU seconds, and where the time went) of ``rlops train --config
   examples/cartpole-vector-quick.toml`` to a validated model (eval mean >= 475 over 10 episodes),
   from process start, over seeds; then of examples/cartpole-vector.toml (1,024 envs);
5. peers: SB3 PPO at 8 envs and at 1,024 envs (DummyVecEnv), and examples/cleanrl_ppo.py at its
   defaults (its SPS from two budgets' wall-clock difference, which cancels its start-up).
6. with --pendulum / --lunar: the same for examples/pendulum-vector.toml (>= -250) and
   examples/lunarlander-vector.toml (>= 200), whose budgets cap the env steps (eval.stop_reward ends them).

Prints each figure and the ratios against the targets; the load average is recorded before and
after (the machine is shared: figures under load are lower bounds).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from rlops.events.accumulator import MetricsAccumulator
from rlops.options import resolve_options
from rlops.pipeline.vector.envs import BatchedEnv
from rlops.pipeline.vector.hyperparams import hyperparams_of
from rlops.pipeline.vector.loop import VectorLearner
from rlops.pipeline.vector.telemetry import RolloutTelemetry
from rlops.sinks.recorder import RunRecorder

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "cartpole-vector.toml"
QUICK = ROOT / "examples" / "cartpole-vector-quick.toml"  # the time-to-solve preset (eval.stop_reward)
LONGER = {"lunar": ROOT / "examples" / "lunarlander-vector.toml", "pendulum": ROOT / "examples" / "pendulum-vector.toml"}


def example_options(n_envs: int) -> Any:
    options = resolve_options(config=EXAMPLE, environ={}, args=[]).options
    options.env.n_envs = n_envs
    options.train.total_timesteps = 10**12
    options.train.device = "cpu"
    return options


def learner_for(n_envs: int, telemetry_on: bool, log_dir: Path) -> tuple[VectorLearner, RolloutTelemetry | None]:
    options = example_options(n_envs)
    params = hyperparams_of(options)
    device = torch.device("cpu")
    env = BatchedEnv(options.env, n_envs, 0, device)
    learner = VectorLearner(env, params, options.obs.normalize, options.obs.clip_range, 10**12, device)
    learner.start(0)
    telemetry = None
    if telemetry_on:
        recorder = RunRecorder("bench", log_dir / f"log-{n_envs}-{time.monotonic_ns()}.jsonl")
        telemetry = RolloutTelemetry(recorder, MetricsAccumulator(n_actions=2), n_envs, params.n_steps, device)
    return learner, telemetry


def acting(n_envs: int, rollouts: int, telemetry_on: bool, log_dir: Path) -> dict[str, float]:
    """Env steps per second of wall clock, and per second of this process's CPU (what a core
    gives when it is not shared: the load-independent figure on a busy machine)."""
    learner, telemetry = learner_for(n_envs, telemetry_on, log_dir)
    learner.collect(telemetry)  # warm-up
    if telemetry:
        telemetry.record(learner.num_timesteps, 0, {})
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(rollouts):
        learner.collect(telemetry)
        if telemetry:
            telemetry.record(learner.num_timesteps, 0, {})
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    learner.env.close()
    steps = rollouts * learner.rollout_steps
    return {"sps": steps / seconds, "sps_per_cpu_s": steps / cpu}


def training(n_envs: int, rollouts: int, telemetry_on: bool, log_dir: Path) -> dict[str, float]:
    learner, telemetry = learner_for(n_envs, telemetry_on, log_dir)
    parts = {"collect": 0.0, "update": 0.0, "record": 0.0}
    cpu = 0.0
    for index in range(rollouts + 1):
        cpu_start = time.process_time()
        marks = [time.perf_counter()]
        learner.collect(telemetry)
        marks.append(time.perf_counter())
        stats = learner.update()
        marks.append(time.perf_counter())
        if telemetry:
            telemetry.record(learner.num_timesteps, learner.n_updates, stats)
        marks.append(time.perf_counter())
        if index:  # the first is a warm-up
            cpu += time.process_time() - cpu_start
            for name, start, end in zip(parts, marks[:-1], marks[1:], strict=True):
                parts[name] += end - start
    learner.env.close()
    total = sum(parts.values())
    steps = rollouts * learner.rollout_steps
    return {"sps": steps / total, "sps_per_cpu_s": steps / cpu, **{f"{k}_share": v / total for k, v in parts.items()}}


def profile(n_envs: int, rollouts: int, log_dir: Path) -> dict[str, float]:
    """Per vector step, in ms: env step alone (random actions), acting, telemetry; update per rollout."""
    learner, telemetry = learner_for(n_envs, True, log_dir)
    steps = rollouts * learner.params.n_steps
    actions = torch.randint(0, 2, (n_envs,))
    started = time.perf_counter()
    for _ in range(steps):
        learner.env.step(actions)
    env_ms = (time.perf_counter() - started) / steps * 1e3
    learner.start(0)
    times = {}
    for name, tele in (("without", None), ("with", telemetry)):
        started = time.perf_counter()
        for _ in range(rollouts):
            learner.collect(tele)
            if tele:
                tele.record(learner.num_timesteps, 0, {})
        times[name] = (time.perf_counter() - started) / steps * 1e3
    started = time.perf_counter()
    for _ in range(rollouts):
        learner.update()
    update_ms = (time.perf_counter() - started) / rollouts * 1e3
    learner.env.close()
    return {"env_step_ms": env_ms, "acting_ms": times["without"] - env_ms, "telemetry_ms": times["with"] - times["without"],
            "update_ms_per_rollout": update_ms, "n_steps": learner.params.n_steps}


def levers(n_envs: int, rollouts: int, log_dir: Path) -> dict[str, Any]:
    """What each update lever buys, in one run: ms per rollout's update at the example's settings,
    (a) as shipped (first layers' weight gradient as (x.T @ g).T, policy.InputLinear), (b) with
    torch's Linear there, (c, d) with 2x and 4x larger minibatches (fewer, larger steps: these cost
    sample efficiency, which the solve figures measure)."""
    from torch import nn

    from rlops.pipeline.vector.policy import InputLinear

    def update_ms(learner: VectorLearner) -> float:
        learner.collect(None)
        learner.update()  # warm-up
        total = 0.0
        for _ in range(rollouts):
            learner.collect(None)
            started = time.perf_counter()
            learner.update()
            total += time.perf_counter() - started
        learner.env.close()
        return total / rollouts * 1e3

    out: dict[str, Any] = {}
    shipped, _ = learner_for(n_envs, False, log_dir)
    out["update_ms_shipped"] = update_ms(shipped)
    plain, _ = learner_for(n_envs, False, log_dir)
    for module in plain.policy.modules():
        if isinstance(module, InputLinear):
            module.__class__ = nn.Linear  # the same parameters through torch's own Linear backward
    out["update_ms_torch_linear"] = update_ms(plain)
    for factor in (2, 4):
        larger, _ = learner_for(n_envs, False, log_dir)
        larger.params = replace(larger.params, n_minibatches=max(1, larger.params.n_minibatches // factor))
        out[f"update_ms_minibatch_x{factor}"] = update_ms(larger)
    base = out["update_ms_shipped"]
    out["ratios_vs_shipped"] = {k: round(v / base, 3) for k, v in out.items() if k.startswith("update_ms")}
    return out


def time_to_solve(work: Path, config: Path, *extra: str, timeout: float = 600) -> dict[str, Any]:
    """``rlops train --config CONFIG`` to a validated model, from process start: the wall clock, the
    CPU seconds of the process (what a quiet machine's wall clock approaches), and where the wall
    clock went, from the log's timestamps: start-up (imports, options, env and learner) to the meta
    record, training (with its periodic evaluations) to the last checkpoint, the final evaluation
    (recorded for replay) to its eval record, and the rest (end, registry, validation, exit)."""
    work = work / f"solve-{config.stem}-{time.monotonic_ns()}"
    work.mkdir()
    before = os.times()
    started_at, started = time.time(), time.monotonic()
    done = subprocess.run([sys.executable, "-m", "rlops", "train", "--config", str(config), "--json",
                           "--store.model-dir", str(work / "rlruns"), "--registry.db-path", str(work / "rlops.db"),
                           *extra], capture_output=True, text=True, cwd=work, timeout=timeout)
    seconds, after = time.monotonic() - started, os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    if done.returncode != 0:
        return {"config": config.name, "seconds": seconds, "error": done.stderr[-2000:]}
    summary = json.loads(done.stdout)
    if summary["eval"] is None:  # stopped (SIGTERM) before its final evaluation
        return {"config": config.name, "seconds": seconds, "cpu_seconds": cpu, "status": summary["status"],
                "env_steps": summary["env_steps"]}
    log = [json.loads(line) for line in Path(summary["events"]).read_text().splitlines()]
    times = {kind: [r["t"] - started_at for r in log if r["type"] == kind] for kind in ("meta", "checkpoint", "eval")}
    periodic = times["eval"][:-1]
    phases = {"startup_s": times["meta"][0], "training_s": times["checkpoint"][-1] - times["meta"][0],
              "final_eval_s": times["eval"][-1] - times["checkpoint"][-1], "after_s": seconds - times["eval"][-1]}
    return {"config": config.name, "seconds": seconds, "cpu_seconds": cpu, "env_steps": summary["env_steps"],
            "eval_mean": summary["eval"]["mean_reward"], "periodic_evals": len(periodic),
            "validated": bool(summary["validation"] and summary["validation"]["validated"]),
            "phases": {k: round(v, 2) for k, v in phases.items()}, "load": list(os.getloadavg())}


def sb3_sps(n_envs: int, n_steps: int, timesteps: int) -> float:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    venv = make_vec_env("CartPole-v1", n_envs=n_envs, seed=0)
    model = PPO("MlpPolicy", venv, n_steps=n_steps, batch_size=min(256, n_steps * n_envs), seed=0, device="cpu")
    model.learn(n_steps * n_envs)  # warm-up
    started = time.perf_counter()
    model.learn(timesteps, reset_num_timesteps=False)
    seconds = time.perf_counter() - started
    venv.close()
    return timesteps / seconds


def cleanrl_sps(work: Path, small: int = 8192, large: int = 24576) -> float:
    def wall(steps: int) -> float:
        started = time.monotonic()
        subprocess.run([sys.executable, str(ROOT / "examples" / "cleanrl_ppo.py"), "--total-timesteps", str(steps),
                        "--no-cuda"], capture_output=True, cwd=work, timeout=900, check=True)
        return time.monotonic() - started

    return (large - small) / (wall(large) - wall(small))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--envs", type=int, nargs="+", default=[1024, 4096, 16384])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rollouts", type=int, default=4)
    parser.add_argument("--skip-solve", action="store_true")
    parser.add_argument("--solve-seeds", type=int, nargs="*", default=[0, 1, 2],
                        help="seeds of examples/cartpole-vector-quick.toml's time-to-solve runs")
    parser.add_argument("--skip-solve-throughput", action="store_true",
                        help="skip the time to solve of examples/cartpole-vector.toml (1,024 envs, ~40 s)")
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, no solve, no peers: checks the script runs")
    parser.add_argument("--only-solve", action="store_true", help="only the time-to-solve runs (section 4)")
    parser.add_argument("--only-training", action="store_true",
                        help="only training end to end (section 2), telemetry on and off: no acting, profile, "
                             "levers, solve or peers")
    parser.add_argument("--lunar", action="store_true", help="also train LunarLander-v3 to >= 200 (section 6)")
    parser.add_argument("--pendulum", action="store_true", help="also train Pendulum-v1 to >= -250 (section 6)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.smoke:
        args.envs, args.threads, args.rollouts, args.skip_solve, args.skip_peers = [256], [1], 1, True, True
    if args.only_solve:
        args.envs, args.skip_peers = [], True
    if args.only_training:
        args.skip_solve, args.skip_peers = True, True
    stamp = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
             "machine": {"cpus": os.cpu_count()}, "load_start": list(os.getloadavg()), "argv": sys.argv[1:]}
    results: dict[str, Any] = {"load_before": os.getloadavg(), "example": tomllib.loads(EXAMPLE.read_text())}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for threads in args.threads:
            torch.set_num_threads(threads)
            for n in args.envs:
                key = f"{n}envs_{threads}threads"
                if not args.only_training:
                    on, off = acting(n, args.rollouts, True, work), acting(n, args.rollouts, False, work)
                    results[f"acting_{key}"] = {"telemetry_on": on, "telemetry_off": off,
                                                "telemetry_cost": 1 - on["sps"] / off["sps"],
                                                "telemetry_cost_cpu": 1 - on["sps_per_cpu_s"] / off["sps_per_cpu_s"]}
                    print(f"acting+stepping {key}: {on['sps']:,.0f} env steps/s telemetry on "
                          f"({on['sps_per_cpu_s']:,.0f} per CPU-second), {off['sps']:,.0f} off "
                          f"({off['sps_per_cpu_s']:,.0f}); telemetry "
                          f"{100 * (1 - on['sps_per_cpu_s'] / off['sps_per_cpu_s']):.1f}% of CPU", flush=True)
                t_on, t_off = training(n, args.rollouts, True, work), training(n, args.rollouts, False, work)
                results[f"training_{key}"] = {"telemetry_on": t_on, "telemetry_off": t_off,
                                              "telemetry_cost": 1 - t_on["sps"] / t_off["sps"]}
                print(f"training {key}: {t_on['sps']:,.0f} SPS telemetry on ({t_on['sps_per_cpu_s']:,.0f} per "
                      f"CPU-second; collect {t_on['collect_share']:.0%}, "
                      f"update {t_on['update_share']:.0%}, record {t_on['record_share']:.1%}), {t_off['sps']:,.0f} "
                      f"off (telemetry {100 * (1 - t_on['sps'] / t_off['sps']):.1f}%)", flush=True)
            if not args.envs or args.only_training:
                continue
            n = min(4096, max(args.envs))
            results[f"profile_{n}envs_{threads}threads"] = prof = profile(n, args.rollouts, work)
            print(f"profile {n} envs {threads} threads: {json.dumps({k: round(v, 3) for k, v in prof.items()})}",
                  flush=True)
            results[f"levers_{n}envs_{threads}threads"] = lev = levers(n, args.rollouts, work)
            print(f"update levers {n} envs {threads} threads: {json.dumps(lev['ratios_vs_shipped'])} "
                  f"(shipped {lev['update_ms_shipped']:.0f} ms per rollout)", flush=True)
        torch.set_num_threads(max(args.threads))
        if not args.skip_solve:
            # The quick preset over seeds (the target: < 15 s from the start of rlops train), then the
            # throughput example for comparison (--solve-seeds 0 skips the seeds' loop).
            for seed in args.solve_seeds:
                results[f"solve_quick_seed{seed}"] = solve = time_to_solve(work, QUICK, "--env.seed", str(seed))
                print(f"rlops train --config examples/{QUICK.name} --env.seed {seed}: {json.dumps(solve)} "
                      f"(target < 15 s; README's SB3 figure 18 s)", flush=True)
            if not args.skip_solve_throughput:
                results["solve"] = solve = time_to_solve(work, EXAMPLE)
                print(f"rlops train --config examples/{EXAMPLE.name}: {json.dumps(solve)}", flush=True)
        for name in ("pendulum", "lunar"):  # section 6: the usual returns of two more envs, to a budget
            if getattr(args, name):
                results[f"solve_{name}"] = solve = time_to_solve(work, LONGER[name], timeout=3600)
                print(f"rlops train --config examples/{LONGER[name].name}: {json.dumps(solve)}", flush=True)
        if not args.skip_peers:
            results["sb3_8envs_sps"] = sb3_sps(8, 128, 8192)
            results["sb3_1024envs_sps"] = sb3_sps(1024, 16, 32768)
            results["cleanrl_sps"] = cleanrl_sps(work)
            print(f"peers: SB3 PPO 8 envs {results['sb3_8envs_sps']:,.0f} SPS, 1,024 envs "
                  f"{results['sb3_1024envs_sps']:,.0f} SPS; cleanrl_ppo.py (4 envs) {results['cleanrl_sps']:,.0f} SPS",
                  flush=True)
            best = max(v["telemetry_on"]["sps"] for k, v in results.items() if k.startswith("training_"))
            print(f"ratios: vector training (best) / SB3 8 envs = {best / results['sb3_8envs_sps']:.0f}x, "
                  f"/ SB3 1,024 envs = {best / results['sb3_1024envs_sps']:.0f}x, / CleanRL = "
                  f"{best / results['cleanrl_sps']:.0f}x")
    results["load_after"] = os.getloadavg()
    print(f"load average before {results['load_before']}, after {results['load_after']}")
    if args.json:  # bench/results.py's layout: the figures under "data", with when, where and the load
        document = {"bench": "vector", **stamp, "load_end": list(os.getloadavg()), "smoke": args.smoke,
                    "data": results}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=1, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
