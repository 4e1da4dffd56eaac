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
from rlops.orchestrator.service import LIVE, TrainerService
from rlops.orchestrator.sweep import launch, parse_axis, rank


def sweep(ctx: typer.Context, config: Path | None = typer.Argument(None, help="TOML options every run starts from"),
          grid: list[str] = typer.Option([], "--grid", help="KEY=V1,V2 (or a range with --random); repeatable"),
          seeds: int = typer.Option(1, "--seeds", min=1, help="runs per combination, env.seed 0..N-1"),
          random_count: int | None = typer.Option(None, "--random", min=1, help="random search: this many combinations"),
          name: str | None = typer.Option(None, "--name", help="prefix of the run names (default sweep-<hex>)"),
          wait: bool = typer.Option(True, "--wait/--no-wait", help="wait for every run and print the ranking"),
          as_json: bool = JSON) -> int:
    """Queue a sweep (grid or random search) and rank its runs by best eval reward."""
    common = list(ctx.args)
    if config is not None and str(config).startswith("-"):  # no options file: the first flag landed here
        common, config = [str(config), *common], None
    options = resolve_options(config=config, args=common).options
    axes = [parse_axis(text) for text in grid]
    prefix = name or f"sweep-{secrets.token_hex(2)}"
    service = TrainerService(options)
    try:
        runs = launch(service, prefix, config, axes, seeds, random_count, common=common)
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
