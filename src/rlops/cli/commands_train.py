"""``rlops train``, ``rlops eval`` and ``rlops infer``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from rlops.cli.shared import same_store
from rlops.errors import UsageError
from rlops.options import ResolvedOptions, resolve_options
from rlops.options.fields import option_specs, section_docs
from rlops.options.sources import split_positionals

if TYPE_CHECKING:  # the pipeline (SB3, torch) is imported by the command that runs, not by its --help
    from rlops.pipeline.loading import LoadedPolicy

CONFIG = typer.Option(None, "--config", "-c", help="TOML options file (default: $RL_CONFIG or ./rlops.toml)")
JSON = typer.Option(False, "--json", help="print only JSON on stdout")

# What ``rlops train --help`` shows of the option table: the options most runs set.
MOST_USED = ("env.env_id", "env.n_envs", "env.seed", "agent.algorithm", "agent.hyperparams", "agent.net_arch",
             "train.total_timesteps", "train.learning_rate", "train.batch_size", "train.device", "train.resume",
             "eval.episodes", "store.run_name", "store.model_dir", "registry.min_reward")


def options_help(keys: tuple[str, ...]) -> str:
    """Help paragraphs (kept line by line by typer) naming the option sections and the options ``keys``."""
    specs = {f"{spec.section}.{spec.key}": spec for spec in option_specs()}
    flags = [f"  {specs[key].cli_flag} {specs[key].type_name.upper()}: {specs[key].help} "
             f"(default {'unset' if specs[key].default is None else repr(specs[key].default)})" for key in keys]
    sections = ", ".join(section_docs())
    text = ("\b\nMost used options (any option is a flag --section.key VALUE, an RL_* variable or a TOML key):\n" +
            "\n".join(flags) + f"\n\n\bSections: {sections}.\nEvery option with its default: rlops options")
    return text.replace("[", "\\[")  # rich markup would take [16] for a style


def _resolve(ctx: typer.Context, config: Path | None) -> ResolvedOptions:
    return resolve_options(config=config, args=ctx.args)


def train(ctx: typer.Context, config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Train an agent; print where the run, the model and the log are."""
    from rlops.services.training import train as train_run

    resolved = _resolve(ctx, config)
    # --train.resume: the library lays what this command set over the run's saved options.
    result = train_run(resolved.options, progress=True)
    options = result.options or resolved.options
    summary = {
        "status": result.status,
        "run": str(result.run.path),
        "model": str(result.checkpoint.path),
        "log": str(result.run.log_file),
        "events": str(result.run.events_file),
        "store": options.store.db_path,
        "options": str(result.run.options_file),
        "env_steps": result.env_steps,
        "seconds": round(result.seconds, 2),
        "eval": result.evaluation.to_dict() if result.evaluation else None,
        "model_id": result.model_id,
        "validation": result.validation.to_dict() if result.validation else None,
    }
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        typer.echo(f"run:     {summary['run']}  ({result.status}, {result.env_steps} env steps, {result.seconds:.1f} s)")
        registered = ""
        if result.model_id is not None:
            registered = f"  (registry id {result.model_id}, " + ("validated)" if result.validation and
                                                                 result.validation.validated else "not validated)")
        typer.echo(f"model:   {summary['model']}{registered}")
        typer.echo(f"log:     {summary['log']}")
        typer.echo(f"events:  {summary['events']}  (rlops log validate, rlops plot)")
        again = same_store(resolved, config)  # printed commands find this run's store as printed
        typer.echo(f"store:   {summary['store']}  (rlops runs show {result.run.name}{again}, "
                   f"rlops registry list{again})")
        if result.evaluation:
            ev = result.evaluation
            typer.echo(f"eval:    mean reward {ev.mean_reward:.2f} +/- {ev.std_reward:.2f} over {ev.episodes} episodes")
        typer.echo(f"next:    rlops eval {summary['run']}{again}")
    return 0 if result.status == "finished" else 1


