"""``rlops runs``: the run store from the terminal (list, show, check, reindex).

The store and the orchestrator are imported inside the commands that use them, so ``rlops runs
--help`` and a usage error answer at once (see rlops.cli.lazy).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from rlops.cli.shared import CONFIG, JSON, PASS_OPTIONS, RUN_HELP, resolve, run_ref
from rlops.store.db import integrity_problems, rebuild_hint  # sqlite3 only: cheap

if TYPE_CHECKING:
    from rlops.store.runs import RunStore

app = typer.Typer(help="Runs in the run store and their supervision: list, show, check, reindex, start, stop, logs, "
                       "watch, runners, daemon.", no_args_is_help=True)


def _store(ctx: typer.Context, config: Path | None) -> tuple[RunStore, Any]:
    from rlops.store.runs import RunStore

    options = resolve(ctx, config).options
    return RunStore(options.store.db_path), options


@app.command("list", context_settings=PASS_OPTIONS)
def list_runs(ctx: typer.Context, status: str | None = typer.Option(None, "--status", help="only runs in this state"),
              limit: int = typer.Option(50, "--limit", min=1, help="newest N runs"),
              config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Runs, newest first: status, where each executes (backend, node), env, algorithm, steps, last return, SPS."""
    from rich.console import Console
    from rich.table import Table

    from rlops.services.reconcile import reconcile_lost_runs

    from rlops.orchestrator.daemon import daemon_pid

    store, options = _store(ctx, config)
    try:
        reconcile_lost_runs(store)
        runs = store.list_runs(status=status, limit=limit)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(runs))
        return 0
    root = options.store.model_dir
    pid = daemon_pid(Path(root))
    typer.echo(f"daemon: pid {pid} supervises {root}" if pid is not None else
               f"daemon: none supervises {root} (rlops runs start starts one; queued runs wait for it)", err=True)
    table = Table(box=None, header_style="bold")
    text = ("run", "status", "backend", "node", "env", "algo")
    for column in (*text, "env steps", "last return", "best eval", "SPS", "elapsed"):
        table.add_column(column, justify="left" if column in text else "right")
    for run in runs:
        backend, node = _placement(run)
        table.add_row(run["run_id"], run["status"], backend, node, run["env_id"] or "", run["algorithm"] or "",
                      f"{run['env_steps']:,}",
                      _number(run["last_return"]), _number(run["best_eval"]), _number(run["sps"], "{:,.0f}"),
                      _elapsed(run))
    if not runs:
        typer.echo("no runs yet: start one with rlops train", err=True)
        return 0
    console = Console()
    if not console.is_terminal:
        console = Console(width=240)  # piped: never cut a run id to fit 80 columns
    console.print(table)
    return 0


@app.command("show", context_settings=PASS_OPTIONS)
def show(ctx: typer.Context, run: str = typer.Argument(..., help=RUN_HELP),
         config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """One run: status, steps, returns, SPS, evaluations, paths, metric keys, artifacts."""
    from rlops.services.reconcile import reconcile_lost_runs

    run = run_ref(ctx, config, run).run_id
    store, _ = _store(ctx, config)
    try:
        reconcile_lost_runs(store)
        detail = store.get_run(run)
        returns = store.recent_returns(run, 100)
        detail["return_mean_100"] = sum(returns) / len(returns) if returns else None
        detail["metric_keys"] = store.metric_keys(run)
        detail["evals"] = store.events(run, types=("eval",))
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(detail))
        return 0
    lines = [
        ("run", detail["run_id"]), ("status", detail["status"] + (f" ({detail['reason']})" if detail["reason"] else "")),
        ("env / algo", f"{detail['env_id']} / {detail['algorithm']} (seed {detail['seed']})"),
        ("env steps", f"{detail['env_steps']:,} ({detail['opt_steps']:,} optimizer steps, {detail['resumes']} resumes)"),
        ("episodes", f"{detail['episodes']:,}; last return {_number(detail['last_return'])}, "
                     f"mean of last 100 {_number(detail['return_mean_100'])}"),
        ("SPS", _number(detail["sps"], "{:,.0f}")), ("elapsed", _elapsed(detail)), ("where", _where(detail)),
        ("evaluations", ", ".join(f"{e['mean_reward']:.2f}+/-{e['std_reward']:.2f} @ {e['env_steps']:,}"
                                  for e in detail["evals"]) or "none"),
        ("run dir", detail["run_dir"]), ("log", detail["log_path"]),
        ("last checkpoint", detail["last_checkpoint"] or "none"),
        ("metrics", ", ".join(detail["metric_keys"]) or "none"),
        ("artifacts", ", ".join(f"{a['kind']}:{a['path']}" for a in detail["artifacts"]) or "none"),
    ]
    if detail["dropped"]:
        lines.append(("dropped", json.dumps(detail["dropped"])))
    if detail["bad_lines"]:
        lines.append(("bad log lines", str(detail["bad_lines"])))
    if detail.get("pruned"):
        lines.append(("pruned", "its directory is deleted" if detail["pruned"] == "pruned" else
                      "its directory is being deleted (rlops gc --apply finishes an interrupted prune)"))
    for label, value in lines:
        typer.echo(f"{label + ':':<17}{value}")
    return 0


