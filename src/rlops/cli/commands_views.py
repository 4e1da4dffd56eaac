"""``rlops plot`` and ``rlops rollout``: views derived from a run's log and checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from rlops.cli.shared import CONFIG, RUN_HELP, run_ref

JSON = typer.Option(False, "--json", help="print only JSON on stdout")


def plot(ctx: typer.Context, run: str = typer.Argument(..., help=RUN_HELP),
         output: Path | None = typer.Option(None, "-o", "--output", help="PNG to write (default: RUN/plot.png)"),
         verbose: bool = typer.Option(False, "--verbose", "-v", help="name the panels left out and why"),
         config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Plot reward, done/trunc rates, percentile bands, entropy, losses and SPS to a PNG."""
    from rlops.events.plot import plot_log

    log = run_ref(ctx, config, run).require_log()
    output = output or log.parent / "plot.png"
    skipped = plot_log(log, output)
    for name in skipped if verbose else []:
        typer.echo(f"skipped panel: {name}", err=True)
    typer.echo(json.dumps({"png": str(output), "skipped": skipped}) if as_json else str(output))
    return 0


def rollout(ctx: typer.Context,
            model: str = typer.Option(..., "--model", help="a checkpoint directory, or a run (id, directory or log): "
                                                          "its newest intact checkpoint"),
            steps: int = typer.Option(500, "--steps", min=1, help="env steps to run"),
            greedy: bool = typer.Option(True, "--greedy/--sample", help="deterministic actions, or sampled ones"),
            output: Path | None = typer.Option(None, "-o", "--output", help="directory (default: CHECKPOINT/../../rollouts/<step>)"),
            config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Run a checkpoint in one env; write rollout.gif, rollout.jsonl and meta.json."""
    from rlops.pipeline.loading import open_checkpoint
    from rlops.pipeline.rollout import rollout as run_rollout

    checkpoint = open_checkpoint(model_path(ctx, config, model))
    output = output or checkpoint.path.parent.parent / "rollouts" / checkpoint.path.name
    result = run_rollout(checkpoint, output, steps=steps, deterministic=greedy)
    summary = {"directory": str(result.directory), "gif": str(result.directory / "rollout.gif"), "steps": result.steps,
               "frames": result.frames, "episode_returns": result.episode_returns}
    typer.echo(json.dumps(summary) if as_json else f"{summary['gif']} ({result.frames} frames, "
               f"{len(result.episode_returns)} episodes finished: {result.episode_returns})")
    return 0


def model_path(ctx: typer.Context, config: Path | None, model: str) -> Path:
    """A checkpoint or run directory as given, or the directory of the run ``model`` names."""
    path = Path(model)
    if path.is_dir() or "/" in model:  # a path: the checkpoint reader says what is wrong with it
        return path
    return run_ref(ctx, config, model).require_dir()
