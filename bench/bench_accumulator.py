"""The metrics accumulator's cost per vector step, against one gymnasium vectorized CartPole step
and against the naive per-step torch reductions, at 1,024 and 16,384 envs, in one process.

    python bench/bench_accumulator.py [--rounds 5] [--steps 1000] [--envs 1024 16384] [--torch-threads 1]
        [--clock cpu|wall] [--json bench/results/accumulator.json]

Every measurement is ``--steps`` vector steps; in each round every variant runs once, in an order
rotated between rounds, so the env step and the accumulator are timed side by side under the same
load. Inputs are realistic and pre-generated: rewards, terminated and truncated come from the env
itself (random actions), plus resets, actions, float32 values, float32 logits (N, 2) and one
float64 info array; (i) as NumPy arrays, (ii) as torch CPU tensors. ``take_window`` is timed on its
own, at one record per 100 and per 10 steps. The naive approach (what the accumulator avoids):
a torch ``log_softmax`` entropy over the logits and ``torch.quantile`` p10/p50/p90 of the values,
every step, kept in tensors (no host sync), timed with one torch thread and with torch's default
(as the peers' figures were). Torch runs on one thread otherwise: on a shared 2-core machine its
OpenMP workers spin-wait for a core and make every torch-touching timing swing many-fold.
Target: update + emit/100 <= 10% of the env step at 16,384 envs, and one host transfer per
record on the device path.

The clock is the process's CPU time by default (``--clock cpu``): everything measured runs on
this one thread (torch's too, but in the naive variant at torch's default), so on a shared
machine the time spent waiting for a core is left out; ``--clock wall`` times as before.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rlops.events.accumulator import MetricsAccumulator

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results as bench_results  # noqa: E402

POOL = 32  # distinct pre-generated steps, cycled
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
clock = CLOCKS["cpu"]  # set by main(); a CPU clock read is a system call, so loops are timed whole
TARGET_FRACTION = 0.10
QUANTILES = (0.1, 0.5, 0.9)


def make_inputs(n: int, seed: int = 0) -> tuple[Any, list[np.ndarray], list[dict[str, Any]]]:
    """The env, a pool of random actions, and a pool of per-step accumulator inputs taken from it."""
    rng = np.random.default_rng(seed)
    env = gym.make_vec("CartPole-v1", num_envs=n, vectorization_mode="vector_entry_point")
    env.reset(seed=seed)
    actions = [rng.integers(0, 2, n) for _ in range(POOL)]
    steps = []
    resets = np.zeros(n, dtype=bool)
    for i in range(POOL):
        _, rewards, terminated, truncated, _ = env.step(actions[i])
        steps.append({
            "rewards": rewards, "terminated": terminated, "truncated": truncated, "resets": resets,
            "actions": actions[i], "values": rng.normal(0.0, 1.0, n).astype(np.float32),
            "logits": rng.normal(0.0, 1.0, (n, 2)).astype(np.float32),
            "infos": {"x_position": rng.normal(0.0, 1.0, n)},
        })
        resets = terminated | truncated  # next-step autoreset: these envs reset on the next call
    return env, actions, steps


def as_torch(step: dict[str, Any]) -> dict[str, Any]:
    out = {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in step.items() if key != "infos"}
    out["infos"] = {key: torch.from_numpy(value) for key, value in step["infos"].items()}
    return out


def time_env(env: Any, actions: list[np.ndarray], steps: int) -> float:
    started = clock()
    for i in range(steps):
        env.step(actions[i % POOL])
    return (clock() - started) / steps


def time_accumulator(pool: list[dict[str, Any]], steps: int, every: int, device_path: bool = False) -> tuple[float, float]:
    """Seconds per update (emits excluded) and per emit, records every ``every`` steps."""
    accumulator = MetricsAccumulator(info_keys=("x_position",), n_actions=2, numpy_for_cpu_tensors=not device_path)
    emit_s = 0.0
    emits = 0
    n = len(pool[0]["rewards"])
    loop_started = clock()
    for i in range(steps):
        accumulator.update(**pool[i % POOL])
        if (i + 1) % every == 0:
            started = clock()
            record = accumulator.take_window((i + 1) * n, i, wall_time_s=float(i + 1))
            emit_s += clock() - started
            emits += 1
    update_s = clock() - loop_started - emit_s  # the loop, less the emits: updates (and the loop)
    assert "entropy_mean" in record and "x_position_p50" in record and record["action_hist"], record
    return update_s / steps, emit_s / max(emits, 1)


def time_naive(pool: list[dict[str, Any]], steps: int, threads: int) -> float:
    """Entropy (log_softmax) and torch.quantile p10/p50/p90 every step, summed in tensors."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _naive(pool, steps)
    finally:
        torch.set_num_threads(previous)


