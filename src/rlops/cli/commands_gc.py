"""``rlops gc``: retention from the terminal; a dry run unless ``--apply``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from rlops.cli.shared import CONFIG, JSON, resolve
from rlops.errors import UsageError
from rlops.orchestrator.retention import apply as apply_plan
from rlops.orchestrator.retention import freed_bytes, plan, status
from rlops.store.prunes import pending_prunes
from rlops.store.registry import Registry
from rlops.store.runs import RunStore


def gc(ctx: typer.Context, apply: bool = typer.Option(False, "--apply", help="delete (default: a dry run that lists)"),
       show_status: bool = typer.Option(False, "--status", help="print disk use and videos retained per run instead"),
       config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Prune videos and old run directories by orchestrator.max_videos_per_run, max_runs_per_agent and
    max_age_days; never a live run, a production/staging model's checkpoint or a model being evaluated. First
    finishes any prune an interrupted gc began. Exit 1 when a deletion failed."""
    options = resolve(ctx, config).options
    limits = options.orchestrator
    unlimited = (limits.max_videos_per_run, limits.max_runs_per_agent, limits.max_age_days) == (None,) * 3
    store, registry = RunStore(options.store.db_path), Registry(options.store.db_path)  # one database
    try:
        if show_status:
            return _print_status(status(store, options).to_dict(), as_json)
        if unlimited and not pending_prunes(store):  # with none, a prune an interrupted gc began is still finished
            raise UsageError("no retention limit is set, so there is nothing to prune",
                             hint="give --orchestrator.max-videos-per-run N, --orchestrator.max-runs-per-agent N "
                                  "and/or --orchestrator.max-age-days D (or set them in rlops.toml)")
        prunes = plan(store, registry, options)
        if apply:
            prunes = apply_plan(prunes, store, registry)
    finally:
        registry.close()
        store.close()
    failed = [p for p in prunes if p.kept_because and p.kept_because.startswith("could not delete")]
    deleted = [p for p in prunes if p.kept_because is None]
    if as_json:
        typer.echo(json.dumps({"applied": apply, "freed_bytes": freed_bytes(prunes),
                               "prune": [p.to_dict() for p in deleted],
                               "kept": [p.to_dict() for p in prunes if p.kept_because]}))
        return 1 if failed else 0
    for p in prunes:
        verb = f"kept ({p.kept_because})" if p.kept_because else "pruned" if apply else "would prune"
        typer.echo(f"{verb}: {p.target} [{p.kind}, {p.bytes:,} bytes] {p.why}")
    what = "freed" if apply else "would free"
    typer.echo(f"{len(deleted)} to prune, {what} {freed_bytes(prunes):,} bytes"
               + ("" if apply or not deleted else "; dry run: add --apply to delete"), err=True)
    return 1 if failed else 0


def _print_status(usage: dict, as_json: bool) -> int:
    if as_json:
        typer.echo(json.dumps(usage))
        return 0
    for run in usage["runs"]:
        typer.echo(f"{run['run_id']}  {run['status']:<8}  {run['bytes']:>14,} bytes  {run['videos']}")
    typer.echo(f"total: {usage['total_bytes']:,} bytes in {len(usage['runs'])} runs", err=True)
    return 0
