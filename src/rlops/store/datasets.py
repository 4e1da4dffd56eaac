"""The datasets table's SQL: one row per dataset directory (``rlops.datasets``), with its counts,
its one hash and the integrity the last verification found."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rlops.store.db import connect, write

COLUMNS = ("name", "path", "env_id", "episodes", "steps", "bytes", "sha256", "returns", "source", "spaces",
           "integrity", "problems", "verified", "created")
JSON_COLUMNS = ("returns", "source", "spaces", "problems")


class DatasetStore:
    def __init__(self, path: str | Path, readonly: bool = False) -> None:
        self.connection = connect(path, readonly=readonly)

    def close(self) -> None:
        self.connection.close()

    def add(self, row: dict[str, Any]) -> None:
        values = {**row, "created": row.get("created", time.time()), "verified": row.get("verified", time.time())}
        values.setdefault("integrity", "ok")
        values.setdefault("problems", [])
        params = [json.dumps(values.get(c)) if c in JSON_COLUMNS else values.get(c) for c in COLUMNS]
        with write(self.connection) as db:
            db.execute(f"INSERT OR REPLACE INTO datasets ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                       params)

    def get(self, name: str) -> dict[str, Any] | None:
        row = self.connection.execute(f"SELECT {', '.join(COLUMNS)} FROM datasets WHERE name = ?", (name,)).fetchone()
        return _row(row) if row else None

    def list(self) -> list[dict[str, Any]]:
        rows = self.connection.execute(f"SELECT {', '.join(COLUMNS)} FROM datasets ORDER BY created DESC, name")
        return [_row(row) for row in rows.fetchall()]

    def set_integrity(self, name: str, problems: list[str]) -> None:
        with write(self.connection) as db:
            db.execute("UPDATE datasets SET integrity = ?, problems = ?, verified = ? WHERE name = ?",
                       ("corrupt" if problems else "ok", json.dumps(problems), time.time(), name))

    def remove(self, name: str) -> bool:
        with write(self.connection) as db:
            return db.execute("DELETE FROM datasets WHERE name = ?", (name,)).rowcount > 0

    def total_bytes(self) -> int:
        return int(self.connection.execute("SELECT coalesce(sum(bytes), 0) FROM datasets").fetchone()[0])


def _row(row: Any) -> dict[str, Any]:
    out = dict(zip(COLUMNS, row))
    for column in JSON_COLUMNS:
        out[column] = json.loads(out[column]) if out[column] else None
    return out
