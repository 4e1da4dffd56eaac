"""Pieces every command shares: the options file flag, ``--json``, and reading the option set."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # the option set loads pydantic: only the commands that read options pay for it
    from rlops.options import ResolvedOptions
    from rlops.services.run_ref import RunRef

CONFIG = typer.Option(None, "--config", "-c", help="TOML options file (default: $RL_CONFIG or ./rlops.toml)")
JSON = typer.Option(False, "--json", help="print only JSON on stdout")
PASS_OPTIONS = {"allow_extra_args": True, "ignore_unknown_options": True}
RUN_HELP = "run id (rlops runs list), run directory or its train_log.jsonl"


def resolve(ctx: typer.Context, config: Path | None) -> ResolvedOptions:
    """The option set from file < environment < the command's extra ``--section.key`` flags."""
    from rlops.options import resolve_options

    return resolve_options(config=config, args=ctx.args)


def run_ref(ctx: typer.Context, config: Path | None, ref: str | Path) -> RunRef:
    """The run a RUN argument names (id, directory or event log), in the store the options point at."""
    from rlops.services.run_ref import resolve_run

    options = resolve(ctx, config).options
    return resolve_run(ref, options.store.db_path, options.store.model_dir)


def same_store(resolved: ResolvedOptions, config: Path | None) -> str:
    """The flags a printed follow-up command needs to find the same run store and registry: the
    options file this command was given, and the store paths set on its command line."""
    import shlex

    flags = [f"--config {shlex.quote(str(config))}"] if config is not None else []
    for dotted, flag in (("store.db_path", "--store.db-path"), ("store.model_dir", "--store.model-dir")):
        if resolved.source_of(dotted).startswith("CLI"):
            section, key = dotted.split(".")
            flags.append(f"{flag} {shlex.quote(str(getattr(getattr(resolved.options, section), key)))}")
    return "".join(f" {flag}" for flag in flags)


# The command line as given, "--" included: click drops the separator, and ``rlops runs start``
# needs it to tell rlops's own flags from the run's arguments. Set by ``rlops.cli.app.main``.
RAW_ARGV: list[str] = []
