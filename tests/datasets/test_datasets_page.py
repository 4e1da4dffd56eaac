"""The datasets page in a real browser (Debian's chromium, as tests/ui): the table with its
integrity badges, Verify naming the changed file, the offline form's Start disabled while the
chosen dataset's hashes do not match, Delete."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from rlops.datasets.catalog import DatasetCatalog
from tests.datasets.test_import import _d3rlpy_file
from tests.ui.pages import checked_page
from tests.ui.test_dashboard_browser import browser, ui_server  # noqa: F401  (browser is a fixture)


@pytest.fixture
def home(tmp_path):
    catalog = DatasetCatalog(tmp_path / "rlruns", tmp_path / "rlruns" / "rlops.db")
    try:
        for name in ("good", "damaged"):
            _d3rlpy_file(tmp_path / f"{name}.h5")
            catalog.import_path(tmp_path / f"{name}.h5", name=name, env_id="CartPole-v1")
    finally:
        catalog.close()
    return tmp_path


def test_verify_names_the_file_start_waits_for_intact_hashes_delete(browser, home):  # noqa: F811
    data = home / "rlruns" / "datasets" / "damaged" / "data" / "main_data.hdf5"
    with ui_server(home) as base:
        with checked_page(browser, 1440) as page:
            page.goto(f"{base}/#/datasets")
            rows = page.locator("tr[data-dataset]")
            expect(rows).to_have_count(2)
            expect(page.locator('tr[data-dataset="damaged"] [data-testid="integrity"]')).to_have_text("intact")
            data.write_bytes(data.read_bytes()[:-10])
            page.locator('tr[data-dataset="damaged"] button[data-action="verify"]').click()
            expect(page.locator('tr[data-dataset="damaged"] [data-testid="integrity"]')).to_have_text("corrupt")
            expect(page.locator('tr[data-dataset="damaged"] [data-testid="problems"]')).to_contain_text(
                "data/main_data.hdf5 has")
            start = page.locator('[data-testid="train-start"]')
            page.locator('[data-testid="train-dataset"]').select_option("damaged")
            expect(page.locator('[data-testid="train-integrity"]')).to_contain_text("corrupt")
            expect(start).to_be_disabled()
            page.locator('[data-testid="train-dataset"]').select_option("good")
            expect(page.locator('[data-testid="train-integrity"]')).to_contain_text("intact")
            expect(start).to_be_enabled()
            page.once("dialog", lambda dialog: dialog.accept())
            page.locator('tr[data-dataset="good"] button[data-action="delete"]').click()
            expect(rows).to_have_count(1)
            assert not (home / "rlruns" / "datasets" / "good").exists()
