"""``rlops registry``: the model registry from the terminal, each command a call into the library.

The library (which loads checkpoints, so SB3 and torch) is imported inside each command: the
registry's ``--help`` and a usage error answer at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from rlops.cli.shared import CONFIG, JSON, PASS_OPTIONS, resolve
from rlops.store.registry import STATUSES

if TYPE_CHECKING:
    from rlops.store.registry import Registry

app = typer.Typer(help="The model registry: list, show, add, import, validate, promote, verify, prune.",
                  no_args_is_help=True)


def _open(ctx: typer.Context, config: Path | None) -> tuple[Registry, Any]:
    from rlops.services.registry_ops import open_registry

    options = resolve(ctx, config).options
    return open_registry(options), options


def _print(data: Any, as_json: bool, text: str) -> None:
    typer.echo(json.dumps(data) if as_json else text)


@app.command("list", context_settings=PASS_OPTIONS)
def list_models(ctx: typer.Context, validated: bool = typer.Option(False, "--validated", help="only validated models"),
                top_n: int | None = typer.Option(None, "--top-n", min=1, help="the N best by mean eval reward"),
                env: str | None = typer.Option(None, "--env", help="only this env id"),
                algo: str | None = typer.Option(None, "--algo", help="only this algorithm"),
                status: str | None = typer.Option(None, "--status", help=f"only this status: {', '.join(STATUSES)}"),
                config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Registered models, newest first (or best first with --top-n)."""
    from rich.console import Console
    from rich.table import Table

    registry, _ = _open(ctx, config)
    try:
        models = registry.list(validated=True if validated else None, top_n=top_n, env_id=env,
                               algorithm=algo.lower() if algo else None, status=status)
    finally:
        registry.close()
    if as_json:
        typer.echo(json.dumps(models))
        return 0
    if not models:
        typer.echo("no models match: train a run, or rlops registry import PATH", err=True)
        return 0
    table = Table(box=None, header_style="bold")
    for column in ("id", "env", "algo", "steps", "mean reward", "std", "episodes", "validated", "status", "run", "path"):
        table.add_column(column, no_wrap=column in ("path", "run"))
    for m in models:
        table.add_row(str(m["id"]), m["env_id"], m["algorithm"], f"{m['total_timesteps'] or 0:,}",
                      _number(m["mean_reward"]), _number(m["std_reward"]), str(m["eval_episodes"] or "-"),
                      "yes" if m["validated"] else "no", m["deployment_status"], m["run_id"] or "-", m["model_path"])
    console = Console()
    (console if console.is_terminal else Console(width=300)).print(table)
    return 0


@app.command("show", context_settings=PASS_OPTIONS)
def show(ctx: typer.Context, model_id: int = typer.Argument(..., help="model id"), config: Path | None = CONFIG,
         as_json: bool = JSON) -> int:
    """One model: metrics, validation rule by rule, lineage, hash, status."""
    registry, _ = _open(ctx, config)
    try:
        model = registry.get(model_id)
        lineage = _lineage(registry, model)
    finally:
        registry.close()
    model["lineage"] = lineage
    if as_json:
        typer.echo(json.dumps(model))
        return 0
    for key in ("id", "env_id", "algorithm", "total_timesteps", "mean_reward", "std_reward", "mean_episode_length",
                "eval_episodes", "validated", "deployment_status", "run_id", "model_path", "sha256", "git_commit"):
        typer.echo(f"{key + ':':<21}{model[key]}")
    typer.echo(f"{'lineage:':<21}{' <- '.join(str(i) for i in lineage)}")
    for rule in model["validation"] or []:
        typer.echo(f"  {_verdict(rule)}  {rule['message']}")
    return 0


def _lineage(registry: Registry, model: dict[str, Any]) -> list[int]:
    chain, seen = [model["id"]], {model["id"]}
    parent = model["parent_model_id"]
    while parent is not None and parent not in seen:
        chain.append(parent)
        seen.add(parent)
        parent = registry.get(parent)["parent_model_id"]
    return chain


