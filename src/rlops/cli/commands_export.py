"""``rlops export RUN --to BACKEND``: publish a finished run's event log to a backend later."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from rlops.cli.shared import CONFIG, JSON
from rlops.errors import UsageError
from rlops.options import resolve_options
from rlops.options.sources import split_positionals
from rlops.services.replay import EXPORT_TARGETS, export_run
from rlops.services.run_ref import resolve_run


def export(ctx: typer.Context, to: str = typer.Option(..., "--to", help=f"one of: {', '.join(EXPORT_TARGETS)}"),
           config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Replay a run's train_log.jsonl into a backend: rlops export RUN --to mlflow|wandb|tensorboard|otlp.

    The backend's options come from the run's options.json, overridden by any --section.key flag
    (e.g. --store.tracking-uri, --metrics.endpoint)."""
    positionals, args = split_positionals(ctx.args)
    if len(positionals) != 1:
        raise UsageError("give one run", hint="rlops export RUN --to mlflow (its id, directory or train_log.jsonl)")
    overrides = resolve_options(config=config, args=args)
    options = overrides.options
    run_dir = resolve_run(positionals[0], options.store.db_path, options.store.model_dir).require_dir()
    result = export_run(Path(run_dir), to, overrides)
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
    else:
        typer.echo(f"exported {result.records} records of {result.run_id} to {result.sink}"
                   + (f"; {result.dropped} dropped: {result.failure}" if result.dropped else ""))
    return 0 if not result.dropped else 1
