"""One JSON error shape for every route: ``{"error": {"status", "message", "hint"}}``, plus
``fields`` (``[{"option", "message"}]``) where a form's options were refused.

rlops's own exceptions map by kind: a name or checkpoint nobody knows is 404; a run that cannot
start here, whose name is taken or that cannot be stopped now, or files registered already, is
409; bad input (a corrupt checkpoint included) is 422; the rest is 500.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from rlops.errors import (
    AlreadyRegisteredError,
    CheckpointCorruptError,
    CheckpointNotFoundError,
    OptionsRejected,
    PreflightError,
    RlopsError,
    RunDirectoryError,
    RunStateError,
    UnknownNameError,
)
from rlops.store.registry import ModelNotFoundError


def error(status: int, message: str, hint: str | None = None,
          fields: list[dict[str, str]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"status": status, "message": message, "hint": hint}
    if fields is not None:
        body["fields"] = fields
    return JSONResponse({"error": body}, status_code=status)


def status_of(exc: RlopsError) -> int:
    if isinstance(exc, UnknownNameError | ModelNotFoundError | CheckpointNotFoundError):
        return 404
    if isinstance(exc, CheckpointCorruptError):  # the file given cannot be used as it is
        return 422
    if isinstance(exc, PreflightError | RunStateError | RunDirectoryError | AlreadyRegisteredError):
        return 409
    return 422 if exc.exit_code == 2 else 500


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RlopsError)
    async def failed(_: Request, exc: RlopsError) -> JSONResponse:
        fields = exc.problems if isinstance(exc, OptionsRejected) else None
        return error(status_of(exc), exc.message, exc.hint, fields)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return error(422, f"{where}: {first.get('msg')}", "see /docs for the parameters")

    @app.exception_handler(Exception)
    async def crashed(_: Request, exc: Exception) -> JSONResponse:  # a bug or the disk: still one shape
        return error(500, f"{type(exc).__name__}: {exc}", "the server's log has the traceback")

    @app.exception_handler(HTTPException)
    async def http(_: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail), "see /docs for the routes" if exc.status_code == 404 else None)
