"""The SB3 engine's run: pre-flight, then learn, checkpoint, evaluate and record all of it.

Order matters for "fail before training": ``prepare_sb3`` probes the env and builds the model
before the run directory exists (``services.training`` opens it), so a bad choice leaves
nothing behind.
"""

from __future__ import annotations

import logging
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv, sync_envs_normalization

from rlops import __version__
from rlops.errors import CheckpointNotFoundError, TrainingError
from rlops.events.accumulator import MetricsAccumulator
from rlops.options.schema import Options
from rlops.pipeline.callbacks import EveryNSteps, ProgressBar, RolloutBoundary, StopFlag, StopWhen
from rlops.pipeline.checkpoints import Checkpoint, latest_checkpoint, write_checkpoint
from rlops.pipeline.engine import Outcome, RunFiles, RunParts
from rlops.pipeline.envs import make_vector_env, probe_env
from rlops.pipeline.evaluate import EvalResult, evaluate_model
from rlops.pipeline.final_eval import final_evaluation
from rlops.pipeline.loading import EVAL_SEED_OFFSET
from rlops.pipeline.milestones import Milestones
from rlops.pipeline.receipts import write_receipt
from rlops.pipeline.run_meta import meta_record
from rlops.pipeline.sb3.agent_state import AgentSnapshot, capture_agent, kept_rng, restore_agent, save_agent, write_agent
from rlops.pipeline.sb3.algorithms import build_model, check_compatible
from rlops.pipeline.sb3.boundary_stop import BoundaryStop, RolloutBoundaryReached
from rlops.pipeline.sb3.budget import plan
from rlops.pipeline.sb3.counters import updates_done
from rlops.pipeline.sb3.logger import telemetry_logger
from rlops.pipeline.sb3.observations import wrap_observations
from rlops.pipeline.sb3.warm_start import apply_init
from rlops.pipeline.solved import check_stop_reward, reached_stop_reward
from rlops.pipeline.stopping import StopProgress, stop_on_signals
from rlops.pipeline.telemetry import TelemetryCallback
from rlops.sinks.recorder import RunRecorder

log = logging.getLogger("rlops.train")


def prepare_sb3(options: Options) -> Sb3Trainer:
    """Probe the env, check the pieces fit and build the model: nothing is written yet."""
    check_stop_reward(options)
    probe = probe_env(options.env)
    algorithm = check_compatible(options, probe.observation_space, probe.action_space)
    render_mode = "rgb_array" if "rgb_array" in probe.render_modes else None  # frames for receipts
    venv = make_vector_env(options.env, seed=options.env.seed, render_mode=render_mode)
    try:
        venv = wrap_observations(venv, options.obs, options.train.gamma or 0.99)
        # Built before the run directory exists, so that any choice SB3 rejects leaves nothing behind.
        model = build_model(options, venv, options.env.seed)
    except BaseException:
        venv.close()
        raise
    return Sb3Trainer(options, model, venv, render_mode, probe.spec, algorithm.name)


class Sb3Trainer:
    """The engine's ``Trainer``: an SB3 model and its envs, ready to train in a run."""

    def __init__(self, options: Options, model: BaseAlgorithm, venv: VecEnv, render_mode: str | None,
                 spec: Any, algorithm: str) -> None:
        self.options, self.model, self.venv, self.render_mode = options, model, venv, render_mode
        self.spec, self.algorithm = spec, algorithm

    def warm_start(self, checkpoint: Checkpoint) -> None:
        apply_init(self.model, self.venv, checkpoint, self.options)

    def run(self, parts: RunParts, progress: bool) -> Outcome:
        options, model, run = self.options, self.model, parts.run
        session = TrainingSession(model, self.venv, options, run, parts.recorder, self.render_mode)
        parts.recorder.emit(meta_record(options.model_dump(mode="json"), options.env.seed, str(model.device),
                                        self.spec))
        if options.train.resume:
            session.resume()
        log.info("run %s: %s on %s, %d envs, seed %d, target %d steps, in %s", run.name, self.algorithm,
                 options.env.env_id, options.env.n_envs, options.env.seed, options.train.total_timesteps, run.path)
        budget = plan(model, options.train.total_timesteps, getattr(model, "num_timesteps", 0))
        if budget is not None and budget.note:
            log.info(budget.note)
        status, checkpoint, evaluation = session.run(progress)
        return Outcome(status, checkpoint, evaluation)

    def close(self) -> None:
        self.venv.close()


