"""``rlops dataset``: offline-RL datasets from the terminal, each command a call into
``rlops.datasets.catalog`` (imported inside the command: h5py and the pipeline load only then)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from rlops.cli.shared import CONFIG, JSON, PASS_OPTIONS
from rlops.errors import UsageError

if TYPE_CHECKING:
    from rlops.datasets.catalog import DatasetCatalog

app = typer.Typer(help="Offline-RL datasets: record, import, save (a play session), list, show, verify, rm.", no_args_is_help=True)


def _open(ctx: typer.Context, config: Path | None, what: str | None = None,
          required: bool = True) -> tuple[DatasetCatalog, Any, str | None]:
    """The catalog the options point at, and the command's one positional argument (``what``).

    Positionals are told from ``--section.key VALUE`` flags by the option table: click alone would
    take a flag's value for the argument (as ``rlops eval`` does, see ``split_positionals``)."""
    from rlops.datasets.catalog import DatasetCatalog
    from rlops.options import resolve_options
    from rlops.options.sources import split_positionals

    positionals, flags = split_positionals(ctx.args)
    if len(positionals) > (1 if what else 0):
        raise UsageError(f"unexpected arguments: {' '.join(positionals)}", hint=f"give one {what}" if what else None)
    if what and required and not positionals:
        raise UsageError(f"no {what} given", hint="rlops dataset list shows the datasets")
    options = resolve_options(config=config, args=flags).options
    catalog = DatasetCatalog(options.store.model_dir, options.store.db_path)
    return catalog, options, positionals[0] if positionals else None


def _line(row: dict[str, Any]) -> str:
    returns = row.get("returns") or {}
    mean = f"{returns['mean']:.1f}" if "mean" in returns else "-"
    return (f"{row['name']}: {row['env_id']}, {row['episodes']} episodes, {row['steps']} steps, mean return {mean}, "
            f"{row['bytes']} bytes, {row['source'].get('kind', '?')}, {row['integrity']}")


@app.command("record", context_settings=PASS_OPTIONS)
def record(ctx: typer.Context, model: int | None = typer.Option(None, "--model", help="a registry model id"),
           load_best: bool = typer.Option(False, "--load-best", help="the best validated model (of --env)"),
           env: str | None = typer.Option(None, "--env", help="with --load-best: the env id"),
           episodes: int = typer.Option(50, "--episodes", min=1, help="episodes to record"),
           epsilon: float = typer.Option(0.0, "--epsilon", min=0.0, max=1.0, help="chance of a random action"),
           seed: int = typer.Option(0, "--seed", min=0, help="seed of the first episode (then +1 each)"),
           name: str | None = typer.Option(None, "--name", help="dataset name (default: env and time)"),
           config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Roll a policy out and store its episodes as a dataset: rlops dataset record PATH | --model ID | --load-best.

    PATH is a run or checkpoint directory. The dataset is in Minari's layout, with a manifest."""
    from rlops.datasets.record import policy_checkpoint

    catalog, options, path = _open(ctx, config, "run or checkpoint directory", required=False)
    try:
        checkpoint, source = policy_checkpoint(options, model, load_best, path, env)
        row = catalog.record(checkpoint, episodes, epsilon=epsilon, name=name, seed=seed, source=source)
    finally:
        catalog.close()
    typer.echo(json.dumps(row) if as_json else f"recorded {_line(row)}\n  {row['path']}")
    return 0


@app.command("import", context_settings=PASS_OPTIONS)
def import_dataset(ctx: typer.Context, name: str | None = typer.Option(None, "--name", help="dataset name (default: its own id)"),
                   env: str | None = typer.Option(None, "--env", help="the env of a d3rlpy file"),
                   config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Import a Minari dataset directory or a d3rlpy MDPDataset file: rlops dataset import PATH [--env ID]."""
    catalog, _, path = _open(ctx, config, "Minari dataset directory or d3rlpy file")
    try:
        row = catalog.import_path(path, name=name, env_id=env)
    finally:
        catalog.close()
    typer.echo(json.dumps(row) if as_json else f"imported {_line(row)}\n  {row['path']}")
    return 0


@app.command("save", context_settings=PASS_OPTIONS)
def save_play(ctx: typer.Context, name: str | None = typer.Option(None, "--name", help="dataset name (default: its own id)"),
              config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """A play session's finished episodes as a dataset, as the dashboard's Save as dataset: rlops dataset save RUN."""
    from rlops.play.dataset import save_session_dataset
    from rlops.services.run_ref import resolve_run
    from rlops.store.runs import RunStore

    catalog, options, ref = _open(ctx, config, "play session (a run id or directory)")
    catalog.close()  # the session's saving opens its own
    run_id = resolve_run(ref, options.store.db_path, options.store.model_dir).run_id
    store = RunStore(options.store.db_path)
    try:
        run = store.get_run(run_id)
    finally:
        store.close()
    row = save_session_dataset(run, options.store.model_dir, options.store.db_path, name)
    typer.echo(json.dumps(row) if as_json else f"saved {_line(row)}\n  {row['path']}")
    return 0


@app.command("list", context_settings=PASS_OPTIONS)
def list_datasets(ctx: typer.Context, config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Datasets in the store, newest first."""
    catalog, _, _ = _open(ctx, config)
    try:
        rows = catalog.list()
    finally:
        catalog.close()
    if as_json:
        typer.echo(json.dumps(rows))
    elif not rows:
        typer.echo("no datasets: rlops dataset record --model ID, or rlops dataset import PATH", err=True)
    else:
        typer.echo("\n".join(_line(row) for row in rows))
    return 0


@app.command("show", context_settings=PASS_OPTIONS)
def show(ctx: typer.Context, config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """One dataset, its row and its manifest: rlops dataset show NAME."""
    catalog, _, name = _open(ctx, config, "dataset name")
    try:
        row = catalog.show(name)
    finally:
        catalog.close()
    typer.echo(json.dumps(row) if as_json else f"{_line(row)}\n{json.dumps(row['manifest'], indent=1)}")
    return 0


@app.command("verify", context_settings=PASS_OPTIONS)
def verify(ctx: typer.Context, config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Rehash every file of a dataset (rlops dataset verify [NAME], default all); exit 1 naming each file that changed."""
    catalog, _, name = _open(ctx, config, "dataset name", required=False)
    try:
        rows = [catalog.verify(n) for n in ([name] if name else [r["name"] for r in catalog.list()])]
    finally:
        catalog.close()
    if as_json:
        typer.echo(json.dumps(rows))
    else:
        for row in rows:
            typer.echo(f"{row['name']}: " + ("ok" if not row["problems"] else "CORRUPT: " + "; ".join(row["problems"])))
    return 1 if any(row["problems"] for row in rows) else 0


@app.command("rm", context_settings=PASS_OPTIONS)
def remove(ctx: typer.Context, config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Delete a dataset, its directory and its row: rlops dataset rm NAME."""
    catalog, _, name = _open(ctx, config, "dataset name")
    try:
        row = catalog.remove(name)
    finally:
        catalog.close()
    typer.echo(json.dumps({"removed": row["name"], "path": row["path"]}) if as_json else f"removed {row['name']}")
    return 0
