"""Pieces every command shares: the options file flag, ``--json``, and reading the option set."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # the option set loads pydantic: only the commands that read options pay for it
    from rlops.options import ResolvedOptions

CONFIG = typer.Option(None, "--config", "-c", help="TOML options file (default: $RL_CONFIG or ./rlops.toml)")
JSON = typer.Option(False, "--json", help="print only JSON on stdout")
PASS_OPTIONS = {"allow_extra_args": True, "ignore_unknown_options": True}


def resolve(ctx: typer.Context, config: Path | None) -> ResolvedOptions:
    """The option set from file < environment < the command's extra ``--section.key`` flags."""
    from rlops.options import resolve_options

    return resolve_options(config=config, args=ctx.args)


# The command line as given, "--" included: click drops the separator, and ``rlops runs start``
# needs it to tell rlops's own flags from the run's arguments. Set by ``rlops.cli.app.main``.
RAW_ARGV: list[str] = []
