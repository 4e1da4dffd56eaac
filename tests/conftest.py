"""Shared fixtures: every test runs in its own working directory with no RL_* or OTEL_* variables."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith(("RL_", "OTEL_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
