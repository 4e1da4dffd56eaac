"""Starting and stopping runs, and the runners there are to start.

    POST /api/runs  {"runner": "rlops", "options": {"train.total_timesteps": 5000, ...}, "name": ...}
    POST /api/runs/{run_id}/stop
    GET  /api/runners                                  the catalog, with capabilities

Only a server given the orchestrator's options starts runs (others answer 405). Only our own
trainer is started from a request: a ``command`` or ``cleanrl`` run executes a program of the
caller's choosing, which takes the CLI (a person at the machine). Where it executes (the backend
and its Ray options, ``rlops.api.placement``) goes to the service that queues it, not to the
trainer.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from rlops.api import placement
from rlops.api.options_api import checked_options
from rlops.api.reach import Reach
from rlops.api.runs_api import summary
from rlops.errors import UnknownNameError, UsageError
from rlops.options.schema import Options
from rlops.orchestrator.runners import RUNNERS
from rlops.orchestrator.service import TrainerService

HTTP_RUNNER = "rlops"


class StartRequest(BaseModel):
    runner: str = HTTP_RUNNER
    options: dict[str, Any] = Field(default_factory=dict, description="dotted option: value, as in a TOML file")
    name: str | None = None


def add_run_control_routes(app: FastAPI, options: Options | None) -> None:
    reach = Reach.of(options)  # what a request's options may name: the server's [ui] allowlists

    def opened(where: dict[str, Any] | None = None) -> TrainerService:
        if options is None:
            raise HTTPException(405, "this server only reads runs")
        return TrainerService(placement.placed(options, where or {}))

    @app.post("/api/runs", status_code=201)
    def start(body: StartRequest) -> dict[str, Any]:
        if options is None:
            raise HTTPException(405, "this server only reads runs")
        run_options, where = placement.split(checked_options(body.options, reach))
        flags = option_flags(body.runner, run_options)
        service = opened(where)
        try:
            run_id = service.start(body.runner, flags, name=body.name)
            return summary(service.store.get_run(run_id))
        except UnknownNameError as exc:  # an unknown runner is bad input here, not a missing thing
            raise UsageError(exc.message, hint=exc.hint) from None
        finally:
            service.close()

    @app.post("/api/runs/{run_id}/stop")
    def stop(run_id: str) -> dict[str, Any]:
        service = opened()
        try:
            return {"run_id": run_id, "state": service.stop(run_id)}
        finally:
            service.close()

    @app.get("/api/runners")
    def runners() -> list[dict[str, Any]]:
        return [{"name": name, "description": runner.description, "http_start": name == HTTP_RUNNER,
                 "capabilities": {"warm_start": runner.warm_start, "emits": runner.emits},
                 "options": "/api/options" if name == HTTP_RUNNER else None}
                for name, runner in RUNNERS.items()]


def option_flags(runner: str, values: dict[str, Any]) -> list[str]:
    """A request's options as ``--section.key value`` flags, checked against the option schema by the
    runner."""
    if runner != HTTP_RUNNER:
        raise UsageError(f"runner {runner!r} cannot be started over HTTP",
                         hint="start it with rlops runs start --runner ... on the machine; the API starts rlops runs")
    flags = []
    for key, value in values.items():
        if not isinstance(key, str) or "." not in key:
            raise UsageError(f"option {key!r} is not section.key", hint="e.g. {\"train.total_timesteps\": 5000}")
        # One token per option: a value can never be read as a flag of its own.
        flags.append(f"--{key.replace('_', '-')}={value if isinstance(value, str) else json.dumps(value)}")
    return flags
