"""The ``rlops`` command: one typer app, each subcommand a few lines over the library.

Exit codes: 0 done, 1 a check or the work failed, 2 a usage error. Messages go to stderr, data
to stdout; ``--json`` prints only JSON.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import typer

from rlops.cli import shared
from rlops.cli.lazy import CommandEntry, lazy_group
from rlops.errors import RlopsError
from rlops.pipeline.headless import choose_headless_rendering

PASS_OPTIONS = {"allow_extra_args": True, "ignore_unknown_options": True}
OPTIONS_EPILOG = "Any option is also a flag: --section.key VALUE (see 'rlops options')."
TAKES_OPTIONS = {"context_settings": PASS_OPTIONS, "epilog": OPTIONS_EPILOG}

# Each command's module is imported when it runs, not here: see rlops.cli.lazy. The one-line
# helps are the commands' own (a test keeps them equal).
COMMANDS = [
    CommandEntry("train", "rlops.cli.commands_train:train",
                 "Train an agent; print where the run, the model and the log are.", TAKES_OPTIONS),
    CommandEntry("eval", "rlops.cli.commands_train:evaluate",
                 "Evaluate a model over eval.episodes episodes: rlops eval PATH | --model-id ID | --load-best | "
                 "--status S.", TAKES_OPTIONS),
    CommandEntry("infer", "rlops.cli.commands_train:infer",
                 "Run a model episode by episode: rlops infer PATH | --model-id ID | --load-best [--env ID] | "
                 "--status S.", TAKES_OPTIONS),
    CommandEntry("serve", "rlops.cli.commands_serve:serve",
                 "Serve a policy: rlops serve [PATH | --model-id ID | --load-best [--env ID] | --status production].",
                 TAKES_OPTIONS),
    CommandEntry("export", "rlops.cli.commands_export:export",
                 "Replay a run's train_log.jsonl into a backend: rlops export RUN --to mlflow|wandb|tensorboard|otlp.",
                 TAKES_OPTIONS),
    CommandEntry("sweep", "rlops.cli.commands_sweep:sweep",
                 "Queue a sweep (grid or random search) and rank its runs by best eval reward.", TAKES_OPTIONS),
    CommandEntry("gc", "rlops.cli.commands_gc:gc",
                 "Prune videos and old run directories by orchestrator.max_videos_per_run, max_runs_per_agent and "
                 "max_age_days; never a live run, a production/staging model's checkpoint or a model being "
                 "evaluated. First finishes any prune an interrupted gc began. Exit 1 when a deletion failed.",
                 TAKES_OPTIONS),
    CommandEntry("ui", "rlops.cli.commands_ui:ui",
                 "Serve the dashboard and supervise runs: rlops ui [--ui.host H] [--ui.port P] [--ui.token T].",
                 TAKES_OPTIONS),
    CommandEntry("options", "rlops.cli.commands_options:options",
                 "List every feature and option (type, default, ENV name, CLI flag)."),
    CommandEntry("plot", "rlops.cli.commands_views:plot",
                 "Plot reward, done/trunc rates, percentile bands, entropy, losses and SPS to a PNG.",
                 {"context_settings": PASS_OPTIONS}),
    CommandEntry("rollout", "rlops.cli.commands_views:rollout",
                 "Run a checkpoint in one env; write rollout.gif, rollout.jsonl and meta.json.",
                 {"context_settings": PASS_OPTIONS}),
    CommandEntry("log", "rlops.cli.commands_log:app",
                 "Check event logs (train_log.jsonl, or any program's JSONL output)."),
    CommandEntry("runs", "rlops.cli.commands_runs:app",
                 "Runs in the run store and their supervision: list, show, check, reindex, start, stop, logs, "
                 "watch, runners, daemon."),
    CommandEntry("registry", "rlops.cli.commands_registry:app",
                 "The model registry: list, show, add, import, validate, promote, verify, prune."),
    CommandEntry("dataset", "rlops.cli.commands_dataset:app",
                 "Offline-RL datasets: record, import, save (a play session), list, show, verify, rm."),
]
app = lazy_group("rlops", "rlops: train, record, evaluate and serve reinforcement-learning agents.", COMMANDS)


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
    choose_headless_rendering()  # before any renderer is imported; runs started from here inherit it
    _log_to_stderr()
    args = list(sys.argv[1:] if argv is None else argv)
    shared.RAW_ARGV[:] = args
    try:
        result = app.main(args=args, prog_name="rlops", standalone_mode=False)
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


def rl_registry_add() -> None:
    """The seed's ``rl-registry-add MODEL_PATH [METRICS_JSON]``."""
    sys.exit(main(["registry", "add", *sys.argv[1:]]))


def rl_registry_load() -> None:
    """The seed's ``rl-registry-load ID``: the model's checkpoint directory, to load from."""
    sys.exit(main(["registry", "path", *sys.argv[1:]]))


def rl_load_best() -> None:
    """The seed's ``rl-load-best``: run the best validated model (``rlops infer --load-best``)."""
    sys.exit(main(["infer", "--load-best", *sys.argv[1:]]))
