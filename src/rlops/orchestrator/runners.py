"""Runners, registered by name: how a kind of run is launched and what it needs and gives.

- ``rlops``: our own pipeline (``rlops train`` with the run's options) in a child process; it
  writes its own log, checkpoints and registry rows.
- ``command``: any program that prints schema v1 records on stdout, one per line; other lines are
  kept as log text. It learns its run from ``RLOPS_RUN_ID``, ``RLOPS_RUN_DIR``, ``RLOPS_TRACE_ID``.
- ``cleanrl``: an unmodified CleanRL-style script run by its own interpreter
  (``orchestrator.python``: CleanRL pins gymnasium 0.29, so it lives in its own virtualenv); its
  TensorBoard scalars become records and its videos artifacts.
- ``play``: a play session (``rlops.play.session``): an env stepped server-side for the dashboard's
  play page, a person or a model acting; its records come over stdout as a ``command`` run's do.
- ``offline``: offline RL on a dataset with d3rlpy in its own interpreter (``rlops.offline``).

Each declares what it supports (``supports``: the capability matrix ``rlops runs runners``
prints) and, per run, its capabilities and the modules its interpreter must import, which
pre-flight checks before anything is launched.
"""

from __future__ import annotations

import importlib.util
import secrets
import sys
import time
from pathlib import Path
from typing import Protocol

from rlops.errors import PreflightError, UnknownNameError, UsageError
from rlops.offline.runner import OfflineRunner
from rlops.options import resolve_options
from rlops.options.schema import Options
from rlops.orchestrator.launch import LaunchSpec
from rlops.orchestrator.supports import Capabilities, Supports
from rlops.sinks.registry import OPENED_OFF_THREAD, SUPERVISED_ENV
from rlops.store.run_dir import run_name_for


class Runner(Protocol):
    name: str
    description: str
    warm_start: bool
    emits: str
    supports: Supports

    def prepare(self, run_id: str, run_dir: Path, args: list[str], options: Options) -> tuple[LaunchSpec, Capabilities]:
        """The launch of a run from the user's arguments, and what it needs."""


class RlopsRunner:
    name = "rlops"
    description = "rlops's own pipeline: rlops train with the run's options"
    warm_start = True
    emits = "its own event log"
    supports = Supports(warm_start=True, offline_inference=True, needs_gpu=False,
                        external_services=tuple(OPENED_OFF_THREAD), live_step_telemetry=False,
                        notes={"needs_gpu": "uses one with train.device = cuda",
                               "external_services": "those store.backend names",
                               "live_step_telemetry": "metrics in windows while training; step records only for "
                                                      "evaluation episodes (replay)"})

    def prepare(self, run_id: str, run_dir: Path, args: list[str], options: Options) -> tuple[LaunchSpec, Capabilities]:
        config, flags = _config_of(args)
        resolved = resolve_options(config=config, args=flags).options  # a bad option fails here, before any launch
        model_dir, db = str(Path(run_dir).parent.resolve()), str(Path(options.store.db_path).resolve())
        argv = [sys.executable, "-m", "rlops", "train", *args, "--store.run-name", run_id, "--store.model-dir",
                model_dir, "--store.db-path", db]
        services = tuple(name for name in resolved.store.backends if name in OPENED_OFF_THREAD)
        capabilities = Capabilities(warm_start=self.warm_start, needs_gpu=resolved.train.device.startswith("cuda"),
                                    external_services=services, python=sys.executable,
                                    emits=self.emits, modules=("rlops", "stable_baselines3", "gymnasium"))
        spec = LaunchSpec(run_id, self.name, argv, "rlops", str(Path.cwd()), env={SUPERVISED_ENV: "1"},
                          env_id=resolved.env.env_id, algorithm=resolved.agent.algorithm,
                          stop_grace_s=options.orchestrator.stop_grace_s)
        return spec, capabilities


class CommandRunner:
    name = "command"
    description = "any program that prints schema v1 records on stdout (other lines are kept as log text)"
    warm_start = False
    emits = "records printed on stdout"
    supports = Supports(warm_start=False, offline_inference=False, needs_gpu=False, external_services=(),
                        live_step_telemetry=True,
                        notes={"offline_inference": "a program that registers rlops or Q-table checkpoints "
                                                    "(examples/qlearning_agent.py) makes servable models",
                               "needs_gpu": "whatever the program needs",
                               "live_step_telemetry": "the step records the program prints, as it prints them"})

    def prepare(self, run_id: str, run_dir: Path, args: list[str], options: Options) -> tuple[LaunchSpec, Capabilities]:
        if not args:
            raise UsageError("the command runner needs a program to run", hint="rlops runs start --runner command "
                                                                              "-- python my_trainer.py")
        capabilities = Capabilities.as_declared(self.supports, python=args[0], emits=self.emits, modules=())
        spec = LaunchSpec(run_id, self.name, list(args), "command", str(Path.cwd()),
                          stop_grace_s=options.orchestrator.stop_grace_s)
        return spec, capabilities


