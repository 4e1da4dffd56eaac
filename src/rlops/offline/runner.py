"""The ``offline`` runner: a dataset and an offline-RL algorithm, trained by d3rlpy in its own
interpreter (``orchestrator.python``), launched through ``rlops.offline.session``.

    rlops runs start --runner offline -- --dataset NAME [--algo discrete_cql] [--steps 2000]
        [--steps-per-epoch 500] [--eval-episodes 3] [--batch-size 64] [--learning-rate LR] [--seed 0]

Pre-flight here: the dataset exists and its hashes match, its env can be made in that
interpreter; the orchestrator's own pre-flight adds the interpreter's modules and free disk.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from rlops.errors import DatasetError, PreflightError, UsageError
from rlops.offline.session import OPTIONS_VARIABLE
from rlops.options.schema import Options
from rlops.orchestrator.launch import LaunchSpec
from rlops.orchestrator.supports import Capabilities, Supports

DISCRETE = ("discrete_cql", "discrete_bc")
CONTINUOUS = ("cql", "iql", "td3plusbc", "bc")
MODULES = ("d3rlpy", "h5py", "gymnasium", "torch")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # a usage error of rlops, not argparse's exit
        raise UsageError(f"offline runner: {message}", hint="rlops runs start --runner offline -- --dataset NAME "
                                                            "--algo discrete_cql --steps 2000")


def parse_args(args: list[str]) -> argparse.Namespace:
    parser = _Parser(prog="offline", add_help=False)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--algo", default=None, choices=DISCRETE + CONTINUOUS)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--steps-per-epoch", type=int, default=500)
    parser.add_argument("--eval-episodes", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parsed = parser.parse_args(args)
    if parsed.steps < 1 or parsed.steps_per_epoch < 1 or parsed.eval_episodes < 1:
        raise UsageError("--steps, --steps-per-epoch and --eval-episodes must be at least 1")
    return parsed


class OfflineRunner:
    name = "offline"
    description = "offline RL on a dataset (rlops dataset) with d3rlpy, in its own interpreter"
    warm_start = False
    emits = "records printed by rlops's d3rlpy adapter"
    supports = Supports(warm_start=False, offline_inference=True, needs_gpu=False, external_services=(),
                        live_step_telemetry=False,
                        notes={"warm_start": "it trains from its dataset alone; its discrete_cql and discrete_bc "
                                             "models can warm-start online dqn, ppo and a2c runs",
                               "offline_inference": "it exports TorchScript that eval, infer and serve load",
                               "live_step_telemetry": "metrics per epoch"})

    def prepare(self, run_id: str, run_dir: Path, args: list[str], options: Options) -> tuple[LaunchSpec, Capabilities]:
        from rlops.datasets.catalog import DatasetCatalog

        parsed = parse_args(list(args))
        catalog = DatasetCatalog(options.store.model_dir, options.store.db_path)
        try:
            row = catalog.require(parsed.dataset)
            try:
                catalog.open(parsed.dataset)  # hashes: a damaged dataset never starts a run
            except DatasetError as exc:
                raise PreflightError(f"pre-flight failed: {exc}", hint="rlops dataset verify "
                                     f"{parsed.dataset} names the files; record or import it again") from None
        finally:
            catalog.close()
        action = row["spaces"].get("action") or {}
        discrete = action.get("type") == "Discrete"
        actions = f"Discrete({action.get('n')})" if discrete else f"{action.get('type')} {action.get('shape')}"
        algo = parsed.algo or ("discrete_cql" if discrete else "cql")
        if (algo in DISCRETE) != discrete:
            raise UsageError(f"--algo {algo} is for {'discrete' if algo in DISCRETE else 'continuous'} actions and "
                             f"dataset {parsed.dataset!r} has {actions} actions",
                             hint=f"use one of {', '.join(DISCRETE if discrete else CONTINUOUS)}")
        python = options.orchestrator.python or sys.executable
        _env_can_be_made(python, row["env_id"])
        run_dir = Path(run_dir).resolve()
        snapshot = options.model_copy(deep=True)
        snapshot.env.env_id, snapshot.env.n_envs, snapshot.env.seed = row["env_id"], 1, parsed.seed
        snapshot.agent.algorithm = algo
        # The session runs in the run directory: the registry it scores into must not be relative to it.
        snapshot.store.model_dir = str(Path(options.store.model_dir).resolve())
        snapshot.store.db_path = str(Path(options.store.db_path).resolve())
        adapter = ["--algo", algo, "--steps", str(parsed.steps), "--steps-per-epoch", str(parsed.steps_per_epoch),
                   "--eval-episodes", str(parsed.eval_episodes), "--batch-size", str(parsed.batch_size),
                   "--seed", str(parsed.seed)]
        if parsed.learning_rate is not None:
            adapter += ["--learning-rate", str(parsed.learning_rate)]
        argv = [sys.executable, "-m", "rlops.offline.session", "--python", python, "--dataset", parsed.dataset,
                "--model-dir", str(Path(options.store.model_dir).resolve()),
                "--db", str(Path(options.store.db_path).resolve()), "--run-dir", str(run_dir),
                *adapter]
        env = {"PYTHONUNBUFFERED": "1", OPTIONS_VARIABLE: snapshot.model_dump_json()}
        spec = LaunchSpec(run_id, self.name, argv, "command", str(run_dir), env=env,
                          env_id=row["env_id"], algorithm=algo, stop_grace_s=options.orchestrator.stop_grace_s)
        capabilities = Capabilities.as_declared(self.supports, python=python, emits=self.emits, modules=MODULES)
        return spec, capabilities


def _env_can_be_made(python: str, env_id: str) -> None:
    probe = f"import gymnasium as g; g.make({env_id!r}).close()"
    try:
        done = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PreflightError(f"pre-flight failed: interpreter {python!r} cannot be run: {exc}",
                             hint="set orchestrator.python to d3rlpy's interpreter") from None
    if done.returncode != 0:
        raise PreflightError(f"pre-flight failed: env {env_id!r} cannot be made by {python}: "
                             f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}",
                             hint="install the env's package into that interpreter, or set orchestrator.python")
