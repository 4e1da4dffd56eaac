"""A custom runtime's optional per-step fields (belief, intention, confidence): printed in its step
records under the command runner, carried through ingest into the replay API, absent where a step
has none, and shown on the replay page (Debian's chromium) when present."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rlops.api.app import create_app
from tests.api.http_helpers import serving
from tests.orchestrator.test_supervisor import service, settle
from tests.ui.test_dashboard_browser import CHROMIUM, ui_server

# A runtime's own loop: two steps with its view of them, the last without, then the episode.
PROGRAM = """
import json
def emit(kind, **fields): print(json.dumps({"v": 1, "type": kind, **fields}), flush=True)
emit("meta", config={"env": {"env_id": "FrozenLake-v1"}, "agent": {"algorithm": "bdi"}})
emit("step", episode=0, step=0, action=2, reward=0.0, belief={"state": 0, "goal": 15}, intention="go right",
     confidence=0.75)
emit("step", episode=0, step=1, action=1, reward=0.0, belief={"state": 1, "goal": 15}, intention="go down",
     confidence=0.5)
emit("step", episode=0, step=2, action=1, reward=1.0, terminated=True)
emit("episode", episode=0, length=3, env_steps=3, **{"return": 1.0})
"""


@pytest.fixture
def runtime_run() -> str:
    svc = service()
    try:
        run = settle(svc, svc.start("command", [sys.executable, "-c", PROGRAM], name="bdi"))
    finally:
        svc.close()
    assert run["status"] == "finished" and run["bad_lines"] == 0
    return run["run_id"]


def test_a_runtimes_belief_intention_and_confidence_reach_the_replay(runtime_run):
    with serving(create_app("rlruns/rlops.db")) as client:
        steps = client.get(f"/api/runs/{runtime_run}/replays/0").json()["steps"]
    assert [(s["belief"], s["intention"], s["confidence"]) for s in steps] == [
        ({"state": 0, "goal": 15}, "go right", 0.75), ({"state": 1, "goal": 15}, "go down", 0.5), (None, None, None)]
    assert [s["action"] for s in steps] == [2, 1, 1] and steps[-1]["terminated"] is True


@pytest.mark.slow  # a dashboard process and a browser
def test_the_replay_page_shows_them_where_a_step_has_them(runtime_run):
    from playwright.sync_api import expect, sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError("chromium is not installed: apt-get install chromium (.ci/run does)")
    with ui_server(Path.cwd()) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            page.goto(base + f"/#/runs/{runtime_run}/replay")
            expect(page.locator('[data-step-field="intention"]')).to_contain_text("go right", timeout=20_000)
            expect(page.locator('[data-step-field="belief"]')).to_contain_text('"goal":15')
            expect(page.locator('[data-step-field="confidence"]')).to_contain_text("0.75")
            page.keyboard.press("End")  # the last step has no view of its own: no rows for it
            expect(page.locator('[data-step-field="intention"]')).to_have_count(0)
            expect(page.locator('[data-testid="replay-detail"]')).to_contain_text("true")  # terminated: it moved
        finally:
            browser.close()
