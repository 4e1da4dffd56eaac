"""The registry's side of one training run, read from the run's records: each ``checkpoint``
record registers its checkpoint (validated = 0) and each ``eval`` record of a checkpoint is
written onto that model, then validated. The engine only emits; the composition
(``services.training``) hands this book to the ``RunRecorder`` as a consumer, so every registry
row comes from a record that is in the log first, on the training thread, never dropped.

Like a sink, it never stops training: a registry that cannot open or write is reported once and
left behind; the checkpoints and the event log stay complete, and ``rlops registry add`` or
``import`` can register them later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from rlops.errors import RlopsError
from rlops.events.schema import Checkpoint as CheckpointRecord
from rlops.events.schema import Eval as EvalRecord
from rlops.events.schema import Record
from rlops.options.schema import Options
from rlops.pipeline.checkpoints import Checkpoint, read_checkpoint
from rlops.pipeline.evaluate import EvalResult
from rlops.services.registry_ops import Validation, record_evaluation, register_checkpoint, rules_from
from rlops.store.registry import Registry

log = logging.getLogger("rlops.train")
T = TypeVar("T")


class RunModels:
    def __init__(self, options: Options, run_dir: Path, run_id: str, parent_model_id: int | None = None) -> None:
        self.options = options
        self.run_dir = Path(run_dir)
        self.run_id = run_id
        self.parent_model_id = parent_model_id
        self.ids: dict[Path, int] = {}  # checkpoint path -> model id
        self.validations: dict[Path, Validation] = {}  # checkpoint path -> its last evaluation's verdict
        self.registry: Registry | None = None
        if options.registry.enable:
            self.registry = self._guard("open", lambda: Registry(options.store.db_path))
        if self.registry is not None and parent_model_id is None and options.train.resume:
            registry = self.registry  # a resumed run keeps the lineage it started with
            earlier = self._guard("read the run's models", lambda: registry.newest_of_run(run_id))
            self.parent_model_id = earlier["parent_model_id"] if earlier else None

    def __call__(self, record: Record) -> None:
        """The ``RunRecorder`` consumer: a record that is in the log."""
        if isinstance(record, CheckpointRecord):
            path = self.run_dir / record.path
            checkpoint = self._guard("read the checkpoint", lambda: read_checkpoint(path, verify=False))
            if checkpoint is not None:
                self.register(checkpoint)
        elif isinstance(record, EvalRecord) and record.checkpoint:
            result = EvalResult(record.episodes, record.mean_reward, record.std_reward, record.mean_length,
                                self.options.eval.deterministic, checkpoint=record.checkpoint,
                                env_steps=record.env_steps)
            self.evaluated(self.run_dir / record.checkpoint, result)

    def register(self, checkpoint: Checkpoint) -> int | None:
        if self.registry is None:
            return None
        registry = self.registry
        model_id = self._guard("register a checkpoint", lambda: register_checkpoint(
            registry, checkpoint, run_id=self.run_id, parent_model_id=self.parent_model_id))
        if model_id is not None:
            self.ids[checkpoint.path] = model_id
        return model_id

    def evaluated(self, checkpoint: Path, result: EvalResult) -> Validation | None:
        model_id = self.ids.get(checkpoint)
        if self.registry is None or model_id is None:
            return None
        registry, rules = self.registry, rules_from(self.options.registry)
        validation = self._guard("record an evaluation", lambda: record_evaluation(registry, model_id, result, rules))
        if validation is not None:
            self.validations[checkpoint] = validation
            if validation.validated:
                log.info("model %d (%s) validated", model_id, checkpoint.name)
            else:
                log.info("model %d (%s) not validated: %s", model_id, checkpoint.name, "; ".join(validation.failed))
        return validation

    def close(self) -> None:
        if self.registry is not None:
            self.registry.close()
            self.registry = None

    def _guard(self, what: str, action: Callable[[], T]) -> T | None:
        try:
            return action()
        except (RlopsError, OSError, ValueError) as exc:  # sqlite3 errors are mapped to RlopsError by the store
            log.warning("the registry could not %s, training goes on without it: %s", what, exc)
            if self.registry is not None:
                self.registry.close()
            self.registry = None
            return None
