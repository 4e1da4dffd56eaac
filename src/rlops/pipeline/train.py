"""Train: one run from resolved options to checkpoints and a final evaluation.

Order matters for "fail before training": the env is probed and the pieces checked for
compatibility before the run directory exists, so a bad choice leaves nothing behind.
"""

from __future__ import annotations

import logging
import secrets
import signal
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv, sync_envs_normalization

from rlops import __version__
from rlops.errors import CheckpointNotFoundError, OptionsError, TrainingError
from rlops.events.accumulator import MetricsAccumulator
from rlops.events.schema import Artifact, Resume
from rlops.events.schema import Checkpoint as CheckpointRecord
from rlops.events.schema import Error as ErrorRecord
from rlops.events.schema import Eval as EvalRecord
from rlops.options.schema import Options
from rlops.pipeline.agent_state import AgentSnapshot, capture_agent, kept_rng, restore_agent, save_agent, write_agent
from rlops.pipeline.algorithms import build_model, check_compatible
from rlops.pipeline.budget import plan
from rlops.pipeline.callbacks import EveryNSteps, ProgressBar, RolloutBoundary, StopFlag
from rlops.pipeline.checkpoints import Checkpoint, latest_checkpoint, remove_partial, write_checkpoint
from rlops.pipeline.disk_full import disk_full_error
from rlops.pipeline.engine import engine_named
from rlops.pipeline.envs import make_vector_env, probe_env
from rlops.pipeline.fatal_log import FatalLog
from rlops.pipeline.evaluate import EvalResult, evaluate_model, evaluate_policy_of
from rlops.pipeline.loading import EVAL_SEED_OFFSET, load_policy
from rlops.pipeline.observations import wrap_observations
from rlops.pipeline.receipts import write_receipt
from rlops.pipeline.registry_ops import Validation
from rlops.pipeline.run_meta import meta_record
from rlops.pipeline.remote_resume import fetch_run, uses_s3
from rlops.pipeline.run_models import RunModels
from rlops.pipeline.stopping import StopProgress
from rlops.pipeline.telemetry import EvalStepRecorder, TelemetryCallback, event_logger
from rlops.pipeline.warm_start import apply_init, resolve_init
from rlops.sinks.base import RunContext
from rlops.sinks.recorder import RunRecorder, new_trace_id
from rlops.sinks.registry import build_sinks
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
    model_id: int | None = None  # the final checkpoint's registry id
    validation: Validation | None = None


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
        if uses_s3(options):
            fetch_run(options)  # a newer checkpoint on the store than here (or none here): bring it down
        return find_run_directory(options.store.model_dir, options.store.run_name)
    run_name = options.store.run_name or run_name_for(options.env.env_id, options.agent.algorithm)
    options.store.run_name = run_name
    return create_run_directory(options.store.model_dir, run_name)


def train(options: Options, progress: bool = True) -> TrainResult:
    """Pre-flight, then train, checkpoint and evaluate in a new run directory (or the resumed one).
    A full disk is one ``TrainingError`` saying where and how to resume (``disk_full``)."""
    try:
        return _train(options, progress)
    except OSError as error:
        full = disk_full_error(error, options)
        if full is None:
            raise
        raise full from error


def _train(options: Options, progress: bool) -> TrainResult:
    engine = engine_named(options.train.engine)
    if engine is not None:  # train.engine = vector: the same run, trained by another engine
        return engine.train(options, progress)
    probe = probe_env(options.env)
    algorithm = check_compatible(options, probe.observation_space, probe.action_space)
    started = time.monotonic()
    render_mode = "rgb_array" if "rgb_array" in probe.render_modes else None  # frames for receipts
    venv = make_vector_env(options.env, seed=options.env.seed, render_mode=render_mode)
    try:
        venv = wrap_observations(venv, options.obs, options.train.gamma or 0.99)
        # Built before the run directory exists, so that any choice SB3 rejects leaves nothing behind.
        model = build_model(options, venv, options.env.seed)
        parent_model_id = None
        if options.train.init_from is not None and not options.train.resume:
            init, parent_model_id = resolve_init(options)
            apply_init(model, venv, init, options)
        run = open_run(options)
        options.store.run_name = run.name
        snapshot = options.model_dump(mode="json")
        run.write_json(run.options_file, snapshot)
        remove_partial(run.checkpoints)
        with _file_log(run.log_file), FatalLog(run.path):  # a native crash leaves its reason (fatal_log)
            context = RunContext(run.name, run.path, run.events_file, options, new_trace_id())
            sinks, unavailable = build_sinks(context)
            recorder = RunRecorder(run.name, run.events_file, sinks=sinks, trace_id=context.trace_id,
                                   unavailable=unavailable)
            session = TrainingSession(model, venv, options, run, recorder, render_mode, parent_model_id)
            recorder.emit(meta_record(snapshot, options.env.seed, str(model.device), probe.spec))
            if options.train.resume:
                session.resume()
            log.info("run %s: %s on %s, %d envs, seed %d, target %d steps, in %s", run.name, algorithm.name,
                     options.env.env_id, options.env.n_envs, options.env.seed, options.train.total_timesteps, run.path)
            budget = plan(model, options.train.total_timesteps, getattr(model, "num_timesteps", 0))
            if budget is not None and budget.note:
                log.info(budget.note)
            status, checkpoint, evaluation = session.run(progress)
            log.info("run %s %s at %d steps in %.1f s", run.name, status, checkpoint.env_steps,
                     time.monotonic() - started)
    finally:
        venv.close()
    return TrainResult(run, checkpoint, evaluation, status, checkpoint.env_steps, time.monotonic() - started,
                       session.models.ids.get(checkpoint.path), session.validation)


