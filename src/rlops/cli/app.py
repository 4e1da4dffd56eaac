"""The ``rlops`` command: one typer app, each subcommand a few lines over the library.

Exit codes: 0 done, 1 a check or the work failed, 2 a usage error. Messages go to stderr, data
to stdout; ``--json`` prints only JSON.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import typer

from rlops.cli import (
    commands_export,
    commands_gc,
    commands_log,
    commands_options,
    commands_registry,
    commands_runs,
    commands_serve,
    commands_sweep,
    commands_train,
    commands_ui,
    commands_views,
    shared,
)
from rlops.errors import RlopsError

app = typer.Typer(
    name="rlops",
    help="rlops: train, record, evaluate and serve reinforcement-learning agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
PASS_OPTIONS = {"allow_extra_args": True, "ignore_unknown_options": True}
OPTIONS_EPILOG = "Any option is also a flag: --section.key VALUE (see 'rlops options')."

app.command("train", context_settings=PASS_OPTIONS, epilog=OPTIONS_EPILOG)(commands_train.train)
app.command("eval", context_settings=PASS_OPTIONS, epilog=OPTIONS_EPILOG)(commands_train.evaluate)
app.command("infer", context_settings=PASS_OPTIONS, epilog=OPTIONS_EPILOG)(commands_train.infer)
app.command("serve", context_settings=PASS_OPTIONS, epilog=OPTIONS_EPILOG)(commands_serve.serve)
app.command("export", context_settings=PASS_OPTIONS, epilog=OPTIONS_EPILOG)(commands_export.export)
app.command("sweep", context_settings=PASS_OPTIONS, epilog=OPTIONS_EPILOG)(commands_sweep.sweep)
app.command("gc", context_settings=PASS_OPTIONS, epilog=OPTIONS_EPILOG)(commands_gc.gc)
app.command("ui", context_settings=PASS_OPTIONS, epilog=OPTIONS_EPILOG)(commands_ui.ui)
app.command("options")(commands_options.options)
app.command("plot")(commands_views.plot)
app.command("rollout")(commands_views.rollout)
app.add_typer(commands_log.app, name="log")
app.add_typer(commands_runs.app, name="runs")
app.add_typer(commands_registry.app, name="registry")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each message, not at creation: the
    handler outlives any one command (and any redirection of stderr around it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _log_to_stderr() -> None:
    logger = logging.getLogger("rlops")
    if not any(isinstance(handler, _StderrHandler) for handler in logger.handlers):
        handler = _StderrHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; turn rlops errors into a message and an exit code."""
    _log_to_stderr()
    args = list(sys.argv[1:] if argv is None else argv)
    shared.RAW_ARGV[:] = args
    try:
        result = app(args=args, prog_name="rlops", standalone_mode=False)
    except RlopsError as exc:
        typer.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 1
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except Exception as exc:
        # click's usage errors (bad subcommand, bad typed option). Recent typer vendors its own
        # click, so they are recognised by shape rather than by class.
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            return code
        raise
    return result if isinstance(result, int) else 0


def run() -> None:
    sys.exit(main())


def _alias(command: str) -> None:
    sys.exit(main([command, *sys.argv[1:]]))


def rl_train() -> None:
    _alias("train")


def rl_eval() -> None:
    _alias("eval")


def rl_infer() -> None:
    _alias("infer")


def rl_registry_list() -> None:
    sys.exit(main(["registry", "list", *sys.argv[1:]]))


def rl_registry_validate() -> None:
    sys.exit(main(["registry", "validate", *sys.argv[1:]]))
