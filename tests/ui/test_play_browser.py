"""The play page in a real browser (Debian's chromium, Playwright) against `rlops ui` as a real
process: a person plays CartPole with the arrow keys, a registered model and a person share a
hybrid session, and closing the tab ends the session's process. The recorded steps are read back
through the API and the replay page."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.helpers import tiny_args
from tests.ui.test_dashboard_browser import CHROMIUM, api, clean_env, ui_server, wait_for

pytestmark = pytest.mark.slow
# A 256-step model validates only under rules this lenient.
LENIENT = ("--registry.min-reward", "0", "--registry.min-episodes", "1")


@pytest.fixture(scope="module")
def play_server(tmp_path_factory):
    """`rlops ui` over a runs directory with one registered, validated PPO model of CartPole."""
    home = tmp_path_factory.mktemp("play-ui")
    subprocess.run([sys.executable, "-m", "rlops", "train", *tiny_args("ppo", steps=256), "--store.run-name", "tiny", *LENIENT],
                   cwd=home, env=clean_env(), check=True, capture_output=True)
    with ui_server(home, "--orchestrator.poll-interval", "0.2", "--orchestrator.stop-grace-s", "3", *LENIENT) as base:
        yield base, home


@pytest.fixture
def page(play_server):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError("chromium is not installed: apt-get install chromium (.ci/run does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        opened = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        opened.on("pageerror", lambda exc: errors.append(str(exc)))
        yield opened
        browser.close()
        assert not errors, f"script errors on the page: {errors}"


def start_session(page, base: str, mode: str = "human", model: str | None = None) -> str:  # noqa: ANN001
    page.goto(base + "/#/play")
    expect(page.locator('[data-testid="play-keymap"]')).not_to_have_value("")  # the env list has loaded
    page.locator('[data-testid="play-mode"]').select_option(mode)
    if model is not None:
        page.locator('[data-testid="play-model"]').select_option(model)
    page.locator('[data-testid="play-start"]').click()
    page.wait_for_function("() => { const img = document.querySelector('img[data-testid=\"play-frame\"]');"
                           " return img && img.complete && img.naturalWidth === 600; }",
                           timeout=60_000)  # as patient as the relay: an agent session loads torch and its model first
    return page.locator('[data-testid="play-run-link"]').inner_text()


def wait_step(page, predicate: str, timeout: float = 20_000) -> None:  # noqa: ANN001
    page.wait_for_function("() => { const s = document.querySelector('[data-testid=\"play-status\"]');"
                           f" return s && s.dataset.step && ({predicate})(s); }}", timeout=timeout)


def steps_of(base: str, run_id: str) -> list[dict]:
    return [e for e in api(base, f"/api/runs/{run_id}/events?types=step&limit=100000") if e["type"] == "step"]


def ended(base: str, run_id: str) -> dict:
    return wait_for(lambda: (row := api(base, f"/api/runs/{run_id}")) and row["status"] in ("finished", "failed",
                                                                                            "stopped") and row,
                    30, f"session {run_id} to end")


def test_a_person_plays_cartpole_and_the_episode_replays(page, play_server):
    base, _ = play_server
    run_id = start_session(page, base)
    expect(page.locator('[data-testid="play-status"]')).to_contain_text("CartPole-v1")
    first = int(page.locator('[data-testid="play-status"]').get_attribute("data-step") or 0)
    page.keyboard.down("ArrowRight")
    wait_step(page, f"s => +s.dataset.step > {first + 4}")
    page.keyboard.up("ArrowRight")
    page.keyboard.down("ArrowLeft")
    time.sleep(0.3)
    page.keyboard.up("ArrowLeft")
    time.sleep(0.3)
    page.locator('[data-testid="play-stop"]').click()
    expect(page.locator('[data-testid="play-ended"]')).to_be_visible()
    row = ended(base, run_id)
    assert row["status"] == "finished" and row["runner"] == "play" and row["algorithm"] == "human"
    page.locator('[data-testid="play-save"]').click()  # save as dataset: the session's episodes, for offline RL
    expect(page.locator('[data-testid="play-saved"]')).to_contain_text("saved as dataset")
    name = page.locator('[data-testid="play-dataset-link"]').inner_text()
    assert api(base, f"/api/datasets/{name}")["source"]["run_id"] == run_id

    steps = wait_for(lambda: steps_of(base, run_id), 20, "the recorded steps")
    by_keys: dict[tuple, set] = {}
    for step in steps:
        by_keys.setdefault(tuple(step["keys"]), set()).add(step["action"])
    assert by_keys[("ArrowRight",)] == {1} and by_keys[("ArrowLeft",)] == {0}
    assert by_keys.get((), {0}) == {0}  # no key held: CartPole's documented default, push left
    assert {s["actor"] for s in steps} == {"human"}

    page.goto(base + "/#/runs")
    expect(page.locator(f'[data-run-id="{run_id}"]').first).to_be_visible(timeout=20_000)
    page.goto(base + f"/#/runs/{run_id}/replay")
    page.wait_for_function("() => { const img = document.querySelector('img[data-testid=\"replay-frame\"]');"
                           " return img && img.complete && img.naturalWidth > 0; }", timeout=20_000)
    expect(page.locator('[data-step-field="actor"]')).to_contain_text("human")


def test_a_hybrid_session_records_who_acted(page, play_server):
    base, _ = play_server
    model = next(m for m in api(base, "/api/models?validated=true") if m["env_id"] == "CartPole-v1")
    run_id = start_session(page, base, mode="hybrid", model=str(model["id"]))
    wait_step(page, "s => s.dataset.actor === 'agent'")
    page.keyboard.down("ArrowLeft")
    wait_step(page, "s => s.dataset.actor === 'human'")
    page.keyboard.up("ArrowLeft")
    wait_step(page, "s => s.dataset.actor === 'agent'")
    page.locator('[data-testid="play-stop"]').click()
    ended(base, run_id)
    steps = wait_for(lambda: steps_of(base, run_id), 20, "the recorded steps")
    human = [s for s in steps if s["actor"] == "human"]
    agent = [s for s in steps if s["actor"] == "agent"]
    assert human and agent
    assert all(s["keys"] == ["ArrowLeft"] and s["action"] == 0 for s in human)
    assert all(s["keys"] == [] for s in agent)


def test_an_incompatible_model_is_refused_with_a_switch_env_suggestion(page, play_server):
    base, _ = play_server
    model = next(m for m in api(base, "/api/models?validated=true") if m["env_id"] == "CartPole-v1")
    page.goto(base + "/#/play")
    expect(page.locator('[data-testid="play-keymap"]')).not_to_have_value("")
    page.locator('[data-testid="play-env"]').fill("Acrobot-v1")
    page.locator('[data-testid="play-env"]').dispatch_event("change")
    page.locator('[data-testid="play-mode"]').select_option("agent")
    page.locator('[data-testid="play-model"]').select_option(str(model["id"]))
    page.locator('[data-testid="play-start"]').click()
    expect(page.locator('[data-testid="play-refusal"]')).to_contain_text("trained on CartPole-v1")
    page.locator('[data-testid="play-switch-env"]').click()
    expect(page.locator('[data-testid="play-env"]')).to_have_value("CartPole-v1")


def test_closing_the_tab_ends_the_session_process(page, play_server):
    base, home = play_server
    run_id = start_session(page, base)
    run_dir = Path(api(base, f"/api/runs/{run_id}")["run_dir"])
    pid = json.loads((run_dir / "play.json").read_text())["pid"]
    os.kill(pid, 0)  # running
    page.close()
    row = ended(base, run_id)
    assert row["status"] == "finished"
    wait_for(lambda: not _alive(pid), 10, "the session's process to exit")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}/stat").exists() else "X"
    return state not in ("Z", "X")