def _load(ctx: typer.Context, config: Path | None,
          for_eval: bool = False) -> tuple[ResolvedOptions, LoadedPolicy, dict[str, Any] | None]:
    """The policy to run, by path or from the registry, with its registry row when it has one."""
    from rlops.pipeline.loading import load_policy, open_checkpoint
    from rlops.services.registry_ops import open_registry, resolve_model

    positionals, args = split_positionals(ctx.args)
    if len(positionals) > 1:
        raise UsageError(f"more than one model given: {', '.join(positionals)}", hint="give one run or checkpoint path")
    if positionals:
        args += ["--infer.model-path", _model_path(positionals[0], config, args)]
    resolved = resolve_options(config=config, args=args)
    options = resolved.options
    infer = options.infer
    if infer.model_id is not None or infer.load_best or infer.status is not None:
        registry = open_registry(options)
        try:
            # Evaluating is how a model gets validated, so eval takes unvalidated models.
            row, checkpoint = resolve_model(registry, infer.model_id, infer.load_best, infer.env_id, infer.status,
                                            allow_unvalidated=infer.allow_unvalidated or for_eval)
        finally:
            registry.close()
        typer.echo(_which_model(row, infer), err=True)
        return resolved, load_policy(checkpoint, device=infer.device), row
    if infer.model_path is None:
        raise UsageError("no model given", hint="rlops eval PATH (a run or checkpoint directory), --model-id ID, "
                                                "--load-best or --status production")
    checkpoint = open_checkpoint(infer.model_path)
    row = None
    if options.registry.enable and Path(options.store.db_path).is_file():
        registry = open_registry(options)
        try:
            row = registry.by_path(Path(checkpoint.path).resolve())
        finally:
            registry.close()
    return resolved, load_policy(checkpoint, device=infer.device), row


def _which_model(row: dict[str, Any], infer: Any) -> str:
    """One line naming the registry model a command is about to run, and why that one."""
    reward = "unevaluated" if row["mean_reward"] is None else (
        f"mean reward {row['mean_reward']:.2f} +/- {row['std_reward'] or 0.0:.2f}")
    why = ("--model-id" if infer.model_id is not None else
           f"the {infer.status} model" if infer.status is not None else row.get("picked", "--load-best"))
    where = (f"{row['fetched_from']} (fetched, every hash verified: {row['model_path']})" if row.get("fetched_from")
             else row["model_path"])
    return f"model {row['id']}: {row['algorithm']} on {row['env_id']}, {reward}, {where} ({why})"


def _model_path(given: str, config: Path | None, args: list[str]) -> str:
    """A checkpoint or run directory as given; otherwise the directory of the run it names."""
    if Path(given).exists() or "/" in given:  # a path: the checkpoint reader says what is wrong with it
        return given
    from rlops.services.run_ref import resolve_run

    options = resolve_options(config=config, args=args).options
    return str(resolve_run(given, options.store.db_path, options.store.model_dir).require_dir())


def evaluate(ctx: typer.Context, config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Evaluate a model over eval.episodes episodes: rlops eval PATH | --model-id ID | --load-best | --status S.

    PATH is a run directory (its newest intact checkpoint) or a checkpoint directory. A registered
    model gets the score written onto its registry row, and the validation rules applied; it is held
    meanwhile, so no janitor deletes it. Exit 1 if its row went anyway (the score is still printed)."""
    from rlops.services.scoring import score

    resolved, loaded, row = _load(ctx, config, for_eval=True)
    try:
        scored = score(resolved.options, loaded, row)
    finally:
        loaded.close()
    result, validation = scored.result, scored.validation
    summary = result.to_dict()
    if scored.model_id is not None:
        summary.update(model_id=scored.model_id, validation=validation.to_dict() if validation else None)
    if scored.unrecorded:
        summary.update(recorded=False, unrecorded=scored.unrecorded, kept_in=scored.kept_in)
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        typer.echo(f"{result.checkpoint}: mean reward {result.mean_reward:.2f} +/- {result.std_reward:.2f}, "
                   f"mean length {result.mean_length:.1f} over {result.episodes} episodes")
        if validation is not None:
            state = "validated" if validation.validated else "not validated: " + "; ".join(validation.failed)
            typer.echo(f"model {scored.model_id}: {state}")
    if scored.unrecorded:
        typer.echo(f"warning: {scored.unrecorded}", err=True)
        return 1
    return 0


def infer(ctx: typer.Context, config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Run a model episode by episode: rlops infer PATH | --model-id ID | --load-best [--env ID] | --status S.

    Registry models must be validated (--allow-unvalidated to override) and intact."""
    from rlops.pipeline.infer import run_episodes

    resolved, loaded, _ = _load(ctx, config)
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


train.__doc__ = f"{train.__doc__}\n\n{options_help(MOST_USED)}"
