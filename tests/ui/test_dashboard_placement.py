"""Where runs execute, on the dashboard (issue 12, item 7), in Debian's chromium against a real
`rlops ui` whose options name a Ray cluster: the runs table and a run's page show each run's
backend and node; the start form offers the backend, shows the Ray options only for a run on Ray,
and refuses a Ray address that the server's ui.allowed_endpoints does not name. The runs are rows
the store's own functions wrote, ended, so no supervisor touches them (no cluster is needed)."""

from __future__ import annotations

import socket

import pytest
from playwright.sync_api import expect

from rlops.store.runs import RunStore
from tests.api.test_run_placement_api import NODE
from tests.ui.test_dashboard_browser import ui_server
from tests.ui.test_dashboard_browser import browser  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow  # a dashboard process and a browser: ~20 s before the first test
CLUSTER = "10.1.2.3:6379"  # the server's own ray.address: never contacted, nothing is started on it


@pytest.fixture(scope="module")
def placed(tmp_path_factory):
    """`rlops ui --ray.address CLUSTER` over a finished run that ran on a Ray node, one that ran here,
    and a Ray run that no node has taken yet (registered, not launched: no supervisor touches it)."""
    home = tmp_path_factory.mktemp("placement")
    with RunStore(home / "rlruns" / "rlops.db") as store:
        for run_id, trace in (("on-ray", "0"), ("here", "1")):
            store.register_run(run_id, home / "rlruns" / run_id, home / "rlruns" / run_id / "train_log.jsonl",
                               runner="rlops")
            store.queue_run(run_id, "CartPole-v1", "ppo", trace * 32)
        store.set_backend("on-ray", "ray", ref="rlops-on-ray-0", node=NODE)
        for run_id in ("on-ray", "here"):
            store.settle(run_id, "finished", None, 0)  # ended, with its exit code: nothing left to supervise
        store.register_run("waiting", home / "rlruns" / "waiting", home / "rlruns" / "waiting" / "train_log.jsonl",
                           runner="rlops")
        store.set_backend("waiting", "ray")
    with ui_server(home, "--ray.address", CLUSTER, "--orchestrator.poll-interval", "0.2") as base:
        yield base, home


@pytest.fixture
def checked(browser):  # noqa: F811
    """A 1400 x 900 page; a script error on it fails the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.set_default_timeout(20_000)
    yield opened
    context.close()
    assert not errors, f"script errors on the page: {errors}"


def test_the_runs_table_and_a_runs_page_show_its_backend_and_node(checked, placed):
    page, (base, home) = checked, placed
    page.goto(base + "/#/")
    table = page.locator('[data-testid="runs-table"]')
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table.locator("th", has_text="Node")).to_be_visible()
    on_ray = table.locator('tr[data-run-id="on-ray"] td[data-col="node"]')
    expect(on_ray).to_have_text(f"ray {NODE}")
    assert "actor rlops-on-ray-0" in on_ray.get_attribute("title")
    expect(table.locator('tr[data-run-id="here"] td[data-col="node"]')).to_have_text(f"local {socket.gethostname()}")
    expect(table.locator('tr[data-run-id="waiting"] td[data-col="node"]')).to_have_text("ray not placed yet")
    page.locator('[data-testid="runs-filter"]').fill("10.0.0.5")  # the filter reads the node too
    expect(table.locator("tbody tr")).to_have_count(1)
    page.set_viewport_size({"width": 800, "height": 900})  # the column fits a narrow window as the others do
    page.locator('[data-testid="runs-filter"]').fill("")
    expect(table.locator("tbody tr")).to_have_count(3)
    widths = table.locator("xpath=..").evaluate("el => [el.scrollWidth, el.clientWidth]")
    assert widths[0] <= widths[1], widths  # no sideways scroll

    page.set_viewport_size({"width": 1400, "height": 900})
    table.locator('tr[data-run-id="on-ray"] a').click()
    where = page.locator('[data-testid="run-node"]')
    expect(where).to_have_text(f"on ray node {NODE}")
    page.goto(base + "/#/runs/here")
    expect(page.locator('[data-testid="run-node"]')).to_have_text(f"local on {socket.gethostname()}")
    page.goto(base + "/#/runs/waiting")
    expect(where).to_have_text("on ray, not placed on a node yet")
    with RunStore(home / "rlruns" / "rlops.db") as store:
        store.set_backend("waiting", "ray", node="10.0.0.6 (cd34ef56)")  # Ray placed it: the page follows, live
    expect(where).to_have_text("on ray node 10.0.0.6 (cd34ef56)")
    expect(page.locator('[data-testid="run-status"]')).to_have_text("running")  # nobody touched it otherwise


def test_the_start_form_offers_the_backend_and_refuses_an_address_the_server_does_not_allow(checked, placed):
    page, (base, _) = checked, placed
    page.goto(base + "/#/new")
    backend = page.locator('[name="orchestrator.backend"]')
    expect(backend).to_be_visible()
    assert backend.input_value() == "local"  # the server's own backend
    ray = page.locator('details.section[data-section="ray"]')
    expect(ray).to_be_hidden()  # Ray's options only for a run on Ray
    backend.select_option("ray")
    expect(ray).to_be_visible()
    address = page.locator('[name="ray.address"]')
    assert address.get_attribute("placeholder") == CLUSTER  # the cluster the run would go to
    page.locator('[name="ray.num_cpus"]').fill("2")
    cli = page.locator("[data-cli]")
    expect(cli).to_contain_text("rlops runs start")
    expect(cli).to_contain_text("--orchestrator.backend ray")
    expect(cli).to_contain_text("--ray.num-cpus 2")
    start = page.locator('[data-testid="start-submit"]')
    expect(start).to_be_enabled(timeout=30_000)

    address.fill("127.0.0.1:6379")  # a cluster of the caller's choosing, on the server's loopback
    error = page.locator('[data-error-for="ray.address"]')
    expect(error).to_contain_text("ui.allowed_endpoints", timeout=30_000)
    expect(error).to_contain_text("loopback")
    expect(start).to_be_disabled()
    address.fill("")
    expect(error).to_be_empty()
    backend.select_option("local")  # back here: the Ray options are neither shown nor sent
    expect(ray).to_be_hidden()
    expect(page.locator('[data-testid="options-summary"]')).not_to_contain_text("ray.")
    expect(cli).to_contain_text("rlops train")
