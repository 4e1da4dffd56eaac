"""The start form, the registry page, the serving panel and the layout in Debian's chromium against
a real `rlops ui` (issue 19, items 13, 16, 17, 18; issue 17, item 5): the form refuses what
`rlops train` refuses, in its words, keeps Start in view and shows the chosen runner's
capabilities; an unevaluated model is evaluated from its card; a checkpoint registered already is
not registered twice; the serving panel shows the policy server's own hot swap setting; tables fit
their cards and an 800 px window.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from playwright.sync_api import expect

from tests.api.test_ui import free_port
from tests.helpers import tiny_args
from tests.ui.test_dashboard_browser import PROGRAMS, api, clean_env, ui_server, wait_for
from tests.ui.test_dashboard_browser import browser  # noqa: F401 - the fixture
from tests.ui.pages import checked_page

pytestmark = pytest.mark.slow  # a training, a policy server, a dashboard and a run: about a minute before the first test
RUN = "CartPole-v1-ppo-20261201-234512"  # as long as the names the page gives runs


@pytest.fixture(scope="module")
def forms(tmp_path_factory):
    """`rlops ui` (its own serve.hotswap: the default, best) over a tiny PPO run whose 128-step
    checkpoint is registered unevaluated and whose 256-step one is evaluated, a run reporting
    evaluations as wide as a long run's, and `rlops serve --serve.hotswap production` on the port
    the dashboard asks."""
    home = tmp_path_factory.mktemp("forms")
    env = clean_env()
    subprocess.run([sys.executable, "-m", "rlops", "train", *tiny_args("ppo", steps=256), "--train.checkpoint-freq",
                    "128", "--store.run-name", RUN], cwd=home, env=env, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "rlops", "serve", "--infer.model-id", "2", "--allow-unvalidated",
                               "--serve.hotswap", "production", "--serve.port", str(port)], cwd=home, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with ui_server(home, "--serve.port", str(port), "--orchestrator.poll-interval", "0.2") as base:
            subprocess.run([sys.executable, "-m", "rlops", "runs", "start", "--runner", "command", "--name", "evals",
                            "--", sys.executable, str(PROGRAMS / "wide_evals.py")], cwd=home, env=env, check=True,
                           capture_output=True)
            wait_for(lambda: api(base, "/api/runs/evals")["status"] == "finished", 60, "the evals run to finish")
            wait_for(lambda: api(base, "/api/serving")["reachable"], 60, "rlops serve to answer")
            yield base, home
    finally:
        server.terminate()
        server.wait(20)
        server.stderr.close()


@pytest.fixture
def page(browser, forms):  # noqa: F811
    """A 1400 x 900 page; a script error on it fails the test."""
    with checked_page(browser, 1400) as opened:
        yield opened


def test_the_start_form_refuses_what_rlops_train_refuses_and_keeps_start_in_view(page, forms):
    base, _ = forms
    page.goto(base + "/#/new?agent.algorithm=ppoo")  # a link may name what no select offers
    algorithm = page.locator('[name="agent.algorithm"]')
    assert algorithm.evaluate("el => el.tagName") == "SELECT"
    assert {"ppo", "a2c", "dqn", "sac", "td3"} <= set(algorithm.locator("option").all_inner_texts()) | {
        text.removesuffix(" (default)") for text in algorithm.locator("option").all_inner_texts()}
    error = page.locator('[data-error-for="agent.algorithm"]')
    expect(error).to_contain_text("unknown algorithm 'ppoo'; did you mean 'ppo'?", timeout=30_000)  # the CLI's words
    start = page.locator('[data-testid="start-submit"]')
    expect(start).to_be_disabled()
    algorithm.select_option("ppo")
    expect(error).to_be_empty()
    expect(start).to_be_enabled()
    page.locator('[name="env.env_id"]').fill("CartPol-v1")  # free text, checked as the CLI checks it
    expect(page.locator('[data-error-for="env.env_id"]')).to_contain_text("did you mean 'CartPole-v1'")
    expect(start).to_be_disabled()
    page.locator('[name="env.env_id"]').fill("Pendulum-v1")
    algorithm.select_option("dqn")  # what needs the env's spaces
    expect(error).to_contain_text("does not support Box action spaces")
    algorithm.select_option("sac")
    expect(error).to_be_empty()
    expect(start).to_be_enabled()

    page.evaluate("() => document.querySelectorAll('details.section').forEach((d) => { d.open = true; })")
    page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
    assert page.evaluate("() => window.scrollY") > 1000  # the form is long: far down it
    box = start.bounding_box()
    assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= 900, box  # Start still in view


def test_the_start_form_shows_the_chosen_runners_capabilities_and_hides_what_it_lacks(page, forms):
    base, _ = forms
    matrix = {row["name"]: row for row in api(base, "/api/runners/capabilities")}  # what rlops runs runners prints
    page.goto(base + "/#/new")
    capabilities = page.locator('[data-testid="runner-capabilities"]')
    expect(capabilities).to_contain_text("What rlops supports")
    for runner in ("rlops", "command", "play"):
        page.locator(f'[data-runner="{runner}"]').click()
        expect(capabilities).to_contain_text(f"What {runner} supports")
        for key in ("warm_start", "offline_inference", "needs_gpu", "live_step_telemetry"):
            shown = capabilities.locator(f'[data-capability="{key}"] dd').inner_text()
            assert shown == ("yes" if matrix[runner][key] else "no"), (runner, key, shown)
        services = matrix[runner]["external_services"]
        assert capabilities.locator('[data-capability="external_services"] dd').inner_text() == (
            ", ".join(services) if services else "none")
        warm = page.locator('[data-testid="mode-warm"]')
        if matrix[runner]["warm_start"]:
            expect(warm).to_be_attached()
            assert warm.locator("xpath=..").is_visible()
        else:
            assert not warm.locator("xpath=..").is_visible()  # no warm start offered where it cannot be
    page.locator('[data-runner="command"]').click()
    expect(page.locator('[data-testid="runner-cli-only"]')).to_contain_text("rlops runs start --runner command")
    expect(page.locator('[data-testid="start-form"]')).to_be_hidden()  # rlops train's options are not its
    page.locator('[data-runner="rlops"]').click()
    expect(page.locator('[data-testid="start-form"]')).to_be_visible()
    assert page.locator('[data-testid="mode-warm"]').locator("xpath=..").is_visible()


def test_the_registry_page_evaluates_a_model_refuses_a_second_import_and_shows_the_servers_hot_swap(page, forms):
    base, _ = forms
    page.goto(base + "/#/models")
    expect(page.locator('[data-testid="serving-hotswap"]')).to_have_text("production")  # not the dashboard's best
    top = [panel.bounding_box()["height"] for panel in page.locator(".models-top > .panel").all()]
    assert top[0] < 0.8 * top[1], top  # the import panel is as tall as its contents, not the serving panel

    first = page.locator('[data-testid="model-card"][data-model-id="1"]')
    expect(first.locator('[data-testid="validation"]')).to_have_text("needs an evaluation")
    first.locator('[data-testid="validate"]').click()
    expect(page.locator('[data-testid="toast"]').last).to_contain_text("Evaluate")
    expect(first.locator('[data-testid="validation"]')).not_to_contain_text("failed")
    first.locator('[data-testid="evaluate"]').click()
    expect(first.locator(".reward")).to_contain_text("episodes", timeout=60_000)
    expect(first.locator('[data-testid="evaluate"]')).to_have_count(0)
    assert next(m for m in api(base, "/api/models") if m["id"] == 1)["mean_reward"] is not None
    expect(first.locator('[data-testid="validation"]')).not_to_contain_text("evaluated")

    cards = page.locator('[data-testid="model-card"]').count()
    checkpoint = next(m["model_path"] for m in api(base, "/api/models") if m["id"] == 2)
    page.locator('[data-testid="import-path"]').fill(checkpoint)
    page.locator('[data-testid="import-button"]').click()
    expect(page.locator('[data-testid="import-result"]')).to_contain_text("registered already as model 2")
    page.wait_for_timeout(500)
    assert page.locator('[data-testid="model-card"]').count() == cards == len(api(base, "/api/models"))


def test_tables_fit_their_cards_and_an_800_pixel_window(browser, forms):  # noqa: F811
    base, _ = forms
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.goto(base + "/#/runs/evals")  # six-figure steps, 310.412 +/- 12.346, a deep checkpoint path
        evals = page.locator('[data-testid="evals"]')
        expect(evals.locator("tbody tr")).to_have_count(3)
        fit = evals.evaluate("el => [el.querySelector('table').getBoundingClientRect().right, "
                             "el.getBoundingClientRect().right]")
        assert fit[0] <= fit[1] + 0.5, fit  # the table ends inside its card
        cell = evals.locator("tbody tr td").last
        assert cell.get_attribute("title").endswith("step-000000010000")  # the whole path, where it is cut short
    finally:
        context.close()

    context = browser.new_context(viewport={"width": 800, "height": 900})
    try:
        page = context.new_page()
        page.goto(base + "/#/")
        table = page.locator('[data-testid="runs-table"]')
        expect(table.locator("tbody tr")).to_have_count(2)
        widths = table.locator("xpath=..").evaluate("el => [el.scrollWidth, el.clientWidth]")
        assert widths[0] <= widths[1], widths  # no sideways scroll
        for label in ("Best eval", "SPS", "Started"):
            header = table.locator("th", has_text=label).first.bounding_box()
            assert header["x"] + header["width"] <= 800, label
        env = table.locator(f'tr[data-run-id="{RUN}"] td', has_text="CartPole-v1").last
        lines = env.evaluate("td => { const r = document.createRange(); r.selectNodeContents(td); "
                             "return r.getClientRects().length; }")
        assert lines == 1, lines  # "CartPole-v1" on one line
    finally:
        context.close()
