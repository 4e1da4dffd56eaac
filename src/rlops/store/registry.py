"""The model registry's SQL: the seed's ``models`` table with lineage, hashes and deployment status.

Library first: every ``rlops registry`` command and every API route is a call here (through
``services.registry_ops`` where files are involved). One production model per env at a time:
promoting another archives the previous one in the same transaction. A model the janitor is
deleting with its run's directory (``pruning`` set, see ``store.prunes``) is hidden from every read;
a lease (``hold``) keeps a model from being pruned while an evaluation reads it.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rlops.errors import UsageError
from rlops.store.db import connect, write
from rlops.store.runs import process_alive

STATUSES = ("none", "staging", "production", "archived")
COLUMNS = ("id", "model_path", "algorithm", "env_id", "timestamp", "total_timesteps", "mean_reward", "std_reward",
           "mean_episode_length", "eval_episodes", "hyperparams", "git_commit", "validated", "validation", "run_id",
           "sha256", "tags", "parent_model_id", "deployment_status", "created")
JSON_COLUMNS = ("hyperparams", "validation", "tags")
BEST_SQL = ("SELECT {columns} FROM models WHERE env_id = ? AND validated = 1 AND mean_reward IS NOT NULL "
            "AND pruning IS NULL ORDER BY mean_reward DESC, id DESC LIMIT 1")
LEASE_TTL_S = 600.0  # a lease unrenewed this long is void: the most a holder killed on another host blocks


class ModelNotFoundError(UsageError):
    pass


class Registry:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.connection = connect(self.path)

    def close(self) -> None:
        self.connection.close()

    # -- writing --------------------------------------------------------------------------------

    def add(self, model_path: str | Path, algorithm: str, env_id: str, total_timesteps: int | None = None,
            hyperparams: dict[str, Any] | None = None, git_commit: str | None = None, run_id: str | None = None,
            sha256: str | None = None, tags: dict[str, Any] | None = None, parent_model_id: int | None = None) -> int:
        """Register a model (validated = 0); registering the same path again returns its id."""
        now = time.time()
        with write(self.connection) as db:
            row = db.execute(
                "INSERT INTO models (model_path, algorithm, env_id, timestamp, total_timesteps, hyperparams, git_commit, "
                "run_id, sha256, tags, parent_model_id, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(model_path) DO UPDATE SET sha256 = excluded.sha256 RETURNING id",
                (str(model_path), algorithm, env_id, int(now), total_timesteps, json.dumps(hyperparams or {}),
                 git_commit, run_id, sha256, json.dumps(tags or {}), parent_model_id, now)).fetchone()
        return int(row[0])

    def set_evaluation(self, model_id: int, mean_reward: float, std_reward: float, mean_episode_length: float,
                       episodes: int) -> None:
        with write(self.connection) as db:
            self._require(db, model_id)
            db.execute("UPDATE models SET mean_reward = ?, std_reward = ?, mean_episode_length = ?, eval_episodes = ? "
                       "WHERE id = ?", (mean_reward, std_reward, mean_episode_length, episodes, model_id))

    def set_validation(self, model_id: int, validated: bool, results: Sequence[dict[str, Any]]) -> None:
        with write(self.connection) as db:
            self._require(db, model_id)
            db.execute("UPDATE models SET validated = ?, validation = ? WHERE id = ?",
                       (int(validated), json.dumps(list(results)), model_id))

    def promote(self, model_id: int, status: str) -> list[int]:
        """Set a model's deployment status; returns the ids archived to keep one production per env."""
        if status not in STATUSES:
            raise UsageError(f"unknown deployment status {status!r}", hint=f"use one of {', '.join(STATUSES)}")
        with write(self.connection) as db:
            env_id = self._require(db, model_id)["env_id"]
            archived: list[int] = []
            if status == "production":
                archived = [r[0] for r in db.execute("SELECT id FROM models WHERE env_id = ? AND deployment_status = "
                                                     "'production' AND id != ?", (env_id, model_id))]
                db.executemany("UPDATE models SET deployment_status = 'archived' WHERE id = ?", [(i,) for i in archived])
            db.execute("UPDATE models SET deployment_status = ? WHERE id = ?", (status, model_id))
        return archived

    def set_tags(self, model_id: int, tags: dict[str, Any]) -> None:
        with write(self.connection) as db:
            self._require(db, model_id)
            db.execute("UPDATE models SET tags = ? WHERE id = ?", (json.dumps(tags), model_id))

    def hold(self, model_id: int, holder: str, ttl_s: float = LEASE_TTL_S) -> int:
        """Lease a model while ``holder`` (an evaluation) reads its files: no prune removes it until the
        lease is released, expires, or its process (on this host) is gone. Returns the lease's id."""
        now = time.time()
        with write(self.connection) as db:
            self._require(db, model_id)  # a model already gone, or being pruned, cannot be held
            db.execute("DELETE FROM model_leases WHERE expires <= ?", (now,))
            row = db.execute("INSERT INTO model_leases (model_id, holder, host, pid, expires) VALUES (?, ?, ?, ?, ?) "
                             "RETURNING id", (model_id, holder, socket.gethostname(), os.getpid(), now + ttl_s)).fetchone()
        return int(row[0])

    def renew(self, lease_id: int, ttl_s: float = LEASE_TTL_S) -> bool:
        """Extend a lease to ``ttl_s`` from now; False if it is gone (its model was deleted)."""
        with write(self.connection) as db:
            return db.execute("UPDATE model_leases SET expires = ? WHERE id = ?",
                              (time.time() + ttl_s, lease_id)).rowcount == 1

    def release(self, lease_id: int) -> None:
        with write(self.connection) as db:
            db.execute("DELETE FROM model_leases WHERE id = ?", (lease_id,))

    def holders(self) -> dict[int, str]:
        """The models a lease in force holds, each with who holds it."""
        return live_leases(self.connection)

    def delete(self, model_ids: Sequence[int]) -> None:
        with write(self.connection) as db:
            db.executemany("DELETE FROM models WHERE id = ?", [(i,) for i in model_ids])

    # -- reading --------------------------------------------------------------------------------

    def get(self, model_id: int) -> dict[str, Any]:
        return self._require(self.connection, model_id)

    def by_path(self, model_path: str | Path) -> dict[str, Any] | None:
        row = self.connection.execute(f"SELECT {', '.join(COLUMNS)} FROM models WHERE model_path = ? AND pruning IS NULL",
                                      (str(model_path),)).fetchone()
        return _row(row) if row else None

    def list(self, validated: bool | None = None, top_n: int | None = None, env_id: str | None = None,
             algorithm: str | None = None, status: str | None = None, run_id: str | None = None) -> list[dict[str, Any]]:
        where, params = ["pruning IS NULL"], []
        for column, value in (("env_id", env_id), ("algorithm", algorithm), ("deployment_status", status),
                              ("run_id", run_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if validated is not None:
            where.append("validated = ?")
            params.append(int(validated))
        sql = f"SELECT {', '.join(COLUMNS)} FROM models WHERE {' AND '.join(where)}"
        if top_n:
            sql += " ORDER BY mean_reward IS NULL, mean_reward DESC, id DESC LIMIT ?"
            params.append(top_n)
        else:
            sql += " ORDER BY id DESC"
        return [_row(r) for r in self.connection.execute(sql, params)]

    def best(self, env_id: str | None = None) -> dict[str, Any] | None:
        """The best validated model (by mean evaluation reward) for an env, or over all envs."""
        if env_id is None:
            row = self.connection.execute(
                f"SELECT {', '.join(COLUMNS)} FROM models WHERE validated = 1 AND mean_reward IS NOT NULL "
                "AND pruning IS NULL ORDER BY mean_reward DESC, id DESC LIMIT 1").fetchone()
        else:
            row = self.connection.execute(BEST_SQL.format(columns=", ".join(COLUMNS)), (env_id,)).fetchone()
        return _row(row) if row else None

    def production(self, env_id: str | None = None) -> dict[str, Any] | None:
        sql = f"SELECT {', '.join(COLUMNS)} FROM models WHERE deployment_status = 'production' AND pruning IS NULL"
        params: tuple = ()
        if env_id is not None:
            sql += " AND env_id = ?"
            params = (env_id,)
        row = self.connection.execute(sql + " ORDER BY id DESC LIMIT 1", params).fetchone()
        return _row(row) if row else None

    def newest_of_run(self, run_id: str) -> dict[str, Any] | None:
        row = self.connection.execute(f"SELECT {', '.join(COLUMNS)} FROM models WHERE run_id = ? AND pruning IS NULL "
                                      "ORDER BY total_timesteps DESC, id DESC LIMIT 1", (run_id,)).fetchone()
        return _row(row) if row else None

    def query_plan(self, sql: str, params: Sequence[Any]) -> list[str]:
        return [row[-1] for row in self.connection.execute(f"EXPLAIN QUERY PLAN {sql}", params)]

    def _require(self, db: Any, model_id: int) -> dict[str, Any]:
        row = db.execute(f"SELECT {', '.join(COLUMNS)} FROM models WHERE id = ? AND pruning IS NULL",
                         (model_id,)).fetchone()
        if row is None:
            pruning = db.execute("SELECT pruning FROM models WHERE id = ?", (model_id,)).fetchone()
            if pruning is not None:
                raise ModelNotFoundError(f"model {model_id} is being deleted with the directory of run {pruning[0]}",
                                         hint="rlops gc --apply finishes the prune; pick another model with "
                                              "rlops registry list")
            newest = db.execute("SELECT max(id) FROM models").fetchone()[0]
            raise ModelNotFoundError(f"no model with id {model_id} in the registry {str(self.path)!r}",
                                     hint=f"ids go up to {newest}; list them with: rlops registry list" if newest
                                     else "the registry is empty: train a run, or rlops registry import PATH")
        return _row(row)


def live_leases(db: sqlite3.Connection) -> dict[int, str]:
    """{model id: who holds it} over the leases in force: unexpired, and of a live process where the
    process is on this host (a killed evaluation releases its lease at once)."""
    host, held = socket.gethostname(), {}
    rows = db.execute("SELECT model_id, holder, host, pid FROM model_leases WHERE expires > ? ORDER BY id", (time.time(),))
    for model_id, holder, lease_host, pid in rows.fetchall():
        if lease_host != host or process_alive(pid):
            held.setdefault(model_id, f"held by {holder}, pid {pid} on {lease_host}")
    return held


def _row(row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(COLUMNS, row, strict=True))
    for key in JSON_COLUMNS:
        if isinstance(out[key], str):
            out[key] = json.loads(out[key])
    out["validated"] = bool(out["validated"])
    return out