class TrainingSession:
    """One process's share of a run: learn, checkpoint, evaluate, and record all of it."""

    def __init__(self, model: BaseAlgorithm, venv: VecEnv, options: Options, run: RunFiles,
                 recorder: RunRecorder, render_mode: str | None) -> None:
        self.model, self.venv, self.options, self.run_dir, self.recorder = model, venv, options, run, recorder
        self.milestones = Milestones(run, recorder)
        self.render_mode = render_mode
        metrics = options.metrics
        self.telemetry = TelemetryCallback(recorder, MetricsAccumulator(info_keys=tuple(metrics.info_keys)),
                                           info_keys=tuple(metrics.info_keys), every_steps=metrics.every_steps)
        model.set_logger(telemetry_logger(self.telemetry))
        self.saved: list[Checkpoint] = []
        self.progress = StopProgress(run.path)
        self.solved = False  # a periodic evaluation reached eval.stop_reward
        # Off-policy learners stop only where a rollout starts (boundary_stop tells why).
        self.stop = StopFlag(on_stop=self.progress.acknowledge) if isinstance(model, OnPolicyAlgorithm) else \
            BoundaryStop(on_stop=self.progress.acknowledge, finished=lambda: self.solved, waiting=self.progress.beat)
        self.progress.path.unlink(missing_ok=True)  # an earlier process's stop, on resume
        # On-policy learners are checkpointed only at rollout boundaries, the states that an
        # uninterrupted run passes through too, so that a resume continues it exactly.
        self.boundary = RolloutBoundary(lambda: capture_agent(self.model, self.venv), self._at_boundary) \
            if isinstance(model, OnPolicyAlgorithm) else None

    def resume(self) -> None:
        try:
            checkpoint = latest_checkpoint(self.run_dir.checkpoints)
        except CheckpointNotFoundError:
            self.milestones.resumed(None)
            return
        restore_agent(self.model, self.venv, checkpoint)
        self.milestones.resumed(checkpoint, opt_steps=updates_done(self.model))

    def run(self, progress: bool) -> tuple[str, Checkpoint, EvalResult | None]:
        try:
            # A stop during the final evaluation lets it finish (it shows progress, step by step).
            # Off-policy, a first Ctrl-C is such a stop too, honoured at the next rollout boundary.
            with stop_on_signals(self.stop, ctrl_c=self.boundary is None):
                status = self._learn(progress)
                checkpoint = self.saved[-1]
                evaluation = self._final_evaluation(checkpoint) if status == "finished" else None
        except BaseException as error:
            self._fail(error)
            raise
        self.milestones.ended(status, self.stop.reason if status == "stopped" else None, self.model.num_timesteps)
        return status, checkpoint, evaluation

    def _learn(self, progress: bool) -> str:
        options = self.options
        callbacks: list[Any] = [self.telemetry]
        if self.boundary is not None:
            callbacks[:0] = [self.boundary, self.stop]
        if options.train.checkpoint_freq:
            callbacks.append(EveryNSteps(options.train.checkpoint_freq, lambda _: self._save_now()))
        if options.eval.freq:
            callbacks.append(EveryNSteps(options.eval.freq, self._periodic_eval))
            if self.boundary is not None:
                callbacks.append(StopWhen(lambda: self.solved))
        if progress:
            callbacks.append(ProgressBar(options.train.total_timesteps))
        if self.boundary is None:
            callbacks.append(self.stop)  # last: this boundary's evaluation and checkpoint come first
        remaining = options.train.total_timesteps - self.model.num_timesteps
        with self.progress.watching(self.model):
            if remaining > 0:
                callback = CallbackList(callbacks)
                try:
                    self.model.learn(remaining, callback=callback, reset_num_timesteps=not options.train.resume)
                except RolloutBoundaryReached:
                    callback.on_training_end()  # what learn() would have done on its way out
                except KeyboardInterrupt:
                    # On-policy: a Ctrl-C; the boundary before it is kept (below). Off-policy: a second
                    # Ctrl-C, to end at once: the checkpoint is where it landed, not a rollout boundary.
                    self.stop.stop("interrupted")
                except ValueError as exc:
                    # torch.distributions refuses NaN logits or means: the weights already diverged.
                    if "invalid values" not in str(exc):
                        raise
                    raise TrainingError(f"the learner diverged at {self.model.num_timesteps} env steps: the network "
                                        f"produced non-finite outputs ({str(exc).splitlines()[0][:120]})",
                                        hint="lower train.learning_rate, normalize observations/rewards "
                                             "(obs.normalize), or clip gradients") from exc
        if self.boundary is not None and self.boundary.partial:
            # A stop (or Ctrl-C) cut a rollout or an update short: SB3 drops the partial rollout, so
            # the checkpoint is the boundary before it, which a resume continues exactly.
            snapshot = self.boundary.snapshot
            log.info("stopped at %d env steps inside a rollout; the checkpoint is the rollout boundary at %d",
                     self.model.num_timesteps, snapshot.env_steps)
            if not self.saved or self.saved[-1].env_steps != snapshot.env_steps:
                self.save(snapshot)
        elif not self.saved or self.saved[-1].env_steps != self.model.num_timesteps:
            self.save()
        return "stopped" if self.stop.reason else "finished"

    def _at_boundary(self, snapshot: AgentSnapshot) -> None:
        if self.stop.reason and (not self.saved or self.saved[-1].env_steps != snapshot.env_steps):
            self.save(snapshot)  # the update a stop waited for is done: keep it now

    def _save_now(self) -> Checkpoint:
        """A checkpoint of the current step, once: from the boundary snapshot when that is now."""
        if self.saved and self.saved[-1].env_steps == self.model.num_timesteps:
            return self.saved[-1]
        snapshot = self.boundary.snapshot if self.boundary is not None else None
        return self.save(snapshot if snapshot is not None and snapshot.env_steps == self.model.num_timesteps else None)

    def save(self, snapshot: AgentSnapshot | None = None) -> Checkpoint:
        self.progress.beat("checkpoint")
        checkpoint = save_checkpoint(self.model, self.venv, self.options, self.run_dir, snapshot)
        self.progress.beat("checkpoint written")
        self.saved.append(checkpoint)
        self.milestones.checkpointed(checkpoint)
        return checkpoint

    def _periodic_eval(self, env_steps: int) -> None:
        options = self.options
        # Score a checkpoint, not a passing state of the weights: the registry row is what the score is for.
        checkpoint = self._save_now()
        eval_env = wrap_observations(make_vector_env(options.env, seed=options.env.seed + EVAL_SEED_OFFSET, n_envs=1),
                                     options.obs, options.train.gamma or 0.99, training=False)
        try:
            sync_envs_normalization(self.venv, eval_env)
            with kept_rng():  # an evaluation never shifts training's random streams (a resume skips it)
                result = evaluate_model(self.model, eval_env, options.eval.episodes, options.eval.deterministic)
        finally:
            eval_env.close()
        self.milestones.evaluated(result, checkpoint, env_steps)
        self.solved = reached_stop_reward(options, result, env_steps)

    def _final_evaluation(self, checkpoint: Checkpoint) -> EvalResult:
        return final_evaluation(checkpoint, self.options.eval, self.milestones, self.options.train.device,
                                self.render_mode, beat=self.progress.beat)

    def _fail(self, error: BaseException) -> None:
        """Receipt, ``error`` record, ``end`` record (failed); then the caller re-raises."""
        self.milestones.failed(error, lambda: write_receipt(
            self.run_dir.path, self.recorder.trace_id, error, self.options.model_dump(mode="json"),
            self.telemetry.receipt_view(), self.venv, self.model.num_timesteps), self.model.num_timesteps)


def save_checkpoint(model: BaseAlgorithm, venv: VecEnv, options: Options, run: RunFiles,
                    snapshot: AgentSnapshot | None = None) -> Checkpoint:
    metadata = {
        "run": run.name,
        "algorithm": options.agent.algorithm,
        "env_id": options.env.env_id,
        "rlops_version": __version__,
        "options": options.model_dump(mode="json"),
    }
    if snapshot is not None:
        checkpoint = write_checkpoint(run.checkpoints, snapshot.env_steps,
                                      lambda directory: write_agent(snapshot, directory), metadata)
    else:
        checkpoint = write_checkpoint(run.checkpoints, model.num_timesteps,
                                      lambda directory: save_agent(model, venv, directory), metadata)
    log.info("checkpoint %s at %d env steps", checkpoint.path.name, checkpoint.env_steps)
    return checkpoint
