"""One vector-engine run, with the same product around it as an SB3 run: run directory, the
schema v1 log, checkpoints and their registry rows, periodic and final evaluation (recorded
step by step for replay), resume, warm start, receipts and a progress bar.

Checkpoints, evaluations and the stop flag (SIGTERM, Ctrl-C) are taken between rollouts, where
the learner's state is whole, so a resumed run continues exactly where the checkpoint was.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import torch

from rlops import __version__
from rlops.errors import CheckpointNotFoundError, IncompatibleChoiceError
from rlops.events.accumulator import MetricsAccumulator
from rlops.options.schema import Options
from rlops.pipeline.callbacks import StopFlag
from rlops.pipeline.checkpoints import Checkpoint, latest_checkpoint, write_checkpoint
from rlops.pipeline.engine import Outcome, RunFiles, RunParts
from rlops.pipeline.envs import probe_env
from rlops.pipeline.evaluate import EvalResult
from rlops.pipeline.final_eval import final_evaluation
from rlops.pipeline.milestones import Milestones
from rlops.pipeline.receipts import write_receipt
from rlops.pipeline.run_meta import meta_record
from rlops.pipeline.solved import check_stop_reward, reached_stop_reward
from rlops.pipeline.stopping import stop_on_signals
from rlops.pipeline.torchscript_init import warm_start_vector
from rlops.pipeline.torchscript_policy import is_torchscript
from rlops.pipeline.vector.agent import resolve_device
from rlops.pipeline.vector.envs import BatchedEnv
from rlops.pipeline.vector.evaluation import evaluate_in_place
from rlops.pipeline.vector.hyperparams import hyperparams_of
from rlops.pipeline.vector.loop import VectorLearner, train_loop
from rlops.pipeline.vector.progress import RolloutProgress
from rlops.pipeline.vector.state import is_vector_checkpoint, load_weights, restore_learner, save_learner
from rlops.pipeline.vector.telemetry import RolloutTelemetry
from rlops.sinks.recorder import RunRecorder

log = logging.getLogger("rlops.train")


def prepare_vector(options: Options) -> VectorTrainer:
    """Check the hyperparameters, probe the env and build the learner: nothing is written yet."""
    params = hyperparams_of(options)
    check_stop_reward(options)
    probe = probe_env(options.env)
    if params.threads:
        torch.set_num_threads(params.threads)
    device = resolve_device(options.train.device)
    torch.manual_seed(options.env.seed)
    env = BatchedEnv(options.env, options.env.n_envs, options.env.seed, device)
    try:
        if params.squash_actions and not env.discrete and not env.single_action_space.is_bounded():
            raise IncompatibleChoiceError("squash_actions needs bounded actions", hint="unset squash_actions")
        learner = VectorLearner(env, params, options.obs.normalize, options.obs.clip_range,
                                options.train.total_timesteps, device)
    except BaseException:
        env.close()
        raise
    render_mode = "rgb_array" if "rgb_array" in probe.render_modes else None
    return VectorTrainer(options, learner, render_mode, probe.spec)


class VectorTrainer:
    """The engine's ``Trainer``: a vector learner and its batched envs, ready to train in a run."""

    def __init__(self, options: Options, learner: VectorLearner, render_mode: str | None, spec: Any) -> None:
        self.options, self.learner, self.render_mode, self.spec = options, learner, render_mode, spec

    def warm_start(self, checkpoint: Checkpoint) -> None:
        _warm_start(self.learner, checkpoint, self.options)

    def run(self, parts: RunParts, progress: bool) -> Outcome:
        options, learner, run = self.options, self.learner, parts.run
        session = VectorSession(learner, options, run, parts.recorder, self.render_mode)
        parts.recorder.emit(meta_record(options.model_dump(mode="json"), options.env.seed, str(learner.device),
                                        self.spec))
        learner.start(options.env.seed)
        if options.train.resume:
            session.resume()
        log.info("run %s: vector %s on %s, %d envs (%s), seed %d, target %d steps, in %s", run.name,
                 learner.params.algorithm, options.env.env_id, options.env.n_envs, learner.env.mode,
                 options.env.seed, options.train.total_timesteps, run.path)
        with stop_on_signals(session.stop):
            status, checkpoint, evaluation = session.run(progress)
        return Outcome(status, checkpoint, evaluation)

    def close(self) -> None:
        self.learner.env.close()


def _warm_start(learner: VectorLearner, checkpoint: Checkpoint, options: Options) -> None:
    if is_torchscript(checkpoint):  # an offline model: its exported policy as the actor, where it fits
        warm_start_vector(learner.policy, checkpoint, options)
        return
    saved = checkpoint.options
    if not is_vector_checkpoint(checkpoint):
        raise IncompatibleChoiceError(f"train.init_from {checkpoint.path} was trained by train.engine="
                                      f"{saved.get('train', {}).get('engine', 'sb3')}",
                                      hint="warm-start a vector run from a vector-engine model")
    try:
        load_weights(learner.policy, learner.normalizer, checkpoint)
    except Exception as exc:
        raise IncompatibleChoiceError(f"train.init_from {checkpoint.path} does not fit this run's network: {exc}",
                                      hint=f"use the options it was trained with: agent.net_arch "
                                           f"{saved['agent'].get('net_arch')}, obs {saved.get('obs')}") from None


