"""``rlops runs start|stop|logs|watch|runners|daemon``: supervised runs from the terminal.

``start`` checks and queues a run and makes sure a daemon supervises the runs directory, so the
run keeps going when this terminal closes. Everything after ``--`` is the run's: option flags
for the ``rlops`` runner, a command line for ``command``, a script and its flags for ``cleanrl``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import typer

from rlops.cli import shared
from rlops.cli.shared import CONFIG, JSON, RUN_HELP, resolve, run_ref, same_store

# The orchestrator is imported by the commands that use it (each is a few lines); at import time
# it would cost every ``rlops runs`` command, ``--help`` included, a few tenths of a second.


def _service(options: Any) -> Any:
    from rlops.orchestrator.service import TrainerService

    return TrainerService(options)


def _split(ctx: typer.Context) -> tuple[list[str], list[str]]:
    """(rlops's own option flags, the run's arguments after ``--``)."""
    args = list(ctx.args)
    raw = shared.RAW_ARGV
    if "--" in raw:  # typer drops the separator: what followed it in argv is the run's
        tail = raw[raw.index("--") + 1:]
        if tail and args[-len(tail):] == tail:
            return args[:-len(tail)], tail
    return args, []


def start(ctx: typer.Context,
          runner: str = typer.Option("rlops", "--runner", help="rlops, command or cleanrl (see rlops runs runners)"),
          name: str | None = typer.Option(None, "--name", help="run id (default: <runner>-<time>-<hex>)"),
          daemon: bool = typer.Option(True, "--daemon/--no-daemon", help="start a daemon if none supervises the runs"),
          config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Queue a supervised run: rlops runs start [--runner R] [--name N] [--section.key V...] -- RUN ARGS."""
    from rlops.options import resolve_options
    from rlops.orchestrator.daemon import ensure_daemon

    own, run_args = _split(ctx)
    resolved = resolve_options(config=config, args=own)
    options = resolved.options
    service = _service(options)
    try:
        run_id = service.start(runner, run_args, name=name)
        status = service.store.get_run(run_id)["status"]
    finally:
        service.close()
    started_daemon = ensure_daemon(options) if daemon else False
    if as_json:
        typer.echo(json.dumps({"run": run_id, "status": status, "daemon_started": started_daemon}))
    else:
        typer.echo(run_id)
        again = same_store(resolved, config)  # the follow-up commands find this store as printed
        typer.echo(f"{status}; follow it with: rlops runs logs {run_id} -f{again}   (or rlops runs watch {run_id}{again})",
                   err=True)
    return 0


def stop(ctx: typer.Context, run: str = typer.Argument(..., help=RUN_HELP), config: Path | None = CONFIG) -> int:
    """Stop a run: SIGTERM to its whole process group, SIGKILL after orchestrator.stop_grace_s."""
    run = run_ref(ctx, config, run).run_id
    service = _service(resolve(ctx, config).options)
    try:
        state = service.stop(run)
    finally:
        service.close()
    typer.echo(f"{run}: {state}", err=True)
    return 0


def logs(ctx: typer.Context, run: str = typer.Argument(..., help=RUN_HELP),
         follow: bool = typer.Option(False, "--follow", "-f", help="keep printing until the run ends"),
         records: bool = typer.Option(False, "--records", help="print the run's records (JSON lines), not its output"),
         config: Path | None = CONFIG) -> int:
    """The run's output (stdout and stderr text), or its records with --records."""
    run = run_ref(ctx, config, run).run_id
    from rlops.events.schema import to_dict
    from rlops.store.run_status import LIVE

    service = _service(resolve(ctx, config).options)
    try:
        if records:
            for record in service.stream(run, follow=follow):
                typer.echo(json.dumps(to_dict(record)))
            return 0
        path, offset = service.output(run), 0
        while True:
            ended = service.store.get_run(run)["status"] not in LIVE
            if path.exists():
                with open(path, "rb") as handle:
                    handle.seek(offset)
                    data = handle.read()
                offset += len(data)
                sys.stdout.write(data.decode("utf-8", errors="replace"))
                sys.stdout.flush()
            if not follow or ended:
                return 0
            time.sleep(0.25)
            service.tick()
    finally:
        service.close()


def watch(ctx: typer.Context, run: str = typer.Argument(..., help=RUN_HELP), config: Path | None = CONFIG) -> int:
    """Live metrics of a run in the terminal, one line per record that moves them, until it ends."""
    run = run_ref(ctx, config, run).run_id
    from rlops.events.schema import End, Episode, Eval, Metrics

    service = _service(resolve(ctx, config).options)
    returns: list[float] = []
    try:
        for record in service.stream(run, follow=True):
            if isinstance(record, Episode):
                returns = (returns + [record.episode_return])[-100:]
                continue
            if isinstance(record, Metrics):
                losses = " ".join(f"{k.rsplit('/', 1)[-1]}={v:.3g}" for k, v in record.values.items()
                                  if "loss" in k and isinstance(v, float))
                mean = f"{sum(returns) / len(returns):.2f}" if returns else "-"
                typer.echo(f"{record.env_steps:>10,} steps  return(100) {mean:>8}  sps {record.sps:>8,.0f}  {losses}")
            elif isinstance(record, Eval):
                typer.echo(f"{record.env_steps:>10,} steps  eval {record.mean_reward:.2f} +/- {record.std_reward:.2f}")
            elif isinstance(record, End):
                typer.echo(f"run {record.status}" + (f": {record.reason}" if record.reason else ""))
    finally:
        service.close()
    return 0


def runners(as_json: bool = JSON) -> int:
    """The registered runners, what each is for and what it supports (warm start, offline
    inference, needs a GPU, external services, live per-step telemetry)."""
    from rlops.orchestrator.runners import capability_matrix
    from rlops.orchestrator.supports import format_matrix

    catalog = capability_matrix()
    typer.echo(json.dumps(catalog) if as_json else format_matrix(catalog))
    return 0


def daemon(ctx: typer.Context, exit_when_idle: bool = typer.Option(
               False, "--exit-when-idle", help="exit after orchestrator.idle_exit_s with nothing queued or running "
                                               "(how rlops runs start launches one)"),
           config: Path | None = CONFIG) -> int:
    """Supervise the runs directory in the foreground (rlops runs start launches one in the background)."""
    from rlops.orchestrator.daemon import run_daemon

    return run_daemon(resolve(ctx, config).options, exit_when_idle=exit_when_idle)
