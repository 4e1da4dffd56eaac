"""``rlops ui``: the dashboard (page and HTTP API) with the orchestrator, on 127.0.0.1 by default.

It supervises the runs directory in a thread (unless a daemon already does) and serves the page
and the API behind the request guard; binding beyond loopback needs a token, generated and
printed if none is given. ``/docs`` documents the API.
"""

from __future__ import annotations

import threading
from pathlib import Path

import typer
import uvicorn

from rlops.api.app import create_app
from rlops.api.guard import RequestGuard, token_for
from rlops.cli.shared import CONFIG, resolve
from rlops.orchestrator.daemon import supervise


def ui(ctx: typer.Context, config: Path | None = CONFIG) -> int:
    """Serve the dashboard and supervise runs: rlops ui [--ui.host H] [--ui.port P] [--ui.token T]."""
    options = resolve(ctx, config).options
    host, port = options.ui.host, options.ui.port
    token = token_for(host, options.ui.token)
    if token != options.ui.token:
        typer.echo(f"token (send 'Authorization: Bearer <token>'): {token}", err=True)
    stopping = threading.Event()
    supervisor = threading.Thread(target=supervise, args=(options, stopping), name="rlops-supervise", daemon=True)
    supervisor.start()
    app = RequestGuard(create_app(options.store.db_path, options), host, token)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    url = f"http://{host}:{port}/" + (f"?token={token}" if token else "")
    typer.echo(f"rlops ui: the dashboard is at {url} (API docs at /docs); Ctrl-C stops it, runs go on", err=True)
    try:
        server.run()
    finally:
        stopping.set()
        supervisor.join(10)
    return 0
