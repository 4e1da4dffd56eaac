"""The dashboard in a real browser: Debian's chromium, driven by Playwright, against `rlops ui` as
a real process supervising real runs. Nothing is mocked: a run is started from the page's form,
trains while its chart grows and is stopped from the page; a recorded episode is replayed; a
video discovered by the orchestrator plays; a model is promoted from the checkpoint browser.

Screenshots of each page are written to $RLOPS_SCREENSHOTS when it names a directory (the ones in
docs/screenshots/ come from here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.api.test_ui import free_port
from tests.helpers import tiny_args
from tests.ui.pages import checked_page

CHROMIUM = "/usr/bin/chromium"
PROGRAMS = Path(__file__).parent / "programs"



def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("RL_", "OTEL_"))}


def api(base: str, path: str, body: dict | None = None) -> dict | list:
    request = urllib.request.Request(base + path, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"},
                                     method="POST" if body is not None else "GET")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def wait_for(predicate, timeout: float, what: str):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """`rlops ui` over a runs directory holding a finished training run (``seeded``, with
    recorded evaluation episodes and a registered model) and a finished run that wrote a video."""
    home = tmp_path_factory.mktemp("dashboard")
    env = clean_env()
    subprocess.run([sys.executable, "-m", "rlops", "train", *tiny_args("ppo", steps=512), "--store.run-name",
                    "seeded", "--eval.frame-every", "5"], cwd=home, env=env, check=True, capture_output=True)
    with ui_server(home, "--orchestrator.stop-grace-s", "3", "--orchestrator.poll-interval", "0.2") as base:
        subprocess.run([sys.executable, "-m", "rlops", "runs", "start", "--runner", "command", "--name", "video",
                        "--", sys.executable, str(PROGRAMS / "video_episode.py")], cwd=home, env=env, check=True,
                       capture_output=True)
        wait_for(lambda: any(a["kind"] == "video" for a in api(base, "/api/runs/video")["artifacts"]), 90,
                 "the video run's video to be discovered")
        yield base, home


@contextmanager
def ui_server(home: Path, *args: str) -> Iterator[str]:
    """`rlops ui` on a free port in ``home``, once it answers (a 401 counts); its base URL."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "rlops", "ui", "--ui.port", str(port), *args], cwd=home,
                              env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(base, server), 60, "rlops ui to answer")
        yield base
    finally:
        _stop_live_runs(base)
        server.terminate()
        server.wait(20)
        server.stderr.close()


def _stop_live_runs(base: str) -> None:
    """A run's worker outlives its daemon by design (a restarted daemon finds it again), so a test that
    fails before it stops its run would leave a 5M-step trainer behind: stop every live run first."""
    try:
        live = [run["run_id"] for run in api(base, "/api/runs") if run["status"] in ("queued", "running")]
        for run_id in live:
            api(base, f"/api/runs/{run_id}/stop", {})
        wait_for(lambda: all(api(base, f"/api/runs/{run_id}")["status"] not in ("queued", "running")
                             for run_id in live), 60, "the live runs to stop")
    except (OSError, AssertionError):
        pass  # the server is gone or a run would not end: the test's own failure says more


def _answers(base: str, server: subprocess.Popen) -> bool:
    assert server.poll() is None, server.stderr.read().decode()
    try:
        urllib.request.urlopen(base + "/api/health", timeout=5).close()
    except urllib.error.HTTPError as refused:
        refused.close()
        return True  # 401: up, and guarded
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():  # a real browser or no test: never one Playwright downloads
        raise RuntimeError("chromium is not installed: apt-get install chromium (.ci/run does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, dashboard):
    """A fresh page; a script error on it fails the test."""
    with checked_page(browser, 1440) as opened:
        yield opened


def shoot(page: Page, name: str) -> None:
    target = os.environ.get("RLOPS_SCREENSHOTS")
    if target:
        page.evaluate("() => document.querySelectorAll('[data-testid=\"toast\"]').forEach((t) => t.remove())")
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=False)


def points(page: Page, chart: str) -> int:
    value = page.locator(f'[data-testid="chart-{chart}"]').get_attribute("data-points")
    return int(value or 0)