def _naive(pool: list[dict[str, Any]], steps: int) -> float:
    q = torch.tensor(QUANTILES)
    entropy_sum = torch.zeros(())
    quantile_sum = torch.zeros(len(QUANTILES))
    started = clock()
    for i in range(steps):
        batch = pool[i % POOL]
        log_p = torch.log_softmax(batch["logits"], dim=-1)
        entropy_sum += -(log_p.exp() * log_p).sum(dim=-1).mean()
        quantile_sum += torch.quantile(batch["values"], q)
    elapsed = clock() - started
    assert torch.isfinite(entropy_sum) and torch.isfinite(quantile_sum).all()
    return elapsed / steps


class CountingTensor(torch.Tensor):
    """A tensor that counts host transfers (as tests/events/test_accumulator.py does)."""

    transfers = 0

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN206
        if getattr(func, "__name__", "") in ("cpu", "tolist", "item", "__float__", "__bool__", "numpy", "__int__"):
            CountingTensor.transfers += 1
        return super().__torch_function__(func, types, args, kwargs or {})


def host_transfers(pool: list[dict[str, Any]], records: int = 3, every: int = 10) -> tuple[int, int]:
    """Transfers while stepping (should be 0) and per record (should be 1), on the device path."""
    accumulator = MetricsAccumulator(info_keys=("x_position",), n_actions=2, numpy_for_cpu_tensors=False)
    stepping = per_record = 0
    for r in range(records):
        CountingTensor.transfers = 0
        for i in range(every):
            batch = as_torch(pool[(r * every + i) % POOL])
            counted = {k: v.as_subclass(CountingTensor) for k, v in batch.items() if k != "infos"}
            counted["infos"] = {k: v.as_subclass(CountingTensor) for k, v in batch["infos"].items()}
            accumulator.update(**counted)
        stepping += CountingTensor.transfers
        CountingTensor.transfers = 0
        record = accumulator.take_window((r + 1) * every, wall_time_s=float(r + 1))
        per_record = max(per_record, CountingTensor.transfers)
        assert "entropy_mean" in record and "x_position_p90" in record, record
    return stepping, per_record


