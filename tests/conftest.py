"""Shared fixtures: every test runs in its own working directory with no RL_* or OTEL_* variables."""

from __future__ import annotations

import os

import pytest

from tests.reliability.report import (  # noqa: F401  (pytest hooks: the §13 cases table)
    pytest_collection_modifyitems,
    pytest_runtest_logreport,
    pytest_terminal_summary,
)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith(("RL_", "OTEL_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