class CleanrlRunner:
    name = "cleanrl"
    description = "an unmodified CleanRL-style script (its TensorBoard scalars and videos), in its own interpreter"
    warm_start = False
    emits = "TensorBoard scalars under runs/, videos under videos/"
    supports = Supports(warm_start=False, offline_inference=False, needs_gpu=False, external_services=(),
                        live_step_telemetry=False,
                        notes={"offline_inference": "its saved models are kept as artifacts, not registered",
                               "needs_gpu": "uses one with --cuda=True"})

    def prepare(self, run_id: str, run_dir: Path, args: list[str], options: Options) -> tuple[LaunchSpec, Capabilities]:
        if not args or not args[0].endswith(".py"):
            raise UsageError("the cleanrl runner needs a script to run", hint="rlops runs start --runner cleanrl -- "
                                                                             "examples/cleanrl_ppo.py --capture-video")
        script = Path(args[0]).resolve()
        if not script.is_file():
            raise UsageError(f"no script {args[0]!r}", hint="give the path of a CleanRL-style .py file")
        if importlib.util.find_spec("tensorboard") is None:  # rlops reads the script's event files itself
            raise PreflightError("the cleanrl runner reads TensorBoard event files and this rlops has no tensorboard",
                                 hint="pip install -c constraints.txt 'rlops[tensorboard]'")
        python = options.orchestrator.python or sys.executable
        # The script writes runs/<run_name>/ and videos/<run_name>/ where it runs: in the run directory.
        spec = LaunchSpec(run_id, self.name, [python, str(script), *args[1:]], "cleanrl", str(Path(run_dir).resolve()),
                          env={"PYTHONUNBUFFERED": "1"}, stop_grace_s=options.orchestrator.stop_grace_s)
        capabilities = Capabilities(warm_start=self.warm_start, needs_gpu="--cuda=True" in args, external_services=(),
                                    python=python, emits=self.emits,
                                    modules=("torch", "gymnasium", "tyro", "tensorboard"))
        return spec, capabilities


class PlayRunner:
    name = "play"
    description = "a play session: a person (human), a registered model (agent) or both (hybrid) act in an env in the browser"
    warm_start = False
    emits = "step records (who acted, keys held, frames) and episodes, on stdout"
    supports = Supports(warm_start=False, offline_inference=False, needs_gpu=False, external_services=(),
                        live_step_telemetry=True,
                        notes={"offline_inference": "it trains nothing; it deploys registered models",
                               "live_step_telemetry": "every step, with who acted and the keys held"})

    def prepare(self, run_id: str, run_dir: Path, args: list[str], options: Options) -> tuple[LaunchSpec, Capabilities]:
        from rlops.play.launch import play_launch  # gymnasium and the env load only when a session starts

        spec = play_launch(self.name, run_id, args, options)
        return spec, Capabilities.as_declared(self.supports, python=sys.executable, emits=self.emits,
                                              modules=("rlops", "gymnasium", "PIL"))


def _config_of(args: list[str]) -> tuple[Path | None, list[str]]:
    """``--config FILE`` (or ``-c``, ``--config=FILE``) out of a run's arguments, and the rest."""
    for index, arg in enumerate(args):
        if arg in ("--config", "-c") and index + 1 < len(args):
            return Path(args[index + 1]), args[:index] + args[index + 2:]
        if arg.startswith("--config="):
            return Path(arg.split("=", 1)[1]), args[:index] + args[index + 1:]
    return None, args


RUNNERS: dict[str, Runner] = {runner.name: runner for runner in (RlopsRunner(), CommandRunner(), CleanrlRunner(),
                                                                   OfflineRunner(), PlayRunner())}


def default_run_name(runner: Runner, args: list[str]) -> str:
    """A run's name when none is given: ``<env>-<algo>-<time>`` for our own trainer (what
    ``store.run_name`` promises, and what ``rlops train`` names a run), ``<runner>-<time>`` for a
    program whose env and algorithm are its own business."""
    if isinstance(runner, RlopsRunner):
        config, flags = _config_of(args)
        options = resolve_options(config=config, args=flags).options  # a bad option fails as prepare's would
        return run_name_for(options.env.env_id, options.agent.algorithm)
    return f"{runner.name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def capability_matrix() -> list[dict]:
    """Every runner's row: its name, what it is for and what it supports."""
    return [{"name": name, "description": runner.description, "emits": runner.emits, **runner.supports.to_dict()}
            for name, runner in RUNNERS.items()]


def get_runner(name: str) -> Runner:
    if name not in RUNNERS:
        raise UnknownNameError("runner", name, RUNNERS)
    return RUNNERS[name]