def test_a_run_started_from_the_form_trains_live_and_is_stopped_from_the_page(page, dashboard):
    base, home = dashboard
    page.goto(base + "/#/new")
    form = page.locator('form[data-testid="start-form"]')
    expect(form).to_be_visible()
    form.locator('[name="train.total_timesteps"]').fill("5000000")
    form.locator('[name="env.n_envs"]').fill("2")
    form.locator('[name="agent.hyperparams"]').fill('{"n_steps": 64}')
    every = form.locator('[name="metrics.every_steps"]')  # statistics (SPS) each rollout, not each 2,048 steps
    every.evaluate("(el) => { el.closest('details').open = true; }")  # a folded section
    every.fill("128")
    form.locator('[name="agent.net_arch"]').fill("[16]")  # the architecture of the model it starts from
    form.locator('[name="run_name"]').fill("live")
    seeded = api(base, "/api/models")[0]
    form.locator('[data-testid="mode-warm"]').check()
    form.locator('select[name="train.init_from"]').select_option(str(seeded["id"]))
    shoot(page, "start-run")
    page.locator('button[data-testid="start-submit"]').click()
    page.wait_for_url("**/#/runs/live", timeout=60_000)
    expect(page.locator('[data-testid="run-status"]')).to_have_text("running", timeout=60_000)
    # The reward chart grows as records arrive, without reloading the page.
    page.wait_for_function("() => +document.querySelector('[data-testid=\"chart-reward\"]')"
                           "?.getAttribute('data-points') > 0", timeout=60_000)
    first = points(page, "reward")
    page.wait_for_function(f"() => +document.querySelector('[data-testid=\"chart-reward\"]')"
                           f".getAttribute('data-points') > {first}", timeout=60_000)
    # SPS comes with the first metrics record, at the end of the first 128-step window (episodes end sooner)
    page.wait_for_function("() => +document.querySelector('[data-testid=\"chart-sps\"]')"
                           "?.getAttribute('data-points') > 0", timeout=60_000)
    # opened while queued, the header names the model it warm-started from once its meta record comes
    expect(page.locator('[data-testid="parent-model"]')).to_contain_text(f"model #{seeded['id']} (run seeded)")
    shoot(page, "run-live")
    page.locator('[data-testid="log-toggle"]').click()
    expect(page.locator('[data-testid="log-drawer"]')).to_be_visible()
    page.locator('button[data-testid="stop-button"]').click()
    expect(page.locator('[data-testid="run-status"]')).to_have_text("stopped", timeout=60_000)
    # The page shows the end record as it streams in; the row follows once the daemon settles the exit.
    run = wait_for(lambda: (row := api(base, "/api/runs/live"))["status"] != "running" and row, 60,
                   "the run's row to settle")
    assert run["status"] == "stopped" and run["runner"] == "rlops" and 0 < run["env_steps"] < 5_000_000
    assert run["config"]["train"]["init_from"] == str(seeded["id"])  # warm started from the chosen model
    children = [m for m in api(base, "/api/models") if m["run_id"] == "live"]
    assert all(m["parent_model_id"] == seeded["id"] for m in children)  # lineage


def test_bad_options_are_rejected_in_the_form_and_nothing_starts(page, dashboard):
    base, _ = dashboard
    before = {run["run_id"] for run in api(base, "/api/runs")}
    page.goto(base + "/#/new")
    steps = page.locator('[name="train.total_timesteps"]')
    steps.fill("0")
    expect(page.locator('[data-error-for="train.total_timesteps"]')).to_contain_text("greater than or equal to 1")
    page.locator('[name="agent.net_arch"]').fill("[64,")
    expect(page.locator('[data-error-for="agent.net_arch"]')).not_to_be_empty()
    shoot(page, "start-run-rejected")
    expect(page.locator('button[data-testid="start-submit"]')).to_be_disabled()  # until the options are fixed
    # A run that cannot start on this machine: the pre-flight's message reaches the form.
    steps.fill("1000")
    page.locator('[name="agent.net_arch"]').fill("[64, 64]")
    page.locator('[name="train.device"]').fill("cuda")
    expect(page.locator('[data-error-for="train.total_timesteps"]')).to_be_empty()
    expect(page.locator('[data-error-for="agent.net_arch"]')).to_be_empty()
    page.locator('button[data-testid="start-submit"]').click()
    expect(page.locator('[data-testid="form-error"]')).to_contain_text("GPU", timeout=60_000)
    assert {run["run_id"] for run in api(base, "/api/runs")} == before


