"""``GET /api/runners/capabilities``: the capability matrix for the pages that hide what a runner
does not support (the start form reads it)."""

from __future__ import annotations

from rlops.api.app import create_app
from rlops.orchestrator.runners import capability_matrix
from tests.api.http_helpers import serving


def test_the_api_serves_the_same_matrix():
    with serving(create_app("rlruns/rlops.db")) as client:
        served = client.get("/api/runners/capabilities")
        assert served.status_code == 200
        assert served.json() == capability_matrix()
        assert "/api/runners/capabilities" in client.get("/openapi.json").json()["paths"]
