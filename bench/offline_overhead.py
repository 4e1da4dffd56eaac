"""Run by d3rlpy's interpreter for bench_datasets.py: the same gradient steps on the same dataset,
with d3rlpy's own ``fit`` and through rlops's adapter (``main()``, in this process, its records
captured), in rounds with the order rotated. Prints one JSON line.

    offline_overhead.py DATASET_DIR ENV STEPS STEPS_PER_EPOCH EVAL_EPISODES ROUNDS ADAPTER_PATH

Per round, each with its wall and CPU (process) seconds:
- ``fit``: ``algo.fit`` on the loaded data: d3rlpy's training loop and nothing else;
- ``fit_eval``: the same with d3rlpy's own ``EnvironmentEvaluator`` after every epoch (as many
  episodes as the adapter plays): what online evaluation costs d3rlpy itself;
- ``adapter``: the whole adapter run (read the HDF5 file, train, evaluate, export and hash a
  TorchScript checkpoint each epoch, print records), and within it the training loop's own clocks
  (``train_s``, ``train_cpu_s`` of its last metrics record) and the time in each of its parts.

The training-throughput ratio (the issue's target, <= 1.05) is the adapter's loop against ``fit``;
the end-to-end ratios say what the rest costs.
"""

import contextlib
import importlib.util
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

dataset_dir, env_id = Path(sys.argv[1]), sys.argv[2]
steps, per_epoch, eval_episodes, rounds = (int(value) for value in sys.argv[3:7])
spec = importlib.util.spec_from_file_location("d3rlpy_adapter", sys.argv[7])
adapter = importlib.util.module_from_spec(spec)
spec.loader.exec_module(adapter)
import d3rlpy
import gymnasium as gym
import torch

# The adapter sets this for itself; both sides train with the same threads or the ratio measures them.
torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))
DATASET, _ = adapter.load_dataset(dataset_dir / "data", "discrete")
PARTS = {}  # adapter function -> [wall seconds] in the current call


def _timed_part(name):
    original = getattr(adapter, name)

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            PARTS[name] = PARTS.get(name, 0.0) + time.perf_counter() - started
    setattr(adapter, name, timed)


for part in ("load_dataset", "evaluate", "write_checkpoint"):
    _timed_part(part)


def clocked(call):
    wall, cpu = time.perf_counter(), time.process_time()
    extra = call()
    return {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu, **(extra or {})}


def own_fit(evaluate: bool):
    def run():
        d3rlpy.seed(0)
        algo = d3rlpy.algos.DiscreteCQLConfig(batch_size=64).create(device="cpu:0")
        evaluators = {"environment": d3rlpy.metrics.EnvironmentEvaluator(gym.make(env_id), n_trials=eval_episodes)} \
            if evaluate else None
        algo.fit(DATASET, n_steps=steps, n_steps_per_epoch=per_epoch, evaluators=evaluators,
                 logger_adapter=d3rlpy.logging.NoopAdapterFactory(), show_progress=False, save_interval=10**9)
    return clocked(run)


def through_adapter():
    PARTS.clear()
    out = io.StringIO()

    def run():
        with tempfile.TemporaryDirectory() as target, contextlib.redirect_stdout(out):
            adapter.main(["--dataset-dir", str(dataset_dir), "--env", env_id, "--algo", "discrete_cql", "--steps",
                          str(steps), "--steps-per-epoch", str(per_epoch), "--eval-episodes", str(eval_episodes),
                          "--out", target])
    timing = clocked(run)
    last = [json.loads(line) for line in out.getvalue().splitlines() if '"type": "metrics"' in line][-1]
    return {**timing, "train_s": last["train_s"], "train_cpu_s": last["train_cpu_s"],
            **{f"{name}_s": seconds for name, seconds in PARTS.items()}}


def median(rows, key):
    return statistics.median(row[key] for row in rows)


own_fit(False)  # warm-up: first-call costs (torch._dynamo's import, thread pools) belong to neither
runs = {"fit": [], "fit_eval": [], "adapter": []}
calls = [("fit", lambda: own_fit(False)), ("fit_eval", lambda: own_fit(True)), ("adapter", through_adapter)]
for index in range(rounds):
    for name, call in calls[index % 3:] + calls[:index % 3]:  # the order rotates
        runs[name].append(call())
ratios = {
    "loop_wall": [a["train_s"] / f["wall_s"] for a, f in zip(runs["adapter"], runs["fit"])],
    "loop_cpu": [a["train_cpu_s"] / f["cpu_s"] for a, f in zip(runs["adapter"], runs["fit"])],
    "end_to_end_wall": [a["wall_s"] / f["wall_s"] for a, f in zip(runs["adapter"], runs["fit"])],
    "end_to_end_cpu": [a["cpu_s"] / f["cpu_s"] for a, f in zip(runs["adapter"], runs["fit"])],
    "vs_fit_eval_wall": [a["wall_s"] / f["wall_s"] for a, f in zip(runs["adapter"], runs["fit_eval"])],
    "vs_fit_eval_cpu": [a["cpu_s"] / f["cpu_s"] for a, f in zip(runs["adapter"], runs["fit_eval"])],
}
summary = {name: {key: median(rows, key) for key in rows[0]} for name, rows in runs.items()}
print(json.dumps({"steps": steps, "steps_per_epoch": per_epoch, "eval_episodes": eval_episodes, "rounds": rounds,
                  "transitions": DATASET.transition_count, "d3rlpy": d3rlpy.__version__, "median": summary,
                  "ratios": {name: {"median": statistics.median(values), "min": min(values), "max": max(values)}
                             for name, values in ratios.items()},
                  "fit_steps_per_s": steps / summary["fit"]["wall_s"],
                  "adapter_loop_steps_per_s": steps / summary["adapter"]["train_s"]}))
