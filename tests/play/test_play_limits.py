"""Concurrent play sessions are limited (each holds an env, a process and perhaps a model): the
session past the limit is refused with how many are open and what to do, and a slot comes back
when a session ends."""

from __future__ import annotations

import json
import threading
import urllib.error

import pytest

from rlops.api.play_api import MAX_SESSIONS
from tests.play.test_play_api import run_row, server, start  # noqa: F401 - the module's own rlops ui
from tests.ui.test_dashboard_browser import api


@pytest.mark.slow  # a dashboard and five session processes: ~17 s here
def test_the_session_past_the_limit_is_refused_and_a_slot_comes_back_when_one_ends(server):  # noqa: F811
    base, _ = server
    open_ids = [start(base, env_id="FrozenLake-v1", mode="human") for _ in range(MAX_SESSIONS)]
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            start(base, env_id="FrozenLake-v1", mode="human")
        body = json.loads(refused.value.read())["error"]
        assert refused.value.code == 409
        assert f"{MAX_SESSIONS} play sessions are open (at most {MAX_SESSIONS})" in body["message"]
        assert "close another play tab" in body["hint"]
        running = [r for r in api(base, "/api/runs") if r["runner"] == "play" and r["status"] in ("queued", "running")]
        assert len(running) == MAX_SESSIONS  # the refused one left no run behind

        api(base, f"/api/runs/{open_ids[0]}/stop", {})
        run_row(base, open_ids[0], ("stopped", "finished"))
        open_ids[0] = start(base, env_id="FrozenLake-v1", mode="human")
    finally:
        for run_id in open_ids:
            api(base, f"/api/runs/{run_id}/stop", {})
        for run_id in open_ids:
            run_row(base, run_id, ("stopped", "finished"))


@pytest.mark.slow  # a dashboard and six session starts at once
def test_a_burst_of_starts_opens_no_more_than_the_limit(server):  # noqa: F811
    base, _ = server
    outcomes: list = []

    def start_one() -> None:
        try:
            outcomes.append(start(base, env_id="FrozenLake-v1", mode="human"))
        except urllib.error.HTTPError as refused:
            outcomes.append(refused.code)

    threads = [threading.Thread(target=start_one) for _ in range(MAX_SESSIONS + 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    started = [o for o in outcomes if isinstance(o, str)]
    try:
        assert len(started) == MAX_SESSIONS and sorted(o for o in outcomes if isinstance(o, int)) == [409, 409]
    finally:
        for run_id in started:
            api(base, f"/api/runs/{run_id}/stop", {})
        for run_id in started:
            run_row(base, run_id, ("stopped", "finished"))
