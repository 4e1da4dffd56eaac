"""``rlops train``, ``rlops eval`` and ``rlops infer``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from rlops.errors import UsageError
from rlops.options import ResolvedOptions, resolve_options
from rlops.pipeline.evaluate import evaluate_policy_of
from rlops.pipeline.infer import run_episodes
from rlops.pipeline.loading import LoadedPolicy, load_policy, open_checkpoint
from rlops.pipeline.train import open_run, prepare_options
from rlops.pipeline.train import train as train_run

CONFIG = typer.Option(None, "--config", "-c", help="TOML options file (default: $RL_CONFIG or ./rlops.toml)")
JSON = typer.Option(False, "--json", help="print only JSON on stdout")


def _resolve(ctx: typer.Context, config: Path | None) -> ResolvedOptions:
    return resolve_options(config=config, args=ctx.args)


def train(ctx: typer.Context, config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Train an agent; print where the run, the model and the log are."""
    resolved = _resolve(ctx, config)
    saved = None
    if resolved.options.train.resume:
        run = open_run(resolved.options)
        saved = run.read_options()
        resolved = resolve_options(config=config, args=ctx.args, base=saved)
        resolved.options.store.run_name = run.name
    options = prepare_options(resolved.options, saved)
    result = train_run(options, progress=True)
    summary = {
        "status": result.status,
        "run": str(result.run.path),
        "model": str(result.checkpoint.path),
        "log": str(result.run.log_file),
        "options": str(result.run.options_file),
        "env_steps": result.env_steps,
        "seconds": round(result.seconds, 2),
        "eval": result.evaluation.to_dict() if result.evaluation else None,
    }
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        typer.echo(f"run:     {summary['run']}  ({result.status}, {result.env_steps} env steps, {result.seconds:.1f} s)")
        typer.echo(f"model:   {summary['model']}")
        typer.echo(f"log:     {summary['log']}")
        if result.evaluation:
            ev = result.evaluation
            typer.echo(f"eval:    mean reward {ev.mean_reward:.2f} +/- {ev.std_reward:.2f} over {ev.episodes} episodes")
        typer.echo(f"next:    rlops eval {summary['run']}")
    return 0 if result.status == "finished" else 1


def _load(ctx: typer.Context, config: Path | None, model: Path | None) -> tuple[ResolvedOptions, LoadedPolicy]:
    args = list(ctx.args)
    if model is not None:
        args += ["--infer.model-path", str(model)]
    resolved = resolve_options(config=config, args=args)
    infer = resolved.options.infer
    if infer.model_id is not None or infer.load_best:
        raise UsageError("loading from the model registry (infer.model_id, infer.load_best) is not available yet",
                         hint="give a checkpoint or run directory: rlops eval PATH")
    if infer.model_path is None:
        raise UsageError("no model given", hint="rlops eval PATH (a run directory or a checkpoint directory)")
    return resolved, load_policy(open_checkpoint(infer.model_path), device=infer.device)


MODEL = typer.Argument(None, help="a run directory (its newest intact checkpoint) or a checkpoint directory")


def evaluate(ctx: typer.Context, model: Path | None = MODEL, config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Evaluate a checkpoint over eval.episodes episodes."""
    resolved, loaded = _load(ctx, config, model)
    try:
        result = evaluate_policy_of(loaded, resolved.options.eval.episodes, resolved.options.eval.deterministic)
    finally:
        loaded.close()
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
    else:
        typer.echo(f"{result.checkpoint}: mean reward {result.mean_reward:.2f} +/- {result.std_reward:.2f}, "
                   f"mean length {result.mean_length:.1f} over {result.episodes} episodes")
    return 0


def infer(ctx: typer.Context, model: Path | None = MODEL, config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Run a model for infer.episodes episodes and print each episode."""
    resolved, loaded = _load(ctx, config, model)
    try:
        for episode in run_episodes(loaded, resolved.options.infer.episodes, resolved.options.eval.deterministic):
            if as_json:
                typer.echo(json.dumps(episode.to_dict()))
            else:
                typer.echo(f"episode {episode.index}: reward {episode.reward:.2f}, length {episode.length}, "
                           f"actions {episode.actions}")
    finally:
        loaded.close()
    return 0