def test_a_recorded_episode_replays_with_frames(page, dashboard):
    base, _ = dashboard
    page.goto(base + "/#/runs/seeded/replay")
    frame = page.locator('img[data-testid="replay-frame"]')
    page.wait_for_function("() => { const img = document.querySelector('img[data-testid=\"replay-frame\"]');"
                           " return img && img.complete && img.naturalWidth > 0; }")
    first_src = frame.get_attribute("src")
    scrub = page.locator('input[data-testid="replay-scrub"]')
    scrub.evaluate("(el) => { el.value = 12; el.dispatchEvent(new Event('input', {bubbles: true})); }")
    expect(page.locator('[data-testid="replay-step"]')).to_contain_text("12")
    expect(frame).not_to_have_attribute("src", first_src)  # the frame of step 10, not of step 0
    shoot(page, "replay")
    play = page.locator('button[data-testid="replay-play"]')
    play.click()
    expect(play).to_have_text("Pause")
    page.wait_for_function("() => +document.querySelector('input[data-testid=\"replay-scrub\"]').value > 14")
    play.click()
    expect(play).to_have_text("Play")


def test_a_discovered_video_plays(page, dashboard):
    base, _ = dashboard
    page.goto(base + "/#/runs/video")
    expect(page.locator('[data-testid="run-status"]')).to_have_text("finished")
    expect(page.locator('button[data-testid="tensorboard-button"]')).to_be_disabled()  # no event files
    page.locator('button[data-testid="play-video"]').first.click()
    page.wait_for_function("() => { const v = document.querySelector('video[data-testid=\"video-player\"]');"
                           " return v && v.readyState >= 2 && v.currentTime > 0.2 && !v.error; }", timeout=30_000)
    shoot(page, "run-video")


def test_a_model_is_promoted_and_deployed_from_the_checkpoint_browser(page, dashboard):
    base, _ = dashboard
    model = api(base, "/api/models")[0]
    page.goto(base + "/#/models")
    card = page.locator(f'[data-testid="model-card"][data-model-id="{model["id"]}"]')
    expect(card).to_be_visible()
    card.locator('select[data-testid="promote-to"]').select_option("staging")
    card.locator('[data-testid="promote"]').click()
    expect(card.locator('[data-testid="model-stage"]')).to_have_text("staging")
    card.locator('[data-testid="deploy"]').click()
    expect(card.locator('[data-testid="model-stage"]')).to_have_text("production")
    assert api(base, "/api/models")[0]["deployment_status"] == "production"
    shoot(page, "models")


def test_the_runs_table_filters_and_compares(page, dashboard):
    base, _ = dashboard
    page.goto(base + "/#/runs")
    table = page.locator('table[data-testid="runs-table"]')
    expect(table.locator("tr[data-run-id]")).not_to_have_count(0)
    expect(table.locator('tr[data-run-id="video"] [data-testid="status-badge"]')).to_have_text("finished")
    shoot(page, "runs")
    page.locator('input[data-testid="runs-filter"]').fill("seed")
    expect(table.locator("tr[data-run-id]:visible")).to_have_count(1)
    page.locator('input[data-testid="runs-filter"]').fill("")
    for run_id in ("seeded", "video"):
        table.locator(f'tr[data-run-id="{run_id}"] input[data-testid="compare-select"]').check()
    page.locator('[data-testid="compare-button"]').click()
    page.wait_for_url("**/#/compare?ids=*")
    expect(page.locator('[data-testid="compare-chart"]').first).to_be_visible()
    shoot(page, "compare")
    page.goto(base + "/#/retention")
    expect(page.locator('[data-testid="disk-use"]')).to_contain_text("B")
    shoot(page, "retention")


def test_the_page_works_behind_a_token(browser, tmp_path):
    """Beyond loopback a token is required: the page carries the one in its URL to every request,
    EventSource and video included; without it the API answers 401."""
    with ui_server(tmp_path, "--ui.token", "s3cret") as base:
        context = browser.new_context()
        opened = context.new_page()
        opened.goto(base + "/?token=s3cret#/runs")
        expect(opened.locator("text=No runs yet")).to_be_visible()
        context.close()
        with pytest.raises(urllib.error.HTTPError) as refused:
            api(base, "/api/runs")
        refused.value.close()
        assert refused.value.code == 401
