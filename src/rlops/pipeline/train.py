"""Train: one run from resolved options to checkpoints and a final evaluation.

Order matters for "fail before training": the env is probed and the pieces checked for
compatibility before the run directory exists, so a bad choice leaves nothing behind.
"""

from __future__ import annotations

import logging
import secrets
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.vec_env import VecEnv, sync_envs_normalization

from rlops import __version__
from rlops.errors import OptionsError
from rlops.options.schema import Options
from rlops.pipeline.agent_state import restore_agent, save_agent
from rlops.pipeline.algorithms import build_model, check_compatible
from rlops.pipeline.callbacks import EveryNSteps, ProgressBar, StopFlag
from rlops.pipeline.checkpoints import Checkpoint, latest_checkpoint, remove_partial, write_checkpoint
from rlops.pipeline.envs import make_vector_env, probe_spaces
from rlops.pipeline.evaluate import EvalResult, evaluate_model, evaluate_policy_of
from rlops.pipeline.loading import EVAL_SEED_OFFSET, load_policy
from rlops.pipeline.observations import wrap_observations
from rlops.store.run_dir import RunDirectory, create_run_directory, find_run_directory, run_name_for

log = logging.getLogger("rlops.train")

# Options that shape the network or the data it sees; a resumed run cannot change them.
FIXED_ON_RESUME = ("env.env_id", "env.env_kwargs", "obs", "feature", "agent")


@dataclass
class TrainResult:
    run: RunDirectory
    checkpoint: Checkpoint
    evaluation: EvalResult | None
    status: str  # finished | stopped
    env_steps: int
    seconds: float


def prepare_options(options: Options, saved: dict[str, Any] | None = None) -> Options:
    """Draw and record a seed when none was given; on resume, refuse changes to the model's shape."""
    if saved is not None:
        for dotted in FIXED_ON_RESUME:
            section, _, key = dotted.partition(".")
            now = getattr(options, section).model_dump() if not key else getattr(getattr(options, section), key)
            before = saved.get(section, {}) if not key else saved.get(section, {}).get(key)
            if now != before:
                raise OptionsError(f"{dotted} differs from the run being resumed",
                                   hint="a resumed run keeps its env, observations and network; start a new run instead")
        if options.env.seed is None:
            options.env.seed = saved.get("env", {}).get("seed")
    if options.env.seed is None:
        options.env.seed = secrets.randbelow(2**31)
    return options


def open_run(options: Options) -> RunDirectory:
    if options.train.resume:
        return find_run_directory(options.store.model_dir, options.store.run_name)
    run_name = options.store.run_name or run_name_for(options.env.env_id, options.agent.algorithm)
    options.store.run_name = run_name
    return create_run_directory(options.store.model_dir, run_name)


def train(options: Options, progress: bool = True) -> TrainResult:
    """Pre-flight, then train, checkpoint and evaluate in a new run directory (or the resumed one)."""
    observation_space, action_space = probe_spaces(options.env)
    algorithm = check_compatible(options, observation_space, action_space)
    started = time.monotonic()
    venv = make_vector_env(options.env, seed=options.env.seed)
    try:
        venv = wrap_observations(venv, options.obs, options.train.gamma or 0.99)
        # Built before the run directory exists, so that any choice SB3 rejects leaves nothing behind.
        model = build_model(options, venv, options.env.seed)
        run = open_run(options)
        options.store.run_name = run.name
        run.write_json(run.options_file, options.model_dump(mode="json"))
        remove_partial(run.checkpoints)
        with _file_log(run.log_file):
            if options.train.resume:
                _resume(model, venv, run)
            log.info("run %s: %s on %s, %d envs, seed %d, target %d steps, in %s", run.name, algorithm.name,
                     options.env.env_id, options.env.n_envs, options.env.seed, options.train.total_timesteps, run.path)
            status, checkpoint = _learn(model, venv, options, run, progress)
            evaluation = _final_evaluation(checkpoint, options, run) if status == "finished" else None
            log.info("run %s %s at %d steps in %.1f s", run.name, status, checkpoint.env_steps,
                     time.monotonic() - started)
    finally:
        venv.close()
    return TrainResult(run, checkpoint, evaluation, status, checkpoint.env_steps, time.monotonic() - started)


