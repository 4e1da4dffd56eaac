"""Datasets and the offline runner: record and import speed, and the adapter's overhead.

    python bench/bench_datasets.py [--episodes 200] [--steps 2000] [--steps-per-epoch 500] [--eval-episodes 3]
        [--rounds 3] [--json FILE] [--smoke]

- record: ``DatasetCatalog.record`` of a tiny trained CartPole PPO policy (every step a policy
  forward pass and an env step, then the HDF5 write, hashing, fsync and rename), transitions/s.
- import: ``DatasetCatalog.import_path`` of that dataset's Minari directory (every episode read and
  checked, the files copied, hashed, fsynced), transitions/s.
- adapter overhead (issue 14 target <= 5 %): DiscreteCQL for the same gradient steps on the same
  data, d3rlpy's own ``fit`` against rlops's adapter, in d3rlpy's interpreter ($RLOPS_D3RLPY_PYTHON
  or .venv-d3rlpy), rounds with the order rotated, wall and CPU seconds, ratios within each round
  (bench/offline_overhead.py). The target is the training loop's throughput (the adapter's own
  clocks around d3rlpy's fitter against ``fit``); the end-to-end ratios add what the adapter does
  between epochs (read the HDF5 file once, evaluate, export a TorchScript checkpoint), also against
  ``fit`` with d3rlpy's own ``EnvironmentEvaluator`` playing as many episodes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import results as bench_results
from cpu_clocks import since, thread_cpu


def d3rlpy_python() -> str | None:
    given = os.environ.get("RLOPS_D3RLPY_PYTHON")
    candidate = Path(given) if given else REPO / ".venv-d3rlpy" / "bin" / "python"
    return str(candidate) if candidate.is_file() else None


def timed(call):
    cpu, wall = thread_cpu(), time.perf_counter()
    result = call()
    return result, time.perf_counter() - wall, sum(since(cpu, thread_cpu()).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--steps-per-epoch", type=int, default=500, help="the offline runner's default")
    parser.add_argument("--eval-episodes", type=int, default=3, help="the offline runner's default")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="write the figures, dated, to this file")
    parser.add_argument("--smoke", action="store_true", help="5 episodes, 50 gradient steps, 1 round")
    args = parser.parse_args()
    if args.smoke:
        args.episodes, args.steps, args.steps_per_epoch, args.eval_episodes, args.rounds = 5, 50, 25, 1, 1
    started_at = bench_results.stamp()
    from rlops.datasets.catalog import DatasetCatalog
    from rlops.options import resolve_options
    from rlops.services.training import prepare_options, train

    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        options = resolve_options(environ={}, args=[
            "--agent.algorithm", "ppo", "--env.env-id", "CartPole-v1", "--env.n-envs", "2", "--agent.hyperparams",
            '{"n_steps": 64}', "--train.batch-size", "32", "--train.total-timesteps", "256", "--env.seed", "1",
            "--eval.episodes", "2", "--train.device", "cpu", "--agent.net-arch", "[16]",
            "--store.model-dir", str(root / "rlruns"), "--registry.db-path", str(root / "rlops.db")]).options
        checkpoint = train(prepare_options(options), progress=False).checkpoint
        catalog = DatasetCatalog(root / "rlruns", root / "rlops.db")
        try:
            row, record_s, record_cpu = timed(lambda: catalog.record(checkpoint, args.episodes, epsilon=0.1,
                                                                     name="bench"))
            imported, import_s, import_cpu = timed(lambda: catalog.import_path(Path(row["path"]) / "data",
                                                                               name="imported"))
        finally:
            catalog.close()
        steps = row["steps"]
        print(f"record: {args.episodes} episodes, {steps:,} transitions in {record_s:.2f} s: "
              f"{steps / record_s:,.0f} transitions/s ({steps / max(record_cpu, 1e-9):,.0f} per CPU second)")
        print(f"import: {steps:,} transitions in {import_s:.3f} s: {steps / import_s:,.0f} transitions/s "
              f"({steps / max(import_cpu, 1e-9):,.0f} per CPU second)")
        data = {"episodes": args.episodes, "transitions": steps, "record_s": record_s,
                "record_transitions_per_s": steps / record_s, "record_cpu_s": record_cpu, "import_s": import_s,
                "import_transitions_per_s": steps / import_s, "import_cpu_s": import_cpu,
                "bytes": row["bytes"], "imported_ok": imported["steps"] == steps}
        python = d3rlpy_python()
        if python is None:
            print("adapter overhead: skipped, no d3rlpy interpreter (.venv-d3rlpy or $RLOPS_D3RLPY_PYTHON)")
            data["adapter"] = None
        else:
            done = subprocess.run([python, str(REPO / "bench" / "offline_overhead.py"), row["path"], "CartPole-v1",
                                   str(args.steps), str(args.steps_per_epoch), str(args.eval_episodes),
                                   str(args.rounds), str(REPO / "src" / "rlops" / "offline" / "d3rlpy_adapter.py")],
                                  capture_output=True, text=True, timeout=3600, check=False)
            if done.returncode != 0:
                raise SystemExit(f"offline_overhead.py failed:\n{done.stderr[-3000:]}")
            adapter = json.loads(done.stdout.strip().splitlines()[-1])
            data["adapter"] = adapter
            print_adapter(adapter)
    print(json.dumps(data))
    bench_results.write(args.json, "datasets", started_at, data, smoke=args.smoke)


def print_adapter(adapter: dict) -> None:
    fit, fit_eval, ours = (adapter["median"][key] for key in ("fit", "fit_eval", "adapter"))
    ratios = adapter["ratios"]

    def ratio(name: str) -> str:
        r = ratios[name]
        return f"{r['median']:.3f} [{r['min']:.3f}-{r['max']:.3f}]"
    met = "met" if max(ratios["loop_wall"]["median"], ratios["loop_cpu"]["median"]) <= 1.05 else "NOT met"
    print(f"DiscreteCQL, {adapter['steps']} steps, epochs of {adapter['steps_per_epoch']}, {adapter['eval_episodes']} "
          f"eval episodes, {adapter['rounds']} rounds (medians):")
    print(f"  d3rlpy fit            {fit['wall_s']:.2f} s wall, {fit['cpu_s']:.2f} s CPU "
          f"({adapter['fit_steps_per_s']:,.0f} steps/s)")
    print(f"  fit + its evaluator   {fit_eval['wall_s']:.2f} s wall, {fit_eval['cpu_s']:.2f} s CPU")
    print(f"  adapter               {ours['wall_s']:.2f} s wall, {ours['cpu_s']:.2f} s CPU; its loop "
          f"{ours['train_s']:.2f} s "
          f"wall, {ours['train_cpu_s']:.2f} s CPU; read {ours.get('load_dataset_s', 0):.2f} s, evaluate "
          f"{ours.get('evaluate_s', 0):.2f} s, export {ours.get('write_checkpoint_s', 0):.2f} s")
    print(f"  training loop / fit:  wall {ratio('loop_wall')}, CPU {ratio('loop_cpu')}   target <= 1.05: {met}")
    print(f"  end to end / fit:     wall {ratio('end_to_end_wall')}, CPU {ratio('end_to_end_cpu')}")
    print(f"  end to end / fit + evaluator: wall {ratio('vs_fit_eval_wall')}, CPU {ratio('vs_fit_eval_cpu')}")


if __name__ == "__main__":
    main()