@app.command("check", context_settings=PASS_OPTIONS)
def check(ctx: typer.Context, config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Check the database file (PRAGMA integrity_check): ok, or what is damaged and how to rebuild. Exit 1 if damaged."""
    from rlops.store.db import integrity_problems, rebuild_hint

    path = Path(resolve(ctx, config).options.store.db_path)
    problems = integrity_problems(path)
    hint = rebuild_hint(path) if problems else None
    if as_json:
        typer.echo(json.dumps({"database": str(path), "ok": not problems, "problems": problems, "hint": hint}))
    elif not problems:
        typer.echo(f"{path}: ok")
    else:
        typer.echo(f"{path}: damaged ({len(problems)} problem{'s' if len(problems) > 1 else ''})", err=True)
        for problem in problems:
            typer.echo(f"  {problem}", err=True)
        typer.echo(f"  hint: {hint}", err=True)
    return 1 if problems else 0


@app.command("reindex", context_settings=PASS_OPTIONS)
def reindex(ctx: typer.Context, config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Rebuild the run store from the JSONL logs under store.model_dir."""
    from rlops.store.ingest import reindex as reindex_runs

    store, options = _store(ctx, config)
    try:
        results = reindex_runs(store, Path(options.store.model_dir))
    finally:
        store.close()
    summary = [{"run": r.run_id, "records": r.records, "bad_lines": r.bad_lines} for r in results]
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        for entry in summary:
            typer.echo(f"{entry['run']}: {entry['records']} records" +
                       (f", {entry['bad_lines']} unreadable lines kept out" if entry["bad_lines"] else ""))
        typer.echo(f"reindexed {len(summary)} runs from {options.store.model_dir} into {options.store.db_path}",
                   err=True)
    return 0


def _placement(run: dict[str, Any]) -> tuple[str, str]:
    """(backend, node): a Ray run's node is where Ray placed it (IP and node id); a local run's, the
    host that registered it."""
    backend = run.get("backend") or "local"
    return backend, run.get("node") or ("not placed yet" if backend != "local" else run.get("host") or "")


def _where(run: dict[str, Any]) -> str:
    backend, node = _placement(run)
    actor = f", actor {run['backend_ref']}" if run.get("backend_ref") else ""
    return f"{backend}{f' on {node}' if node else ''}{actor}"


def _number(value: float | None, form: str = "{:.2f}") -> str:
    return "-" if value is None else form.format(value)


def _elapsed(run: dict[str, Any]) -> str:
    if not run.get("started"):
        return "-"
    end = run.get("ended") or (time.time() if run["status"] == "running" else run.get("updated") or run["started"])
    seconds = max(0, int(end - run["started"]))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


# Supervised runs (the orchestrator): same group, their own module.
from rlops.cli import commands_supervise  # noqa: E402 - registered after the store commands above

app.command("start", context_settings=PASS_OPTIONS)(commands_supervise.start)
app.command("stop", context_settings=PASS_OPTIONS)(commands_supervise.stop)
app.command("logs", context_settings=PASS_OPTIONS)(commands_supervise.logs)
app.command("watch", context_settings=PASS_OPTIONS)(commands_supervise.watch)
app.command("runners")(commands_supervise.runners)
app.command("daemon", context_settings=PASS_OPTIONS)(commands_supervise.daemon)
