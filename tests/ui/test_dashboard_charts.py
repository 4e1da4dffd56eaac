"""The run page's charts and counters, the runs table's headline return, a run's name and its
parent model (issue 19, items 11, 14, 15 and 19), in Debian's chromium against a real `rlops ui`
over real runs: a tiny PPO run, a run warm-started from its model, and a `command` program whose
episodes end long before any metrics record.

Screenshots go to $RLOPS_SCREENSHOTS when it names a directory (docs/screenshots/run-charts.png).
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from rlops.options import resolve_options
from rlops.store.registry import Registry
from tests.helpers import tiny_args
from tests.ui.test_dashboard_browser import PROGRAMS, api, clean_env, shoot, ui_server, wait_for
from tests.ui.test_dashboard_browser import browser  # noqa: F401 - the fixture
from tests.ui.pages import checked_page

pytestmark = pytest.mark.slow  # two trainings and a dashboard: about a minute before the first test

EMA_WEIGHT = 0.9  # charts.js's
LOSSES = ("train/loss", "train/value_loss", "train/policy_gradient_loss", "train/entropy_loss")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """`rlops ui` over ``tiny`` (PPO, 512 steps, a registered model) and ``warm`` (started from
    that model with train.init_from)."""
    home = tmp_path_factory.mktemp("charts")
    env = clean_env()

    def train(name: str, *extra: str, steps: int) -> None:
        subprocess.run([sys.executable, "-m", "rlops", "train", *tiny_args("ppo", *extra, steps=steps),
                        "--store.run-name", name], cwd=home, env=env, check=True, capture_output=True)

    train("tiny", steps=512)
    registry = Registry(home / "rlruns" / "rlops.db")
    parent = next(row["id"] for row in registry.list() if row["run_id"] == "tiny")
    registry.close()
    train("warm", "--train.init-from", str(parent), steps=256)
    with ui_server(home, "--orchestrator.poll-interval", "0.2", "--orchestrator.stop-grace-s", "3") as base:
        yield base, home, parent


@pytest.fixture
def page(browser):  # noqa: F811
    with checked_page(browser, 1400, timeout_ms=30_000) as opened:
        yield opened


def legend(page: Page, chart: str) -> list[tuple[str, str]]:
    """(label, value) of each legend row of the chart, as shown now (no hover)."""
    return [tuple(row) for row in page.locator(chart).evaluate(
        "(box) => [...box.querySelectorAll('.u-legend .u-series')].map((tr) =>"
        " [tr.querySelector('.u-label')?.textContent ?? '', tr.querySelector('.u-value')?.textContent ?? ''])")]


def ema(values: list[float], weight: float = EMA_WEIGHT) -> list[float]:
    last, out = 0.0, []
    for n, value in enumerate(values, 1):
        last = last * weight + (1 - weight) * value
        out.append(last / (1 - weight ** n))
    return out


def in_range(drawn: str | None, values: list[float]) -> bool:
    """Whether data-y-range ("min,max" of the y scale drawn) holds every value."""
    if not drawn or drawn == "none":
        return False
    low, high = map(float, drawn.split(","))
    return low <= min(values) and max(values) <= high


def close(text: str, value: float) -> bool:
    return math.isclose(float(text), value, rel_tol=1e-3, abs_tol=1e-9)


def test_charts_have_titles_one_scale_each_last_values_and_ema_and_log_toggles(page, site):
    base, _, _ = site
    series = {key: api(base, f"/api/runs/tiny/metrics/{key}")["values"] for key in (*LOSSES, "reward_mean")}
    assert max(map(abs, series["train/value_loss"])) > 10 * max(map(abs, series["train/entropy_loss"]))
    page.goto(base + "/#/runs/tiny")
    charts = {key: f'[data-testid="chart-loss"][data-key="{key}"]' for key in LOSSES}
    for key, chart in charts.items():  # one small chart per loss, each on its own axis
        wait_for(lambda c=chart: int(page.locator(c).get_attribute("data-points") or 0) > 0, 30, f"{key} drawn")
    reward, per_step = '[data-testid="chart-reward"]', '[data-testid="chart-reward-step"]'
    wait_for(lambda: int(page.locator(per_step).get_attribute("data-points") or 0) > 0, 30, "reward_mean drawn")
    assert "reward_mean" not in [label for label, _ in legend(page, reward)]  # not on the returns' axis
    assert [label for label, _ in legend(page, per_step)] == ["env steps", "reward_mean"]
    for chart in page.locator('[data-charts] .chart').all():
        expect(chart.locator(".u-axis")).to_have_count(2)  # x and one y: no second axis anywhere
        assert chart.get_attribute("data-x-label") == "env steps" and chart.get_attribute("data-y-label")
    assert page.locator(charts["train/value_loss"]).get_attribute("data-y-label") == "loss"
    assert page.locator(reward).get_attribute("data-y-label") == "return"

    # The legend shows the last values without a hover.
    for key, chart in charts.items():
        (_, steps), (label, value) = legend(page, chart)
        assert label == key and close(value, series[key][-1]), (key, value, series[key][-1])
        assert close(steps.replace("k", "e3"), api(base, f"/api/runs/tiny/metrics/{key}")["steps"][-1])

    # EMA: a line is drawn smoothed; a scatter of episode returns gains its EMA line
    value_loss = page.locator(charts["train/value_loss"])
    value_loss.locator('[data-testid="chart-smooth"]').check()
    expect(value_loss).to_have_attribute("data-smooth", "ema")
    smoothed = ema(series["train/value_loss"])[-1]
    wait_for(lambda: close(legend(page, charts["train/value_loss"])[1][1], smoothed), 10, "the loss's EMA")
    returns = [e["return"] for e in api(base, "/api/runs/tiny/episodes?limit=2000")]
    assert not math.isclose(ema(returns)[-1], returns[-1])  # the toggle has something to show
    page.locator(reward).locator('[data-testid="chart-smooth"]').check()
    wait_for(lambda: dict(legend(page, reward)).get("episode return (EMA)") not in (None, "—"), 10, "the EMA line")
    shown = dict(legend(page, reward))
    assert close(shown["episode return (EMA)"], ema(returns)[-1]) and close(shown["episode return"], returns[-1])

    value_loss.locator('[data-testid="chart-log"]').check()
    expect(value_loss).to_have_attribute("data-scale", "log")  # positive: log10
    entropy = page.locator(charts["train/entropy_loss"])
    entropy.locator('[data-testid="chart-log"]').check()
    expect(entropy).to_have_attribute("data-scale", "symlog")  # below 0: a symmetric log
    assert close(legend(page, charts["train/entropy_loss"])[1][1], series["train/entropy_loss"][-1])
    drawn = {"train/value_loss": ema(series["train/value_loss"]), "train/entropy_loss": series["train/entropy_loss"]}
    for key, values in drawn.items():  # on the log axes, every point is in the range drawn
        wait_for(lambda k=key, v=values: in_range(page.locator(charts[k]).get_attribute("data-y-range"), v), 10,
                 f"{key} drawn on its log axis")

    page.locator(reward).scroll_into_view_if_needed()
    shoot(page, "run-charts")


def test_live_counters_agree_with_the_records_and_created_ticks(page, site):
    base, home, _ = site
    subprocess.run([sys.executable, "-m", "rlops", "runs", "start", "--runner", "command", "--name", "counters",
                    "--", sys.executable, str(PROGRAMS / "counters.py")], cwd=home, env=clean_env(), check=True,
                   capture_output=True)
    run_dir = home / "rlruns" / "counters"
    try:
        wait_for(lambda: api(base, "/api/runs/counters")["episodes"] == 5, 60, "the first five episodes")
        page.goto(base + "/#/runs/counters")
        stat = lambda key: page.locator(f'[data-stat="{key}"]')  # noqa: E731
        expect(stat("steps")).to_have_text("100")  # 5 episodes of 20 steps, and no metrics record yet
        expect(stat("checkpoints-count")).to_have_text("0")
        (run_dir / "go").touch()  # a checkpoint and three more episodes, while the page is open
        expect(page.locator('[data-testid="checkpoints"] li[data-kind="checkpoint"]')).to_have_count(1)
        expect(stat("checkpoints-count")).to_have_text("1")
        expect(stat("steps")).to_have_text("160")
        created = page.locator("[data-created]")
        first = created.text_content()
        wait_for(lambda: created.text_content() != first, 15, "'created ...' to move on")
        second = created.text_content()
        wait_for(lambda: created.text_content() != second, 5, "'created ...' to tick again")
        assert re.fullmatch(r"created \d+s ago", created.text_content())
    finally:
        (run_dir / "end").touch()
    wait_for(lambda: api(base, "/api/runs/counters")["status"] == "finished", 60, "the counters run to end")


def test_the_runs_table_shows_the_mean_of_the_last_100_episodes(page, site):
    base, _, _ = site
    returns = [e["return"] for e in api(base, "/api/runs/tiny/episodes?limit=100")]
    mean = sum(returns) / len(returns)
    assert returns[-1] != pytest.approx(mean)  # one raw episode is not the headline
    page.goto(base + "/#/runs")
    header = page.locator('th[data-sort="recent_return"]')
    expect(header).to_have_text("Return (last 100)")
    cell = page.locator('tr[data-run-id="tiny"] td[data-col="recent-return"]')
    expect(cell).not_to_have_text("—")
    assert close(cell.text_content(), mean), (cell.text_content(), mean)
    assert f"last {len(returns)} episodes" in cell.get_attribute("title")


def test_a_default_run_from_the_page_is_named_env_algo_time_and_a_warm_run_shows_its_parent(page, site):
    base, _, parent = site
    defaults = resolve_options(environ={}, args=[]).options
    env_id, algorithm = defaults.env.env_id, defaults.agent.algorithm
    page.goto(base + "/#/new")
    expect(page.locator('[name="run_name"]')).to_have_attribute("placeholder", "<env>-<algo>-<time>")
    page.locator('[name="train.total_timesteps"]').fill("256")  # env and algorithm as they come
    expect(page.locator('button[data-testid="start-submit"]')).to_be_enabled()
    page.locator('button[data-testid="start-submit"]').click()
    page.wait_for_url(re.compile(r".*#/runs/[^/]+$"), timeout=60_000)
    run_id = page.url.rsplit("/", 1)[1]
    try:
        promised = rf"{re.escape(env_id)}-{re.escape(algorithm)}-\d{{8}}-\d{{6}}-[0-9a-f]{{4}}"  # <env>-<algo>-<time>
        assert re.fullmatch(promised, run_id), run_id
        expect(page.locator('[data-testid="run-name"]')).to_have_text(run_id)
    finally:
        stop(base, run_id)

    page.goto(base + "/#/runs/warm")
    link = page.locator('[data-testid="parent-model"] a')
    expect(link).to_have_text(f"model #{parent}")
    expect(page.locator('[data-testid="parent-model"]')).to_contain_text("(run tiny)")
    link.click()
    page.wait_for_url("**/#/runs/tiny")
    expect(page.locator('[data-testid="run-name"]')).to_have_text("tiny")


def stop(base: str, run_id: str) -> None:
    """The run from the page trains with PPO's 2,048-step rollouts: it is stopped, not waited for."""
    deadline = time.monotonic() + 60
    while api(base, f"/api/runs/{run_id}")["status"] in ("queued", "running") and time.monotonic() < deadline:
        try:
            api(base, f"/api/runs/{run_id}/stop", {})
        except OSError:
            pass  # between queued and running: asked again
        time.sleep(1)