def _resume(model: BaseAlgorithm, venv: VecEnv, run: RunDirectory) -> None:
    checkpoint = latest_checkpoint(run.checkpoints)
    restore_agent(model, venv, checkpoint)
    log.info("resume from %s at %d env steps", checkpoint.path.name, checkpoint.env_steps)


def _learn(model: BaseAlgorithm, venv: VecEnv, options: Options, run: RunDirectory,
           progress: bool) -> tuple[str, Checkpoint]:
    saved: list[Checkpoint] = []

    def save(env_steps: int) -> None:
        saved.append(save_checkpoint(model, venv, options, run))

    stop = StopFlag()
    callbacks = [stop]
    if options.train.checkpoint_freq:
        callbacks.append(EveryNSteps(options.train.checkpoint_freq, save))
    if options.eval.freq:
        callbacks.append(EveryNSteps(options.eval.freq, lambda steps: _periodic_eval(model, venv, options, steps)))
    if progress:
        callbacks.append(ProgressBar(options.train.total_timesteps))
    remaining = options.train.total_timesteps - model.num_timesteps
    with _stop_on_signals(stop):
        if remaining > 0:
            try:
                model.learn(remaining, callback=CallbackList(callbacks), reset_num_timesteps=not options.train.resume)
            except KeyboardInterrupt:
                stop.stop("interrupted")
    if not saved or saved[-1].env_steps != model.num_timesteps:
        save(model.num_timesteps)
    return ("stopped" if stop.reason else "finished"), saved[-1]


def save_checkpoint(model: BaseAlgorithm, venv: VecEnv, options: Options, run: RunDirectory) -> Checkpoint:
    metadata = {
        "run": run.name,
        "algorithm": options.agent.algorithm,
        "env_id": options.env.env_id,
        "rlops_version": __version__,
        "options": options.model_dump(mode="json"),
    }
    checkpoint = write_checkpoint(run.checkpoints, model.num_timesteps,
                                  lambda directory: save_agent(model, venv, directory), metadata)
    log.info("checkpoint %s at %d env steps", checkpoint.path.name, checkpoint.env_steps)
    return checkpoint


def _periodic_eval(model: BaseAlgorithm, venv: VecEnv, options: Options, env_steps: int) -> None:
    eval_env = wrap_observations(make_vector_env(options.env, seed=options.env.seed + EVAL_SEED_OFFSET, n_envs=1),
                                 options.obs, options.train.gamma or 0.99, training=False)
    try:
        sync_envs_normalization(venv, eval_env)
        result = evaluate_model(model, eval_env, options.eval.episodes, options.eval.deterministic)
    finally:
        eval_env.close()
    log.info("eval at %d env steps: mean reward %.2f +/- %.2f over %d episodes", env_steps, result.mean_reward,
             result.std_reward, result.episodes)


def _final_evaluation(checkpoint: Checkpoint, options: Options, run: RunDirectory) -> EvalResult:
    loaded = load_policy(checkpoint, device=options.train.device)
    try:
        result = evaluate_policy_of(loaded, options.eval.episodes, options.eval.deterministic)
    finally:
        loaded.close()
    run.write_json(run.eval_file, result.to_dict())
    log.info("eval of %s: mean reward %.2f +/- %.2f over %d episodes", checkpoint.path.name, result.mean_reward,
             result.std_reward, result.episodes)
    return result


@contextmanager
def _stop_on_signals(stop: StopFlag) -> Iterator[None]:
    """SIGTERM ends training at the next step with a final checkpoint, like Ctrl-C."""
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.stop("terminated"))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _file_log(path: Path) -> Iterator[None]:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("rlops")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()

