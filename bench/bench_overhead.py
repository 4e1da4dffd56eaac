"""Telemetry overhead: SB3 PPO on CartPole-v1 (8 envs) with full rlops telemetry vs. the same
training with none, and vs. SB3's own TensorBoard logging, in one process, paired by round.

    python bench/bench_overhead.py [--rounds 5] [--steps 50000]

Target (issue 3): rlops SPS >= 97% of bare SB3 (median of paired ratios). Every variant builds
the same model from the same seed; only ``model.learn`` is timed. The order of variants rotates
between rounds so drift on a shared machine does not favour one of them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from rlops.events.accumulator import MetricsAccumulator
from rlops.pipeline.telemetry import TelemetryCallback, event_logger
from rlops.sinks.recorder import RunRecorder
from rlops.sinks.sqlite import SqliteSink


def build(seed: int, tensorboard: str | None = None) -> PPO:
    venv = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
    return PPO("MlpPolicy", venv, seed=seed, device="cpu", verbose=0, tensorboard_log=tensorboard)


def bare(steps: int, seed: int, _: Path) -> float:
    model = build(seed)
    started = time.perf_counter()
    model.learn(steps)
    return model.num_timesteps / (time.perf_counter() - started)


def sb3_tensorboard(steps: int, seed: int, workdir: Path) -> float:
    model = build(seed, tensorboard=str(workdir / "tb"))
    started = time.perf_counter()
    model.learn(steps)
    return model.num_timesteps / (time.perf_counter() - started)


def rlops_telemetry(steps: int, seed: int, workdir: Path) -> float:
    model = build(seed)
    run_id = f"bench-{seed}"
    sinks = [SqliteSink(workdir / "rlops.db", run_id, workdir, workdir / "train_log.jsonl")]
    recorder = RunRecorder(run_id, workdir / "train_log.jsonl", sinks=sinks)
    telemetry = TelemetryCallback(recorder, MetricsAccumulator())
    model.set_logger(event_logger(telemetry))
    started = time.perf_counter()
    model.learn(steps, callback=telemetry)
    elapsed = time.perf_counter() - started
    recorder.close("finished", env_steps=model.num_timesteps)
    return model.num_timesteps / elapsed


VARIANTS = {"sb3_bare": bare, "sb3_tensorboard": sb3_tensorboard, "rlops_full": rlops_telemetry}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=50_000)
    args = parser.parse_args()
    names = list(VARIANTS)
    sps: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(args.rounds):
        order = names[round_index % len(names):] + names[:round_index % len(names)]
        for name in order:
            with tempfile.TemporaryDirectory() as workdir:
                sps[name].append(VARIANTS[name](args.steps, round_index, Path(workdir)))
        print(f"round {round_index}: " + ", ".join(f"{n} {sps[n][-1]:,.0f}" for n in names), flush=True)

    def summary(values: list[float]) -> str:
        return f"{statistics.median(values):,.3f} [{min(values):,.3f}-{max(values):,.3f}]"

    ratios = {name: [v / b for v, b in zip(sps[name], sps["sb3_bare"], strict=True)] for name in names}
    print(f"\nSB3 PPO CartPole-v1, 8 envs, {args.steps} steps, {args.rounds} rounds, torch threads {torch.get_num_threads()}")
    print(f"{'variant':<18} {'steps/s (median [min-max])':<34} ratio to bare SB3 (paired)")
    for name in names:
        print(f"{name:<18} {summary(sps[name]):<34} {summary(ratios[name])}")
    print(json.dumps({"sps": sps, "ratio_median": {n: statistics.median(r) for n, r in ratios.items()}}))


if __name__ == "__main__":
    main()
