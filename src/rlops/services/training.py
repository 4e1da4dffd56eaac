"""Train: one run from resolved options to checkpoints, registry rows and a final evaluation.

This is where a run is composed: the engine (``pipeline.engine``) builds its learner first, so a
bad choice leaves nothing behind; then the run directory is opened (created, or found and, for
a run kept on S3, brought down), its sinks built into the recorder that every record goes
through, and the registry book (``run_models``) that the recorder hands each record once it is
in the log: the registry's rows are made from the ``checkpoint`` and ``eval`` records. The
engine trains inside them, emits, and never reaches past them.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass

from rlops.options.schema import Options
from rlops.pipeline.checkpoints import Checkpoint, remove_partial
from rlops.pipeline.disk_full import disk_full_error
from rlops.pipeline.engine import RunParts, engine_named
from rlops.pipeline.evaluate import EvalResult
from rlops.pipeline.fatal_log import FatalLog
from rlops.services.registry_ops import Validation
from rlops.services.remote_resume import fetch_run, uses_s3
from rlops.services.resume import resumed_options
from rlops.services.run_models import RunModels
from rlops.services.text_log import text_log
from rlops.services.warm_start import resolve_init
from rlops.sinks.base import RunContext
from rlops.sinks.recorder import RunRecorder, new_trace_id
from rlops.sinks.registry import build_sinks
from rlops.store.run_dir import RunDirectory, create_run_directory, find_run_directory, run_name_for

log = logging.getLogger("rlops.train")

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
    options: Options | None = None  # what the run trained with (on resume, the saved ones with the new over them)


def prepare_options(options: Options) -> Options:
    """Draw and record a seed when none was given (``train`` does it too: calling this first is
    for callers that want the seed before training starts)."""
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


def train(options: Options, progress: bool = True, resume: bool = False) -> TrainResult:
    """Pre-flight, then train, checkpoint and evaluate in a new run directory.

    ``resume=True`` (or ``train.resume``) continues the run ``store.run_name`` (the newest under
    ``store.model_dir`` without one) from its last checkpoint: its saved options come back, with
    the options set in ``options`` over them, and a change to what shapes the network is refused
    (``services.resume``). A full disk is one ``TrainingError`` saying where and how to resume
    (``disk_full``)."""
    run = None
    try:
        if resume or options.train.resume:
            options.train.resume = True
            run = open_run(options)  # on S3, the newest checkpoint is brought down first
            options = resumed_options(options, run)
        return _train(prepare_options(options), progress, run)
    except OSError as error:
        full = disk_full_error(error, options)
        if full is None:
            raise
        raise full from error


def _train(options: Options, progress: bool, run: RunDirectory | None) -> TrainResult:
    started = time.monotonic()
    trainer = engine_named(options.train.engine).prepare(options)
    try:
        parent_model_id = None
        if options.train.init_from is not None and not options.train.resume:
            init, parent_model_id = resolve_init(options)
            trainer.warm_start(init)
        run = run or open_run(options)
        options.store.run_name = run.name
        run.write_json(run.options_file, options.model_dump(mode="json"))
        remove_partial(run.checkpoints)
        with text_log(run.log_file), FatalLog(run.path):  # a native crash leaves its reason (fatal_log)
            context = RunContext(run.name, run.path, run.events_file, options, new_trace_id())
            sinks, unavailable = build_sinks(context)
            models = RunModels(options, run.path, run.name, parent_model_id)  # rows from the run's records
            recorder = RunRecorder(run.name, run.events_file, sinks=sinks, trace_id=context.trace_id,
                                   unavailable=unavailable, consumers=[models])
            try:
                outcome = trainer.run(RunParts(run, recorder), progress)
            finally:
                models.close()
            log.info("run %s %s at %d steps in %.1f s", run.name, outcome.status, outcome.checkpoint.env_steps,
                     time.monotonic() - started)
    finally:
        trainer.close()
    checkpoint = outcome.checkpoint
    validation = models.validations.get(checkpoint.path) if outcome.evaluation is not None else None
    return TrainResult(run, checkpoint, outcome.evaluation, outcome.status, checkpoint.env_steps,
                       time.monotonic() - started, models.ids.get(checkpoint.path), validation, options)
