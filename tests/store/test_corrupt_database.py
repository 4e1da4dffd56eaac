"""A database damaged in its pages, not its header: every command and route that reaches a bad
page says the file is unusable and how to rebuild it, never a traceback; ``rlops runs check``
finds the damage without being asked to read a run."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from rlops.api.app import create_app
from rlops.cli.app import main
from rlops.errors import StoreError
from rlops.store.runs import RunStore
from tests.api.http_helpers import serving
from tests.helpers import train_tiny

DB = "rlruns/rlops.db"
MALFORMED = "is unusable: database disk image is malformed"
HINT = "move rlops.db aside, then run 'rlops runs reindex'"


def damage(db: str | Path, pages: list[int]) -> None:
    """Overwrite whole pages (1-based) of a database with a byte pattern no page could hold."""
    with sqlite3.connect(db) as connection:  # the WAL's pages into the file, so that the file is all there is
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    connection.close()
    with open(db, "r+b") as handle:
        for page in pages:
            handle.seek((page - 1) * page_size)
            handle.write(b"\xa5\x5a" * (page_size // 2))


def root_page(db: str | Path, table: str) -> int:
    connection = sqlite3.connect(db)
    try:
        return connection.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    finally:
        connection.close()


@pytest.fixture
def damaged() -> str:
    """A real run's database (its run row and registry model), with pages 2-3 and the models
    table's root page overwritten; returns the run's id."""
    run = train_tiny("a2c", steps=100).run.name
    damage(DB, [2, 3, root_page(DB, "models")])
    return run


@pytest.mark.parametrize("command", [["runs", "list"], ["runs", "show", "RUN"], ["registry", "list"]])
def test_each_command_says_the_database_is_unusable_and_how_to_rebuild(damaged, command, capsys):
    assert main([part.replace("RUN", damaged) for part in command]) == 1
    err = capsys.readouterr().err
    assert MALFORMED in err and HINT in err and "Traceback" not in err


def test_a_fresh_process_gives_the_message_too(damaged):
    """A new process migrates nothing and reaches the damage first through mark_lost_runs."""
    result = subprocess.run([sys.executable, "-m", "rlops", "runs", "list"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert MALFORMED in result.stderr and HINT in result.stderr and "Traceback" not in result.stderr


def test_runs_check_names_the_damage_with_the_hint(damaged, capsys):
    assert main(["runs", "check"]) == 1
    err = capsys.readouterr().err
    assert f"{DB}: damaged" in err and HINT in err
    assert main(["runs", "check", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["problems"] and HINT in report["hint"]
    assert report["database"] == DB


def test_runs_check_passes_an_intact_database_and_refuses_a_bad_header(capsys):
    train_tiny("a2c", steps=100)
    assert main(["runs", "check"]) == 0
    assert capsys.readouterr().out.strip() == f"{DB}: ok"
    assert main(["runs", "check", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"database": DB, "ok": True, "problems": [], "hint": None}
    Path("other.db").write_bytes(b"this is not a database" * 300)
    assert main(["runs", "check", "--json", "--registry.db-path", "other.db"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["problems"] == ["file is not a database"] and "rlops runs reindex" in report["hint"]
    assert main(["runs", "check", "--registry.db-path", "missing.db"]) == 1
    assert "no database at 'missing.db'" in capsys.readouterr().err


def test_an_api_route_answers_the_one_error_shape(damaged):
    with serving(create_app(DB)) as client:
        for route in ("/api/runs", f"/api/runs/{damaged}", "/api/models"):
            response = client.get(route)
            assert response.status_code == 500, route
            error = response.json()["error"]
            assert MALFORMED in error["message"] and HINT in error["hint"], route


def test_a_write_that_reaches_the_damage_is_the_same_error_and_leaves_no_transaction_open(damaged):
    store = RunStore(DB)
    try:
        with pytest.raises(StoreError, match=MALFORMED):
            store.settle(damaged, "lost", "killed")
        assert not store.connection.in_transaction
    finally:
        store.close()


def test_other_sqlite_errors_are_not_called_corruption(tmp_path):
    store = RunStore(tmp_path / "a.db")
    try:
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            store.connection.execute("SELECT * FROM no_such_table")
        store.register_run("r1")
        with pytest.raises(sqlite3.IntegrityError):
            store.connection.execute("INSERT INTO runs (run_id, created) VALUES ('r1', 0)")
    finally:
        store.close()
