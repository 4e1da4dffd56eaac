"""A fresh browser page for a dashboard test, in its own context: a script error on it fails the test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, Page


@contextmanager
def checked_page(browser: Browser, width: int, height: int = 900, timeout_ms: int = 20_000) -> Iterator[Page]:
    """A ``width`` x ``height`` page; after the test, the script errors it saw fail it."""
    context = browser.new_context(viewport={"width": width, "height": height})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.set_default_timeout(timeout_ms)
    yield opened
    context.close()
    assert not errors, f"script errors on the page: {errors}"
