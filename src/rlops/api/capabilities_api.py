"""The capability matrix over HTTP, for the pages that hide what a runner does not support.

    GET /api/runners/capabilities   per runner: warm_start, offline_inference, needs_gpu,
                                    external_services, live_step_telemetry, and notes saying when
                                    each holds (what ``rlops runs runners`` prints)
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from rlops.orchestrator.runners import capability_matrix


def add_capabilities_routes(app: FastAPI) -> None:
    @app.get("/api/runners/capabilities")
    def capabilities() -> list[dict[str, Any]]:
        return capability_matrix()
