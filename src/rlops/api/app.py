"""The dashboard's server: the HTTP API (documented at ``/docs``) and the page that uses it.

One app over one database (runs and registry): the routes come in groups, one module each —
health, runs, a run's files, its record stream, starting and stopping runs, TensorBoard, options,
replay, logs, the live runs stream, registry, retention, play, datasets — and the page is static
files (``rlops/ui/static``: ES modules and a vendored chart library, no build step) that use only
the API. ``rlops ui`` wraps it in the request guard (Host, Origin, token).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles

from rlops import __version__
from rlops.api.capabilities_api import add_capabilities_routes
from rlops.api.datasets_api import add_datasets_routes
from rlops.api.errors import error, install_error_handlers
from rlops.api.health_api import add_health_routes
from rlops.api.live_api import add_live_routes
from rlops.api.logs_api import add_logs_routes
from rlops.api.options_api import add_options_routes
from rlops.api.per_request import per_request
from rlops.api.play_api import add_play_routes
from rlops.api.registry_api import add_registry_routes
from rlops.api.replay_api import add_replay_routes
from rlops.api.retention_api import add_retention_routes
from rlops.api.run_control_api import add_run_control_routes
from rlops.api.run_files_api import add_run_files_routes
from rlops.api.run_stream_api import add_run_stream_routes
from rlops.api.runs_api import add_runs_routes, summary
from rlops.api.tensorboard_api import add_tensorboard_routes
from rlops.options.schema import Options
from rlops.store.runs import RunStore

STATIC = Path(str(files("rlops.ui") / "static"))


def create_app(db_path: str | Path, options: Options | None = None) -> FastAPI:
    """The API over the database at ``db_path``; with ``options`` (the orchestrator's) it also
    starts and stops runs, and applies their registry, serving and retention settings."""
    app = FastAPI(title="rlops", version=__version__, description=__doc__)
    install_error_handlers(app)

    store = per_request(lambda: RunStore(db_path))
    add_health_routes(app, options, store)
    add_runs_routes(app, store)
    add_run_files_routes(app, store)
    add_run_stream_routes(app, db_path, store)
    add_run_control_routes(app, options)
    add_tensorboard_routes(app, store)
    add_live_routes(app, db_path, summary)
    add_replay_routes(app, store)
    add_logs_routes(app, db_path, store)
    add_options_routes(app, options)
    add_registry_routes(app, db_path, options)
    add_retention_routes(app, db_path, options)
    add_play_routes(app, db_path, options)
    add_datasets_routes(app, db_path, options)
    add_capabilities_routes(app)
    add_page(app)
    return app


def add_page(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    def page() -> Any:
        index = STATIC / "index.html"
        if not index.is_file():
            return error(404, "the dashboard page is not installed", "reinstall rlops; the API is at /docs")
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    if STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")
