"""``rlops sweep OPTIONS.toml --grid KEY=V1,V2 ... [--seeds N] [--random N] [--section.key V...]``:
queue a sweep of supervised runs, wait for them, and print them ranked by their best evaluation.
Other ``--section.key`` flags go to every run (and set the orchestrator's own options)."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from rlops.cli.shared import JSON
from rlops.options import resolve_options
from rlops.orchestrator.daemon import ensure_daemon
from rlops.orchestrator.service import TrainerService
from rlops.errors import UsageError
from rlops.orchestrator.sweep import launch, parse_axis, rank
from rlops.store.run_status import LIVE


def sweep(ctx: typer.Context, config: Path | None = typer.Argument(None, help="TOML options every run starts from"),
          grid: list[str] = typer.Option([], "--grid", help="KEY=V1,V2 (or a range with --random); repeatable"),
          seeds: int = typer.Option(1, "--seeds", min=1, help="runs per combination, env.seed 0..N-1"),
          random_count: int | None = typer.Option(None, "--random", min=1, help="random search: this many combinations"),
          name: str | None = typer.Option(None, "--name", help="prefix of the run names (default sweep-<hex>)"),
          wait: bool = typer.Option(True, "--wait/--no-wait", help="wait for every run and print the ranking"),
          runner: str = typer.Option("rlops", "--runner", help="rlops, or command: the program after -- gets "
                                                               "each run's --key value flags"),
          scheduler: str | None = typer.Option(None, "--scheduler", help="asha: through Ray Tune, poor runs stop "
                                                                         "early (needs --orchestrator.backend ray)"),
          search: str | None = typer.Option(None, "--search", help="optuna: Ray Tune's Optuna searcher draws the "
                                                                   "combinations (with --random N)"),
          as_json: bool = JSON) -> int:
    """Queue a sweep (grid or random search) and rank its runs by best eval reward."""
    from rlops.cli.commands_supervise import _split

    common, program = _split(ctx)
    if config is not None and str(config).startswith("-"):  # no options file: the first flag landed here
        common, config = [str(config), *common], None
    options = resolve_options(config=config, args=common).options
    axes = [parse_axis(text) for text in grid]
    prefix = name or f"sweep-{secrets.token_hex(2)}"
    if runner not in ("rlops", "command") or (runner == "command") != bool(program):
        wrong = "takes no program after --" if program else "needs a program after --"
        raise UsageError(f"--runner {runner} {wrong}",
                         hint="rlops sweep --runner command --grid train.learning_rate=1,2 -- python my_trainer.py")
    if scheduler not in (None, "asha") or search not in (None, "optuna"):
        raise UsageError(f"unknown --scheduler {scheduler!r} or --search {search!r}", hint="--scheduler asha, "
                         "--search optuna")
    service = TrainerService(options)
    try:
        if scheduler or search:
            from rlops.orchestrator.tune_sweep import tune_sweep  # Ray Tune: the ray extra

            ensure_daemon(options)  # it settles the runs while Tune drives the trials
            runs = tune_sweep(service, prefix, config, axes, seeds, random_count, scheduler, search, runner, program,
                              common)
        else:
            runs = launch(service, prefix, config, axes, seeds, random_count, common=common, runner=runner,
                          program=program)
            ensure_daemon(options)
        typer.echo(f"sweep {prefix}: {len(runs)} runs queued (at most {options.orchestrator.max_concurrent} at once)",
                   err=True)
        while wait and any(service.store.get_run(r["run"])["status"] in LIVE for r in runs):
            time.sleep(max(1.0, options.orchestrator.poll_interval))
        ranked = rank(service, runs)
    finally:
        service.close()
    if as_json:
        typer.echo(json.dumps(ranked))
        return 0
    keys = [axis.key for axis in axes]
    table = Table(box=None, header_style="bold")
    for column in ("rank", "run", *keys, "seed", "status", "best eval", "env steps"):
        table.add_column(column)
    for index, row in enumerate(ranked, start=1):
        table.add_row(str(index), row["run"], *[str(row[k]) for k in keys], str(row["seed"]), row["status"],
                      "-" if row["best_eval"] is None else f"{row['best_eval']:.2f}", f"{row['env_steps']:,}")
    Console(width=240).print(table)
    return 0 if all(row["status"] == "finished" for row in ranked) or not wait else 1
