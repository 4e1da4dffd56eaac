"""Warm start (``train.init_from``): a new run that begins from another model's weights.

The model may be a checkpoint or run directory, or a registry id. Its engine loads its policy
weights and normalization statistics into the freshly built learner (``Trainer.warm_start``;
the optimizer and counters start anew: it is a new run), and its registry id becomes the parent
of every model the new run registers, so lineage can be followed back (``rlops registry show ID``).
"""

from __future__ import annotations

from pathlib import Path

from rlops.errors import IncompatibleChoiceError
from rlops.options.schema import Options
from rlops.pipeline.checkpoints import Checkpoint
from rlops.pipeline.loading import open_checkpoint
from rlops.services.registry_ops import register_checkpoint, resolve_model
from rlops.store.registry import Registry


def resolve_init(options: Options) -> tuple[Checkpoint, int | None]:
    """The checkpoint to start from and its registry id (registered now if it had none)."""
    source = str(options.train.init_from)
    registry = Registry(options.store.db_path) if options.registry.enable else None
    try:
        if source.isdigit():
            if registry is None:
                raise IncompatibleChoiceError(f"train.init_from {source} is a registry id, but the registry is off",
                                              hint="give a checkpoint or run directory, or set registry.enable")
            row, checkpoint = resolve_model(registry, model_id=int(source), allow_unvalidated=True)
            return checkpoint, row["id"]
        checkpoint = open_checkpoint(Path(source))
        if registry is None:
            return checkpoint, None
        row = registry.by_path(Path(checkpoint.path).resolve())
        parent = row["id"] if row else register_checkpoint(registry, checkpoint, run_id=checkpoint.manifest.get("run"))
        return checkpoint, parent
    finally:
        if registry is not None:
            registry.close()
