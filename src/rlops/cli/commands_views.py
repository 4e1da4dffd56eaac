"""``rlops plot`` and ``rlops rollout``: views derived from a run's log and checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from rlops.errors import UsageError
from rlops.events.plot import plot_log
from rlops.pipeline.loading import open_checkpoint
from rlops.pipeline.rollout import rollout as run_rollout

JSON = typer.Option(False, "--json", help="print only JSON on stdout")


def _log_path(run: Path) -> Path:
    path = run / "train_log.jsonl" if run.is_dir() else run
    if not path.is_file():
        raise UsageError(f"no event log at {str(path)!r}", hint="give a run directory or its train_log.jsonl")
    return path


def plot(run: Path = typer.Argument(..., help="a run directory or a train_log.jsonl"),
         output: Path | None = typer.Option(None, "-o", "--output", help="PNG to write (default: RUN/plot.png)"),
         as_json: bool = JSON) -> int:
    """Plot reward, done/trunc rates, percentile bands, entropy, losses and SPS to a PNG."""
    log = _log_path(run)
    output = output or log.parent / "plot.png"
    skipped = plot_log(log, output)
    for name in skipped:
        typer.echo(f"skipped panel: {name}", err=True)
    typer.echo(json.dumps({"png": str(output), "skipped": skipped}) if as_json else str(output))
    return 0


def rollout(model: Path = typer.Option(..., "--model", help="a run directory or a checkpoint directory"),
            steps: int = typer.Option(500, "--steps", min=1, help="env steps to run"),
            greedy: bool = typer.Option(True, "--greedy/--sample", help="deterministic actions, or sampled ones"),
            output: Path | None = typer.Option(None, "-o", "--output", help="directory (default: CHECKPOINT/../../rollouts/<step>)"),
            as_json: bool = JSON) -> int:
    """Run a checkpoint in one env; write rollout.gif, rollout.jsonl and meta.json."""
    checkpoint = open_checkpoint(model)
    output = output or checkpoint.path.parent.parent / "rollouts" / checkpoint.path.name
    result = run_rollout(checkpoint, output, steps=steps, deterministic=greedy)
    summary = {"directory": str(result.directory), "gif": str(result.directory / "rollout.gif"), "steps": result.steps,
               "frames": result.frames, "episode_returns": result.episode_returns}
    typer.echo(json.dumps(summary) if as_json else f"{summary['gif']} ({result.frames} frames, "
               f"{len(result.episode_returns)} episodes finished: {result.episode_returns})")
    return 0
