"""``rlops serve``: host a policy over HTTP, following the registry (hotswap)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from rlops.cli.shared import CONFIG
from rlops.errors import UsageError
from rlops.options import resolve_options
from rlops.options.sources import split_positionals
from rlops.pipeline.loading import open_checkpoint
from rlops.pipeline.qtable import is_qtable


def serve(ctx: typer.Context, config: Path | None = CONFIG) -> int:
    """Serve a policy: rlops serve [PATH | --model-id ID | --load-best [--env ID] | --status production].

    With no model named, the best validated model in the registry. POST /v1/act, GET /v1/model,
    GET /healthz, GET /docs (OpenAPI). Binds serve.host:serve.port (127.0.0.1:8700); serve.hotswap
    says which newer registry model to switch to while serving (best | production | off)."""
    from rlops.api.policy_server import initial_policy
    from rlops.api.policy_server import serve as run_server

    positionals, args = split_positionals(ctx.args)
    if len(positionals) > 1:
        raise UsageError(f"more than one model given: {', '.join(positionals)}", hint="give one run or checkpoint path")
    options = resolve_options(config=config, args=args).options
    checkpoint = None
    if positionals:  # a Q-table's directory serves as it is; anything else opens as an rlops checkpoint or run
        given = Path(positionals[0])
        checkpoint = given if is_qtable(given) else open_checkpoint(positionals[0])
    policy = initial_policy(options, checkpoint)
    described = policy.describe()

    def ready(url: str) -> None:
        typer.echo(f"serving model {described['model_id'] or described['model_path']} ({described['env_id']}, "
                   f"{described['algorithm']}) on {url}", err=False)
        sys.stdout.flush()

    run_server(options, policy, ready)
    return 0