class VectorSession:
    """One process's share of a vector run: learn, record, checkpoint, evaluate."""

    def __init__(self, learner: VectorLearner, options: Options, run: RunFiles, recorder: RunRecorder,
                 render_mode: str | None) -> None:
        self.learner, self.options, self.run_dir, self.recorder = learner, options, run, recorder
        self.milestones = Milestones(run, recorder)
        self.render_mode = render_mode
        env = learner.env
        accumulator = MetricsAccumulator(info_keys=tuple(options.metrics.info_keys),
                                         n_actions=int(env.single_action_space.n) if env.discrete else None,
                                         numpy_for_cpu_tensors=learner.device.type == "cpu")
        self.telemetry = RolloutTelemetry(recorder, accumulator, learner.n_envs, learner.params.n_steps,
                                          learner.device, tuple(options.metrics.info_keys), env.discrete,
                                          every_steps=options.metrics.every_steps)
        self.stop = StopFlag()
        self.saved: list[Checkpoint] = []
        self._next_checkpoint = self._next_eval = 0

    def resume(self) -> None:
        try:
            checkpoint = latest_checkpoint(self.run_dir.checkpoints)
        except CheckpointNotFoundError:
            self.milestones.resumed(None)
            return
        self.telemetry.wall_offset = restore_learner(self.learner, self.telemetry, checkpoint)
        self.milestones.resumed(checkpoint, opt_steps=self.learner.n_updates)

    def run(self, progress: bool) -> tuple[str, Checkpoint, EvalResult | None]:
        try:
            status = self._learn(progress)
            checkpoint = self.saved[-1]
            evaluation = self._final_evaluation(checkpoint) if status == "finished" else None
        except BaseException as error:
            self._fail(error)
            raise
        self.milestones.ended(status, self.stop.reason, self.learner.num_timesteps)
        return status, checkpoint, evaluation

    def _learn(self, progress: bool) -> str:
        train = self.options.train
        steps = self.learner.num_timesteps
        self._next_checkpoint = _next_multiple(steps, train.checkpoint_freq)
        self._next_eval = _next_multiple(steps, self.options.eval.freq)
        bar = RolloutProgress(train.total_timesteps, steps) if progress else None
        try:
            try:
                train_loop(self.learner, self.telemetry, self._after_rollout(bar))
            except KeyboardInterrupt:
                self.stop.stop("interrupted")
        finally:
            if bar is not None:
                bar.close()
        if not self.saved or self.saved[-1].env_steps != self.learner.num_timesteps:
            self.save()
        return "stopped" if self.stop.reason else "finished"

    def _after_rollout(self, bar: RolloutProgress | None):  # noqa: ANN202 - the loop's callback
        def after(stats: dict[str, torch.Tensor]) -> bool:
            learner = self.learner
            self.telemetry.record(learner.num_timesteps, learner.n_updates, stats)
            steps = learner.num_timesteps
            if self._next_checkpoint and steps >= self._next_checkpoint:
                self.save()
                self._next_checkpoint = _next_multiple(steps, self.options.train.checkpoint_freq)
            solved = False
            if self._next_eval and steps >= self._next_eval:
                solved = self._periodic_eval()
                self._next_eval = _next_multiple(steps, self.options.eval.freq)
            if bar is not None:
                bar.update(steps)
            return self.stop.reason is None and not solved

        return after

    def save(self) -> Checkpoint:
        learner, options = self.learner, self.options
        metadata = {"run": self.run_dir.name, "algorithm": options.agent.algorithm, "engine": "vector",
                    "env_id": options.env.env_id, "rlops_version": __version__,
                    "options": options.model_dump(mode="json")}
        wall = self.telemetry.wall_offset + time.monotonic() - self.telemetry.started
        checkpoint = write_checkpoint(self.run_dir.checkpoints, learner.num_timesteps,
                                      lambda directory: save_learner(learner, self.telemetry, directory, wall),
                                      metadata)
        log.info("checkpoint %s at %d env steps", checkpoint.path.name, checkpoint.env_steps)
        self.saved.append(checkpoint)
        self.milestones.checkpointed(checkpoint)
        return checkpoint

    def _periodic_eval(self) -> bool:
        """Score the checkpoint of this step; True when it reaches eval.stop_reward (training ends)."""
        steps = self.learner.num_timesteps
        checkpoint = self.saved[-1] if self.saved and self.saved[-1].env_steps == steps else self.save()
        learner, options = self.learner, self.options
        result = evaluate_in_place(learner.policy, learner.normalizer, options.env, options.eval.episodes,
                                   options.eval.deterministic, learner.device)
        result.checkpoint, result.env_steps = str(checkpoint.path), checkpoint.env_steps
        self.milestones.evaluated(result, checkpoint, steps)
        return reached_stop_reward(self.options, result, steps)

    def _final_evaluation(self, checkpoint: Checkpoint) -> EvalResult:
        return final_evaluation(checkpoint, self.options.eval, self.milestones, str(self.learner.device),
                                self.render_mode)

    def _fail(self, error: BaseException) -> None:
        """Receipt, ``error`` record, ``end`` record (failed); then the caller re-raises."""
        steps = self.learner.num_timesteps
        self.milestones.failed(error, lambda: write_receipt(
            self.run_dir.path, self.recorder.trace_id, error, self.options.model_dump(mode="json"),
            self.telemetry.receipt_view(), None, steps), steps)


def _next_multiple(steps: int, every: int) -> int:
    return (steps // every + 1) * every if every else 0