def summary(values: list[float], scale: float = 1e6, fmt: str = ",.1f") -> str:
    values = [v * scale for v in values]
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}-{max(values):{fmt}}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--envs", type=int, nargs="+", default=[1024, 16384])
    parser.add_argument("--torch-threads", type=int, default=1, help="0: torch's default")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="cpu: the process's CPU time (default; leaves out waiting for a core); wall")
    parser.add_argument("--json", type=Path, default=None, help="write the figures, dated, to this file")
    parser.add_argument("--smoke", action="store_true", help="1 round of 100 steps at 64 envs: seconds")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.steps, args.envs = 1, 100, [64]
    global clock
    clock = CLOCKS[args.clock]
    started_at = bench_results.stamp()
    default_threads = torch.get_num_threads()
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s) (default {default_threads}); "
          f"{args.rounds} rounds x {args.steps} steps, {args.clock} clock; gymnasium make_vec CartPole-v1, vector_entry_point; "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    results: dict[str, Any] = {}
    for n in args.envs:
        env, actions, pool = make_inputs(n)
        torch_pool = [as_torch(step) for step in pool]
        emit_steps = max(args.steps // 5, 100)
        variants = {
            "env_step": lambda: {"step": time_env(env, actions, args.steps)},
            "numpy_every100": lambda: dict(zip(("update", "emit"), time_accumulator(pool, args.steps, 100))),
            "torch_every100": lambda: dict(zip(("update", "emit"), time_accumulator(torch_pool, args.steps, 100))),
            "numpy_every10": lambda: dict(zip(("update", "emit"), time_accumulator(pool, emit_steps, 10))),
            "torch_every10": lambda: dict(zip(("update", "emit"), time_accumulator(torch_pool, emit_steps, 10))),
            "device_path_on_cpu_every100": lambda: dict(zip(("update", "emit"),
                                                           time_accumulator(torch_pool, args.steps, 100, True))),
            "naive_torch_1": lambda: {"step": time_naive(torch_pool, args.steps, 1)},
            "naive_torch_default": lambda: {"step": time_naive(torch_pool, args.steps, default_threads)},
        }
        for variant in variants.values():  # warm-up: first-call costs (allocations, torch dispatch) untimed
            variant()
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        names = list(variants)
        for round_index in range(args.rounds):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                runs[name].append(variants[name]())
        env.close()

        env_s = [r["step"] for r in runs["env_step"]]
        rows: dict[str, list[float]] = {"env step (gymnasium vector_entry_point)": env_s}
        for kind in ("numpy", "torch", "device_path_on_cpu"):
            label = {"numpy": "(i) NumPy arrays", "torch": "(ii) torch CPU tensors",
                     "device_path_on_cpu": "(extra) torch device path, run on CPU"}[kind]
            r100 = runs[f"{kind}_every100"]
            rows[f"{label}: update"] = [r["update"] for r in r100]
            rows[f"{label}: emit (one call, 100-step window)"] = [r["emit"] for r in r100]
            rows[f"{label}: update + emit/100"] = [r["update"] + r["emit"] / 100 for r in r100]
            if kind != "device_path_on_cpu":
                r10 = runs[f"{kind}_every10"]
                rows[f"{label}: emit (one call, 10-step window)"] = [r["emit"] for r in r10]
                rows[f"{label}: update + emit/10"] = [r["update"] + r["emit"] / 10 for r in r10]
        rows["naive: log_softmax entropy + torch.quantile every step, 1 thread"] = [r["step"] for r in runs["naive_torch_1"]]
        rows[f"naive: the same, torch default ({default_threads} threads)"] = [
            r["step"] for r in runs["naive_torch_default"]]

        print(f"\nN = {n:,} envs (rounds interleaved; median [min-max])")
        print(f"{'':<72} {'us per step':<30} / env step (paired)")
        table = {}
        for label, values in rows.items():
            ratio = [v / e for v, e in zip(values, env_s, strict=True)]
            shown_ratio = "" if label.startswith("env step") else summary(ratio, 1.0, ".3f")
            print(f"{label:<72} {summary(values):<30} {shown_ratio}")
            table[label] = {"us": [v * 1e6 for v in values], "ratio": ratio,
                            "us_median": statistics.median(values) * 1e6, "ratio_median": statistics.median(ratio)}
        for kind, label in (("numpy", "(i) NumPy arrays"), ("torch", "(ii) torch CPU tensors")):
            ratio = table[f"{label}: update + emit/100"]["ratio_median"]
            print(f"target {kind}: update + emit/100 <= {TARGET_FRACTION:.0%} of the env step: {ratio:.1%} -> "
                  f"{'met' if ratio <= TARGET_FRACTION else 'MISSED'}")
        results[str(n)] = table

    stepping, per_record = host_transfers(make_inputs(1024)[2])
    print(f"\nhost transfers while stepping: {stepping}")
    print(f"host transfers per record: {per_record}")
    print(f"1-minute load average at the end: {os.getloadavg()[0]:.1f} (2 cores)")
    data = {"rounds": args.rounds, "steps": args.steps, "torch_threads": torch.get_num_threads(), "clock": args.clock,
            "results": results, "host_transfers_stepping": stepping, "host_transfers_per_record": per_record,
            "target_fraction": TARGET_FRACTION}
    print(json.dumps(data))
    bench_results.write(args.json, "accumulator", started_at, data, smoke=args.smoke)


if __name__ == "__main__":
    main()