@app.command("add", context_settings=PASS_OPTIONS)
def add(ctx: typer.Context, path: Path = typer.Argument(..., help="a checkpoint or run directory"),
        env: str | None = typer.Option(None, "--env", help="env id (checked against the checkpoint)"),
        algo: str | None = typer.Option(None, "--algo", help="algorithm (checked against the checkpoint)"),
        metrics: Path | None = typer.Argument(None, help="optional: a JSON evaluation (like eval.json) to record "
                                                         "and validate"),
        config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Register a checkpoint where it lies (with METRICS, its evaluation too, validated)."""
    from rlops.services.registry_ops import add_model, record_metrics, rules_from

    registry, options = _open(ctx, config)
    try:
        model_id = add_model(registry, path, env, algo)
        validation = record_metrics(registry, model_id, metrics, rules_from(options.registry)) if metrics else None
    finally:
        registry.close()
    if validation is not None:
        state = "validated" if validation.validated else "not validated: " + "; ".join(validation.failed)
        _print({"id": model_id, "validation": validation.to_dict()}, as_json, f"registered model {model_id}: {state}")
        return 0
    _print({"id": model_id}, as_json, f"registered model {model_id}")
    return 0


@app.command("import", context_settings=PASS_OPTIONS)
def import_(ctx: typer.Context, path: Path = typer.Argument(..., help="a checkpoint or run directory"),
            config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Copy a checkpoint into managed storage (<store.model_dir>/registry), verify and register it."""
    from rlops.services.registry_ops import import_checkpoint

    registry, options = _open(ctx, config)
    try:
        model_id = import_checkpoint(registry, path, Path(options.store.model_dir) / "registry")
        model = registry.get(model_id)
    finally:
        registry.close()
    _print(model, as_json, f"imported model {model_id}: {model['model_path']} (sha256 {model['sha256'][:16]}...)")
    return 0


@app.command("validate", context_settings=PASS_OPTIONS)
def validate(ctx: typer.Context, model_id: int = typer.Argument(..., help="model id"), config: Path | None = CONFIG,
             as_json: bool = JSON) -> int:
    """Apply the validation rules (registry.min_reward, min_episodes, max_std_ratio); exit 1 when one fails."""
    from rlops.services.registry_ops import rules_from
    from rlops.services.registry_ops import validate as validate_model

    registry, options = _open(ctx, config)
    try:
        outcome = validate_model(registry, model_id, rules_from(options.registry))
    finally:
        registry.close()
    if as_json:
        typer.echo(json.dumps(outcome.to_dict()))
    else:
        typer.echo(f"model {model_id}: {'validated' if outcome.validated else 'NOT validated'}")
        for rule in outcome.rules:
            typer.echo(f"  {_verdict(rule)}  {rule['message']}")
    return 0 if outcome.validated else 1


@app.command("promote", context_settings=PASS_OPTIONS)
def promote(ctx: typer.Context, model_id: int = typer.Argument(..., help="model id"),
            to: str = typer.Option(..., "--to", help="staging | production | archived | none"),
            config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Set a model's deployment status; one production model per env (the previous one is archived)."""
    registry, _ = _open(ctx, config)
    try:
        archived = registry.promote(model_id, to)
    finally:
        registry.close()
    text = f"model {model_id} is now {to}" + (f"; archived {', '.join(map(str, archived))}" if archived else "")
    _print({"id": model_id, "status": to, "archived": archived}, as_json, text)
    return 0


@app.command("path", context_settings=PASS_OPTIONS)
def path(ctx: typer.Context, model_id: int = typer.Argument(..., help="model id"), config: Path | None = CONFIG) -> int:
    """Print the model's checkpoint directory."""
    registry, _ = _open(ctx, config)
    try:
        typer.echo(registry.get(model_id)["model_path"])
    finally:
        registry.close()
    return 0


@app.command("verify", context_settings=PASS_OPTIONS)
def verify(ctx: typer.Context, config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Recompute every file's hash (rlops registry verify [ID], default all; a model on S3 is fetched
    from the store first); report mismatches and missing files (exit 1 when any, or when a store did not answer)."""
    from rlops.errors import UsageError
    from rlops.options import resolve_options
    from rlops.options.sources import split_positionals
    from rlops.services.model_fetch import is_remote
    from rlops.services.registry_ops import open_registry
    from rlops.services.registry_ops import verify as verify_models

    # The model id is told from --section.key flags by the option table (a typer argument would take
    # --store.db-path's value for the id).
    positionals, flags = split_positionals(ctx.args)
    if len(positionals) > 1 or (positionals and not positionals[0].isdigit()):
        raise UsageError(f"unexpected arguments: {' '.join(positionals)}",
                         hint="give one model id (rlops registry list), or none to verify them all")
    registry = open_registry(resolve_options(config=config, args=flags).options)
    try:
        results = verify_models(registry, [int(positionals[0])] if positionals else None, fetch_remote=True)
    finally:
        registry.close()
    if as_json:
        typer.echo(json.dumps([r.__dict__ for r in results]))
    else:
        for r in results:
            fetched = " (fetched from the store, every hash verified)" if is_remote(r.__dict__) else ""
            verdict = ("ok" + fetched if r.ok else ("NOT CHECKED: " if not r.checked else "DAMAGED: ")
                       + "; ".join(r.problems))
            typer.echo(f"model {r.model_id}: {verdict}")
    return 0 if all(r.ok for r in results) else 1


@app.command("prune", context_settings=PASS_OPTIONS)
def prune(ctx: typer.Context,
          keep_top_n: int | None = typer.Option(None, "--keep-top-n", min=1, help="keep the N best per env and algo"),
          max_age_days: float | None = typer.Option(None, "--max-age-days", min=0, help="remove models older than this"),
          apply: bool = typer.Option(False, "--apply", help="remove them (default: a dry run that lists them)"),
          config: Path | None = CONFIG, as_json: bool = JSON) -> int:
    """Retention: list (or with --apply remove, files and rows) what keep-top-n / max-age would drop."""
    from rlops.services.registry_ops import apply_prune, plan_prune
    from rlops.store.runs import RunStore

    registry, options = _open(ctx, config)
    store = RunStore(options.store.db_path)
    try:
        plan = plan_prune(registry, store,
                          keep_top_n if keep_top_n is not None else options.registry.keep_top_n,
                          max_age_days if max_age_days is not None else options.registry.max_age_days)
        if apply:
            apply_prune(registry, plan)
    finally:
        store.close()
        registry.close()
    if as_json:
        typer.echo(json.dumps(plan.to_dict()))
        return 0
    verb = "removed" if apply else "would remove"
    for m in plan.to_dict()["remove"]:
        typer.echo(f"{verb} model {m['id']} ({m['env_id']}/{m['algorithm']}, reward {_number(m['mean_reward'])}): "
                   f"{m['why']}; {m['model_path']}")
    for model_id, why in plan.kept_because.items():
        typer.echo(f"kept model {model_id}: {why}")
    if not plan.remove:
        typer.echo("nothing to prune", err=True)
    elif not apply:
        typer.echo("dry run: add --apply to remove them", err=True)
    return 0


def _verdict(rule: dict[str, Any]) -> str:
    """pass / FAIL, or note for a rule with nothing to check (no reward threshold anywhere)."""
    if rule["passed"] and rule.get("threshold") is None and rule["rule"] == "min_reward":
        return "note"
    return "pass" if rule["passed"] else "FAIL"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
