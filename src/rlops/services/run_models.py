"""The registry's side of one training run: each checkpoint is registered (validated = 0) and
each evaluation is written onto the checkpoint it scored, then validated.

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
from rlops.options.schema import Options
from rlops.pipeline.checkpoints import Checkpoint
from rlops.pipeline.evaluate import EvalResult
from rlops.services.registry_ops import Validation, record_evaluation, register_checkpoint, rules_from
from rlops.store.registry import Registry

log = logging.getLogger("rlops.train")
T = TypeVar("T")


class RunModels:
    def __init__(self, options: Options, run_id: str, parent_model_id: int | None = None) -> None:
        self.options = options
        self.run_id = run_id
        self.parent_model_id = parent_model_id
        self.ids: dict[Path, int] = {}
        self.registry: Registry | None = None
        if options.registry.enable:
            self.registry = self._guard("open", lambda: Registry(options.registry.db_path))
        if self.registry is not None and parent_model_id is None and options.train.resume:
            registry = self.registry  # a resumed run keeps the lineage it started with
            earlier = self._guard("read the run's models", lambda: registry.newest_of_run(run_id))
            self.parent_model_id = earlier["parent_model_id"] if earlier else None

    def register(self, checkpoint: Checkpoint) -> int | None:
        if self.registry is None:
            return None
        registry = self.registry
        model_id = self._guard("register a checkpoint", lambda: register_checkpoint(
            registry, checkpoint, run_id=self.run_id, parent_model_id=self.parent_model_id))
        if model_id is not None:
            self.ids[checkpoint.path] = model_id
        return model_id

    def evaluated(self, checkpoint: Checkpoint, result: EvalResult) -> Validation | None:
        model_id = self.ids.get(checkpoint.path)
        if self.registry is None or model_id is None:
            return None
        registry, rules = self.registry, rules_from(self.options.registry)
        validation = self._guard("record an evaluation", lambda: record_evaluation(registry, model_id, result, rules))
        if validation is not None:
            if validation.validated:
                log.info("model %d (%s) validated", model_id, checkpoint.path.name)
            else:
                log.info("model %d (%s) not validated: %s", model_id, checkpoint.path.name, "; ".join(validation.failed))
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