class TrainingSession:
    """One process's share of a run: learn, checkpoint, evaluate, and record all of it."""

    def __init__(self, model: BaseAlgorithm, venv: VecEnv, options: Options, run: RunDirectory,
                 recorder: RunRecorder, render_mode: str | None, parent_model_id: int | None = None) -> None:
        self.model, self.venv, self.options, self.run_dir, self.recorder = model, venv, options, run, recorder
        self.render_mode = render_mode
        metrics = options.metrics
        self.telemetry = TelemetryCallback(recorder, MetricsAccumulator(info_keys=tuple(metrics.info_keys)),
                                           info_keys=tuple(metrics.info_keys))
        model.set_logger(event_logger(self.telemetry))
        self.saved: list[Checkpoint] = []
        self.models = RunModels(options, run.name, parent_model_id)
        self.validation: Validation | None = None
        self.progress = StopProgress(run.path)
        self.stop = StopFlag(on_stop=self.progress.acknowledge)
        self.progress.path.unlink(missing_ok=True)  # an earlier process's stop, on resume
        # On-policy learners are checkpointed only at rollout boundaries, the states that an
        # uninterrupted run passes through too, so that a resume continues it exactly.
        self.boundary = RolloutBoundary(lambda: capture_agent(self.model, self.venv), self._at_boundary) \
            if isinstance(model, OnPolicyAlgorithm) else None

    def resume(self) -> None:
        try:
            checkpoint = latest_checkpoint(self.run_dir.checkpoints)
        except CheckpointNotFoundError:
            # Killed before its first checkpoint: nothing was learned that could be kept, so the run
            # starts over in its own directory (its log and options stay) rather than being stuck.
            self.recorder.emit(Resume(checkpoint="", env_steps=0, opt_steps=0))
            log.warning("run %s has no complete checkpoint (stopped before its first one): it starts over from "
                        "step 0", self.run_dir.name)
            return
        restore_agent(self.model, self.venv, checkpoint)
        self.recorder.emit(Resume(checkpoint=self._relative(checkpoint.path), env_steps=checkpoint.env_steps,
                                  opt_steps=int(getattr(self.model, "_n_updates", 0))))
        log.info("resume from %s at %d env steps", checkpoint.path.name, checkpoint.env_steps)

    def run(self, progress: bool) -> tuple[str, Checkpoint, EvalResult | None]:
        try:
            # A stop during the final evaluation lets it finish (it shows progress, step by step).
            with _stop_on_signals(self.stop):
                status = self._learn(progress)
                checkpoint = self.saved[-1]
                evaluation = self._final_evaluation(checkpoint) if status == "finished" else None
        except BaseException as error:
            self._fail(error)
            raise
        finally:
            self.models.close()
        self.recorder.close(status, reason=self.stop.reason if status == "stopped" else None,
                            env_steps=self.model.num_timesteps)
        self._report_sink_failures()
        return status, checkpoint, evaluation

    def _learn(self, progress: bool) -> str:
        options = self.options
        callbacks: list[Any] = [self.stop, self.telemetry]
        at_boundary = self.boundary is not None
        if self.boundary is not None:
            callbacks.insert(0, self.boundary)
        if options.train.checkpoint_freq:
            callbacks.append(EveryNSteps(options.train.checkpoint_freq, lambda _: self._save_now(), at_boundary))
        if options.eval.freq:
            callbacks.append(EveryNSteps(options.eval.freq, self._periodic_eval, at_boundary))
        if progress:
            callbacks.append(ProgressBar(options.train.total_timesteps))
        remaining = options.train.total_timesteps - self.model.num_timesteps
        with self.progress.watching(self.model):
            if remaining > 0:
                try:
                    self.model.learn(remaining, callback=CallbackList(callbacks),
                                     reset_num_timesteps=not options.train.resume)
                except KeyboardInterrupt:
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
        self.models.register(checkpoint)
        self.recorder.emit(CheckpointRecord(path=self._relative(checkpoint.path), env_steps=checkpoint.env_steps,
                                            sha256=checkpoint.sha256))
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
        self._record_eval(result, self._relative(checkpoint.path), env_steps)
        self.models.evaluated(checkpoint, result)

    def _final_evaluation(self, checkpoint: Checkpoint) -> EvalResult:
        options = self.options.eval
        loaded = load_policy(checkpoint, device=self.options.train.device, render_mode=self.render_mode)
        hook = None
        if options.record_steps:
            frames = self.run_dir.path / "frames" / checkpoint.path.name if self.render_mode else None
            hook = EvalStepRecorder(self.recorder, loaded.venv, frames, options.frame_every)
        try:
            result = evaluate_policy_of(loaded, options.episodes, options.deterministic, _beating(self.progress, hook))
        finally:
            loaded.close()
        self.run_dir.write_json(self.run_dir.eval_file, result.to_dict())
        self._record_eval(result, self._relative(checkpoint.path), checkpoint.env_steps)
        self.validation = self.models.evaluated(checkpoint, result)
        return result

    def _record_eval(self, result: EvalResult, checkpoint: str | None, env_steps: int) -> None:
        self.recorder.emit(EvalRecord(episodes=result.episodes, mean_reward=result.mean_reward,
                                      std_reward=result.std_reward, mean_length=result.mean_length,
                                      checkpoint=checkpoint, env_steps=env_steps))
        log.info("eval at %d env steps: mean reward %.2f +/- %.2f over %d episodes", env_steps, result.mean_reward,
                 result.std_reward, result.episodes)

    def _fail(self, error: BaseException) -> None:
        """Receipt, ``error`` record, ``end`` record (failed); then the caller re-raises."""
        receipt: Path | None = None
        try:
            receipt = write_receipt(self.run_dir.path, self.recorder.trace_id, error,
                                    self.options.model_dump(mode="json"), self.telemetry, self.venv,
                                    self.model.num_timesteps)
        except OSError as exc:  # the disk that failed the run may refuse the receipt too: keep the first error
            error.receipt_error = f"{exc.strerror or exc}"  # type: ignore[attr-defined]
        relative = self._relative(receipt) if receipt is not None else None
        try:
            self.recorder.emit(ErrorRecord(message=f"{type(error).__name__}: {error}",
                                           traceback="".join(traceback.format_exception(error)), receipt=relative))
            if relative is not None:
                self.recorder.emit(Artifact(kind="receipt", path=relative))
            self.recorder.close("failed", reason=f"{type(error).__name__}: {error}", env_steps=self.model.num_timesteps)
        except OSError as exc:  # the log's disk is full too: what it holds stays valid, the error goes on up
            log.warning("run %s: the log could not take the error and end records (%s)", self.run_dir.name,
                        exc.strerror or exc)
        log.error("run %s failed at %d env steps: %s; receipt: %s", self.run_dir.name, self.model.num_timesteps,
                  error, receipt or "not written")
        error.receipt = receipt  # type: ignore[attr-defined]

    def _report_sink_failures(self) -> None:
        for name, failure in self.recorder.failures.items():
            log.warning("sink %s failed during the run (%s); the JSONL log is complete", name, failure)

    def _relative(self, path: Path) -> str:
        return str(Path(path).relative_to(self.run_dir.path))


def _beating(progress: StopProgress, hook: Any) -> Any:
    """An evaluation step hook that also shows progress (to a supervisor waiting on a stop)."""
    def on_step(**step: Any) -> None:
        progress.beat()
        if hook is not None:
            hook(**step)
    return on_step


def save_checkpoint(model: BaseAlgorithm, venv: VecEnv, options: Options, run: RunDirectory,
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
    handler = _LogFileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("rlops")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


class _LogFileHandler(logging.FileHandler):
    """The run's text log; a line it cannot write (a full disk) is dropped without the traceback
    that logging prints by default: the message still reaches the terminal and the JSONL log."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        pass
