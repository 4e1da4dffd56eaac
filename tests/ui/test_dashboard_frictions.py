"""What got in a new user's way on the page (issue 19), in Debian's chromium against a real
`rlops ui`: Compare opens on the episode return and asks no run for a metric it does not have."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.helpers import tiny_args
from tests.ui.test_dashboard_browser import CHROMIUM, api, clean_env, ui_server, wait_for  # noqa: F401
from tests.ui.test_dashboard_browser import browser  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow  # a training and a dashboard: 118 s before the first test at load 12


@pytest.fixture(scope="module")
def two_algorithms(tmp_path_factory):
    """`rlops ui` over a PPO run and an A2C run (A2C has no train/loss)."""
    home = tmp_path_factory.mktemp("frictions")
    for algorithm, name in (("ppo", "p1"), ("a2c", "a1")):
        subprocess.run([sys.executable, "-m", "rlops", "train", *tiny_args(algorithm, steps=512), "--store.run-name",
                        name], cwd=home, env=clean_env(), check=True, capture_output=True)
    with ui_server(home) as base:
        yield base, home


def test_compare_opens_on_the_episode_return_and_asks_no_run_for_a_metric_it_lacks(browser, two_algorithms):  # noqa: F811
    base, _ = two_algorithms
    keys = {run: set(api(base, f"/api/runs/{run}/metrics")) for run in ("p1", "a1")}
    assert "train/loss" in keys["p1"] and "train/loss" not in keys["a1"]
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors, missing = [], []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 and "/api/" in r.url else None)
    page.goto(base + "/#/compare?ids=p1,a1")
    reward = page.locator('[data-testid="compare-chart"]')
    expect(reward.locator("h3")).to_have_text("episode return (mean of last 100)")
    wait_for(lambda: int(reward.get_attribute("data-points") or 0) > 0, 30, "the episode returns to be drawn")
    chosen = page.locator('[data-testid="compare-key"]').input_value()
    assert chosen in keys["p1"] & keys["a1"], chosen  # a key both runs have
    page.locator('[data-testid="compare-key"]').select_option("train/loss")  # PPO's only
    extra = page.locator('[data-testid="compare-chart-extra"]')
    wait_for(lambda: int(extra.get_attribute("data-points") or 0) > 0, 30, "PPO's train/loss to be drawn")
    if os.environ.get("RLOPS_SCREENSHOTS"):  # as in test_dashboard_browser: docs/screenshots/ come from here
        page.screenshot(path=str(Path(os.environ["RLOPS_SCREENSHOTS"]) / "compare.png"), full_page=False)
    context.close()
    assert not missing, missing
    assert not errors, errors


def test_text_in_a_number_field_is_an_error_and_start_is_disabled(browser, tmp_path):  # noqa: F811
    with ui_server(tmp_path) as base:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.goto(base + "/#/new")
        page.locator('[name="train.total_timesteps"]').fill("lots")  # a type=number input drops it silently
        expect(page.locator('[data-error-for="train.total_timesteps"]')).to_contain_text("not a number")
        expect(page.locator('button[data-testid="start-submit"]')).to_be_disabled()
        context.close()
