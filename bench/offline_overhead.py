"""Run by d3rlpy's interpreter for bench_datasets.py: the same gradient steps on the same dataset,
once with d3rlpy's own ``fit`` and once through rlops's adapter (``main()``, in this process, its
records to /dev/null), in rounds with the order rotated. Prints one JSON line.

    offline_overhead.py DATASET_DIR ENV STEPS ROUNDS ADAPTER_PATH
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

dataset_dir, env_id, steps, rounds, adapter_path = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), \
    int(sys.argv[4]), sys.argv[5]
spec = importlib.util.spec_from_file_location("d3rlpy_adapter", adapter_path)
adapter = importlib.util.module_from_spec(spec)
spec.loader.exec_module(adapter)
import d3rlpy
import torch

# The adapter sets this for itself; both sides train with the same threads or the ratio measures them.
torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))


def own_fit() -> float:
    dataset, _ = adapter.load_dataset(dataset_dir / "data", "discrete")
    started = time.perf_counter()
    d3rlpy.seed(0)
    algo = d3rlpy.algos.DiscreteCQLConfig(batch_size=64).create(device="cpu:0")
    algo.fit(dataset, n_steps=steps, n_steps_per_epoch=steps, logger_adapter=d3rlpy.logging.NoopAdapterFactory(),
             show_progress=False, save_interval=10**9)
    return time.perf_counter() - started


def through_adapter() -> float:
    with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
        started = time.perf_counter()
        adapter.main(["--dataset-dir", str(dataset_dir), "--env", env_id, "--algo", "discrete_cql", "--steps",
                      str(steps), "--steps-per-epoch", str(steps), "--eval-episodes", "1", "--out", out])
        return time.perf_counter() - started


own_fit()  # warm-up: first-call costs (thread pools, allocator) belong to neither
fits, adapters, ratios = [], [], []
for index in range(rounds):
    pair = (own_fit, through_adapter) if index % 2 == 0 else (through_adapter, own_fit)
    times = {f.__name__: f() for f in pair}
    fits.append(times["own_fit"])
    adapters.append(times["through_adapter"])
    ratios.append(times["through_adapter"] / times["own_fit"])
print(json.dumps({"steps": steps, "rounds": rounds, "fit_s": statistics.median(fits),
                  "adapter_s": statistics.median(adapters), "ratio": statistics.median(ratios),
                  "ratio_min": min(ratios), "ratio_max": max(ratios),
                  "fit_steps_per_s": steps / statistics.median(fits), "d3rlpy": d3rlpy.__version__}))
