"""A run's files: ``GET /api/runs/{run_id}/files/{path}``, confined to the run's directory, with
Range requests (video seeking); nothing a run wrote may run as a page of this origin."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import FileResponse

from rlops.api.errors import error
from rlops.store.run_dir import LAUNCH_FILE, inside_run_dir
from rlops.store.runs import RunStore

PRIVATE_FILES = {LAUNCH_FILE}  # the launch snapshot holds the starter's whole environment (credentials)
INLINE_TYPES = ("video/", "image/", "text/", "application/json")
ACTIVE_TYPES = {"image/svg+xml", "text/html", "text/javascript", "text/xml", "application/xhtml+xml"}


def add_run_files_routes(app: FastAPI, store: Callable[[], Iterator[RunStore]]) -> None:
    @app.get("/api/runs/{run_id}/files/{path:path}")
    def run_file(run_id: str, path: str, db: RunStore = Depends(store)) -> Any:
        run_dir = db.get_run(run_id)["run_dir"]
        # The server has decoded the URL once; what is left is taken literally.
        target = inside_run_dir(Path(run_dir), path) if run_dir else None
        if target is None:
            return error(403, f"{path!r} is not a file name inside run {run_id}",
                         "give a path relative to the run directory, as the artifact manifest lists them")
        if target.name in PRIVATE_FILES and target.parent == Path(run_dir).resolve():
            return error(403, f"{path!r} holds the environment the run was launched with and is not served",
                         "the run's options are at GET /api/runs/{id} (config)")
        if not target.is_file():
            return error(404, f"run {run_id} has no file {path!r}", f"GET /api/runs/{run_id}/artifacts lists them")
        media_type, headers = served_as(target.name)
        return FileResponse(target, media_type=media_type, headers=headers)  # answers Range requests


def served_as(name: str) -> tuple[str, dict[str, str]]:
    """The media type and headers a run's file goes out with. A run writes what it likes: nothing it
    wrote may run as a page of this origin (where the API and the token are). Media and text show
    inline; anything else downloads."""
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    headers = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}
    if not media_type.startswith(INLINE_TYPES) or media_type in ACTIVE_TYPES:
        headers["Content-Disposition"] = "attachment"
        media_type = "application/octet-stream" if media_type in ACTIVE_TYPES else media_type
    return media_type, headers
