"""The capability matrix: per runner, warm start, offline inference, needs GPU, external services
and live per-step telemetry, printed by ``rlops runs runners``
(the API's route: tests/api/test_capabilities_route.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rlops.orchestrator.runners import RUNNERS
from rlops.orchestrator.supports import FIELDS, Supports


def test_runs_runners_prints_every_runners_row_as_json_and_as_a_table():
    rows = json.loads(subprocess.run([sys.executable, "-m", "rlops", "runs", "runners", "--json"], check=True,
                                     capture_output=True, text=True).stdout)
    by_name = {row["name"]: row for row in rows}
    assert set(by_name) == set(RUNNERS)
    for row in rows:
        assert isinstance(row["external_services"], list) and row["description"]
        assert all(isinstance(row[name], bool) for name in FIELDS if name != "external_services"), row
        assert set(row["notes"]) <= set(FIELDS)
        assert row["warm_start"] is RUNNERS[row["name"]].warm_start  # one answer, wherever it is asked
    assert by_name["rlops"]["warm_start"] and not by_name["play"]["warm_start"]
    assert by_name["rlops"]["offline_inference"] and by_name["offline"]["offline_inference"]
    assert not by_name["play"]["offline_inference"] and not by_name["cleanrl"]["offline_inference"]
    assert by_name["play"]["live_step_telemetry"] and not by_name["rlops"]["live_step_telemetry"]
    assert "mlflow" in by_name["rlops"]["external_services"] and by_name["play"]["external_services"] == []
    assert not any(row["needs_gpu"] for row in rows) and "cuda" in by_name["rlops"]["notes"]["needs_gpu"]

    table = subprocess.run([sys.executable, "-m", "rlops", "runs", "runners"], check=True, capture_output=True,
                           text=True).stdout.splitlines()
    assert table[0].split() == ["runner", "warm", "start", "offline", "inference", "needs", "GPU", "external",
                                "services", "live", "steps"]
    play = next(line for line in table if line.startswith("play "))
    assert play.split() == ["play", "no", "no", "no", "none", "yes"]


def test_a_note_on_a_field_that_does_not_exist_is_refused():
    with pytest.raises(ValueError, match="warmstart"):
        Supports(warm_start=False, offline_inference=False, needs_gpu=False, external_services=(),
                 live_step_telemetry=False, notes={"warmstart": "typo"})
