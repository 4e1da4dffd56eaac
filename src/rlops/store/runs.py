"""The run store: runs, metric series, episodes and events in SQLite, fed by schema-v1 records.

``ingest`` is exactly-once per run: each run row keeps the highest ``seq`` it holds
(``ingested_seq``), updated in the same transaction as the data, and records at or below it are
skipped. The JSONL log can therefore be re-read from any point (after a crash of the writer, by
the orchestrator, by ``reindex``) without duplicating a point.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlops.errors import UnknownNameError
from rlops.events.columns import MetricsColumns
from rlops.events.schema import (
    Artifact,
    Checkpoint,
    Config,
    End,
    Episode,
    Error,
    Eval,
    Meta,
    Metrics,
    Record,
    Resume,
    to_dict,
)
from rlops.store.db import connect, write
from rlops.store.metric_chunks import Series, append_points, read_series, series_keys
from rlops.store.run_status import ENDED, LIVE, RunStatus

# Scalar fields of a metrics record that are series too (env_steps is every series' x axis).
METRIC_FIELDS = ("opt_steps", "wall_time_s", "sps")
RUN_COLUMNS = ("run_id", "status", "reason", "runner", "env_id", "algorithm", "experiment", "seed", "run_dir",
               "log_path", "trace_id", "host", "pid", "exit_code", "created", "started", "ended", "updated",
               "env_steps", "opt_steps", "sps", "episodes", "last_return", "last_eval", "best_eval", "checkpoints",
               "last_checkpoint", "resumes", "artifacts", "dropped", "ingested_seq", "ingested_bytes", "bad_lines",
               "pruned", "backend", "node", "backend_ref")
JSON_COLUMNS = ("artifacts", "dropped", "config")


@dataclass
class IngestStats:
    records: int = 0
    skipped: int = 0  # already in the store (seq at or below the run's watermark)
    points: int = 0
    runs: set[str] = field(default_factory=set)


class RunStore:
    """One database of runs. One instance per process writes; any number may read."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.connection = connect(self.path)

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing --------------------------------------------------------------------------------

    def register_run(self, run_id: str, run_dir: str | Path | None = None, log_path: str | Path | None = None,
                     runner: str | None = None, pid: int | None = None) -> None:
        """Create or update a run's row before its records arrive (paths, process, host)."""
        now = time.time()
        with write(self.connection) as db:
            db.execute("INSERT OR IGNORE INTO runs (run_id, created, updated) VALUES (?, ?, ?)", (run_id, now, now))
            db.execute("UPDATE runs SET run_dir = coalesce(?, run_dir), log_path = coalesce(?, log_path), runner = coalesce(?, runner), "
                       "pid = coalesce(?, pid), host = ?, updated = ? WHERE run_id = ?",
                       (_text(run_dir), _text(log_path), runner, pid, socket.gethostname(), now, run_id))

    def ingest(self, records: Iterable[Record | MetricsColumns], log_bytes: dict[str, int] | None = None) -> IngestStats:
        """Write records (any runs, in log order; metrics records may come as ``MetricsColumns``) in
        one transaction; skip what is already in."""
        by_run: dict[str, list[Record | MetricsColumns]] = {}
        for record in records:
            by_run.setdefault(record.run_id, []).append(record)
        stats = IngestStats()
        with write(self.connection) as db:
            for run_id, run_records in by_run.items():
                _RunIngest(db, run_id, stats).apply(run_records)
            for run_id, offset in (log_bytes or {}).items():
                db.execute("UPDATE runs SET ingested_bytes = max(ingested_bytes, ?) WHERE run_id = ?", (offset, run_id))
        return stats

    # -- supervised runs (the orchestrator's lifecycle: queued -> running -> an end state) ------

    def queue_run(self, run_id: str, env_id: str | None, algorithm: str | None, trace_id: str) -> None:
        with write(self.connection) as db:
            db.execute("UPDATE runs SET status = 'queued', env_id = coalesce(?, env_id), algorithm = coalesce(?, "
                       "algorithm), trace_id = ?, pid = NULL, updated = ? WHERE run_id = ?",
                       (env_id, algorithm, trace_id, time.time(), run_id))

    def claim_queued(self, run_id: str, limit: int) -> bool:
        """Take a queued run for launch while fewer than ``limit`` run; False if another process took it
        first or the slots are full. One statement: two supervisors cannot both take the last slot."""
        with write(self.connection) as db:
            return db.execute("UPDATE runs SET status = 'running', started = ?, updated = ? WHERE run_id = ? AND "
                              "status = 'queued' AND (SELECT count(*) FROM runs WHERE status = 'running') < ?",
                              (time.time(), time.time(), run_id, limit)).rowcount == 1

    def stop_queued(self, run_id: str, reason: str) -> bool:
        """A queued run never starts; False if it was launched meanwhile."""
        with write(self.connection) as db:
            return db.execute("UPDATE runs SET status = 'stopped', reason = ?, ended = ?, updated = ? WHERE run_id = ? "
                              "AND status = 'queued'", (reason, time.time(), time.time(), run_id)).rowcount == 1

    def set_pid(self, run_id: str, pid: int) -> None:
        with write(self.connection) as db:
            db.execute("UPDATE runs SET pid = ?, host = ?, updated = ? WHERE run_id = ?",
                       (pid, socket.gethostname(), time.time(), run_id))

    def set_backend(self, run_id: str, backend: str, ref: str | None = None, node: str | None = None) -> None:
        """Where a run executes (a Ray actor's name, the node it landed on); no pid: it is not a local process."""
        with write(self.connection) as db:
            db.execute("UPDATE runs SET backend = ?, backend_ref = coalesce(?, backend_ref), node = coalesce(?, node), "
                       "updated = ? WHERE run_id = ?", (backend, ref, node, time.time(), run_id))

    def settle(self, run_id: str, status: str, reason: str | None = None, exit_code: int | None = None) -> None:
        """A run's state as its supervisor (or whoever found it gone) knows it: status, reason and exit
        code, whatever was there; ``ended`` is kept from the run's end record when it had one."""
        with write(self.connection) as db:
            db.execute("UPDATE runs SET status = ?, reason = ?, exit_code = ?, ended = coalesce(ended, ?), "
                       "updated = ? WHERE run_id = ?", (status, reason, exit_code, time.time(), time.time(), run_id))

    def unsettled(self, since: float) -> list[dict[str, Any]]:
        """Runs that ended (by their end record, or marked lost) since ``since`` but have no exit code
        yet: a supervised run's worker may still have its exit status to add."""
        rows = self.connection.execute(
            f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE exit_code IS NULL AND status IN ({_marks(ENDED)}) "
            "AND coalesce(ended, updated, created) >= ?", (*ENDED, since))
        return [_row(RUN_COLUMNS, row) for row in rows]

    def note_artifacts(self, run_id: str, artifacts: Sequence[Artifact]) -> None:
        """Add entries to a run's artifact manifest that are not records of its log (the janitor's
        prunes, made after the run ended): the ingest watermark does not move, so a resumed run's
        records, which continue the log's seqs, are all still taken in."""
        with write(self.connection) as db:
            row = db.execute("SELECT artifacts FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                return
            manifest = json.loads(row[0] or "[]") + [{"kind": a.kind, "path": a.path, "action": a.action, "t": a.t}
                                                     for a in artifacts]
            db.execute("UPDATE runs SET artifacts = ?, updated = ? WHERE run_id = ?",
                       (json.dumps(manifest), time.time(), run_id))

    def count_bad_lines(self, run_id: str, count: int) -> None:
        with write(self.connection) as db:
            db.execute("UPDATE runs SET bad_lines = bad_lines + ? WHERE run_id = ?", (count, run_id))

    def delete_run(self, run_id: str) -> None:
        with write(self.connection) as db:
            for table in ("metric_chunks", "metric_lists", "episodes", "events", "runs"):
                db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))

    # -- reading --------------------------------------------------------------------------------

    def list_runs(self, status: str | None = None, limit: int | None = None,
                  updated_after: float | None = None) -> list[dict[str, Any]]:
        sql = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE 1"
        params: list[Any] = []
        if status:
            sql += " AND status = ?"
            params.append(status)
        if updated_after is not None:
            sql += " AND updated > ?"
            params.append(updated_after)
        sql += " ORDER BY created DESC, run_id"
        if limit:
            sql += " LIMIT ?"
            params.append(limit)
        return [_row(RUN_COLUMNS, row) for row in self.connection.execute(sql, params)]

    def status_counts(self) -> dict[str, int]:
        """How many runs are in each status (the server's health)."""
        return dict(self.connection.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall())

    def get_run(self, run_id: str) -> dict[str, Any]:
        columns = (*RUN_COLUMNS, "config")
        row = self.connection.execute(f"SELECT {', '.join(columns)} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            known = [r[0] for r in self.connection.execute("SELECT run_id FROM runs ORDER BY created DESC LIMIT 200")]
            raise UnknownNameError("run", run_id, known, hint="list runs with: rlops runs list")
        return _row(columns, row)

    def metric_keys(self, run_id: str) -> list[str]:
        return series_keys(self.connection, run_id)

    def metric_series(self, run_id: str, key: str) -> Series:
        return read_series(self.connection, run_id, key)

    def metric_lists(self, run_id: str, key: str) -> list[tuple[int, list[Any]]]:
        rows = self.connection.execute("SELECT env_steps, value FROM metric_lists WHERE run_id = ? AND key = ? "
                                       "ORDER BY seq", (run_id, key))
        return [(steps, json.loads(value)) for steps, value in rows]

    def episodes(self, run_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        columns = ("seq", "env_index", "episode", "return", "length", "env_steps", "success", "t")
        sql = f"SELECT {', '.join(columns)} FROM episodes WHERE run_id = ? ORDER BY seq"
        rows = self.connection.execute(sql + (" DESC LIMIT ?" if limit else ""),
                                       (run_id, limit) if limit else (run_id,)).fetchall()
        return [_row(columns, row) for row in (reversed(rows) if limit else rows)]

    def events(self, run_id: str, types: Sequence[str] = (), after_seq: int = -1,
               limit: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT body FROM events WHERE run_id = ? AND seq > ?"
        params: list[Any] = [run_id, after_seq]
        if types:
            sql += f" AND type IN ({', '.join('?' * len(types))})"
            params += list(types)
        sql += " ORDER BY seq" + (" LIMIT ?" if limit else "")
        if limit:
            params.append(limit)
        return [json.loads(body) for (body,) in self.connection.execute(sql, params)]

    def recent_returns(self, run_id: str, n: int = 100) -> list[float]:
        rows = self.connection.execute("SELECT return FROM episodes WHERE run_id = ? ORDER BY seq DESC LIMIT ?",
                                       (run_id, n))
        return [r[0] for r in rows][::-1]

    def mark_lost_runs(self) -> list[str]:
        """Runs of this host still 'running' whose process is gone without an end record."""
        host = socket.gethostname()
        rows = self.connection.execute(f"SELECT run_id, pid FROM runs WHERE status IN ({_marks(LIVE)}) "
                                       "AND host = ? AND pid IS NOT NULL", (*LIVE, host)).fetchall()
        lost = [run_id for run_id, pid in rows if not process_alive(pid)]
        for run_id in lost:
            self.settle(run_id, RunStatus.LOST, "its process is gone and its log has no end record (killed?)")
        return lost

    def integrity_check(self) -> str:
        return self.connection.execute("PRAGMA integrity_check").fetchone()[0]


class _RunIngest:
    """The records of one run in one batch, applied to its rows."""

    def __init__(self, db: sqlite3.Connection, run_id: str, stats: IngestStats) -> None:
        self.db, self.run_id, self.stats = db, run_id, stats

    def apply(self, records: list[Record | MetricsColumns]) -> None:
        db, run_id = self.db, self.run_id
        row = db.execute("SELECT ingested_seq, artifacts, best_eval, config FROM runs WHERE run_id = ?",
                         (run_id,)).fetchone()
        if row is None:
            first = records[0]
            t = first.t[0] if isinstance(first, MetricsColumns) else first.t
            db.execute("INSERT INTO runs (run_id, created, updated, trace_id) VALUES (?, ?, ?, ?)",
                       (run_id, t or time.time(), time.time(), first.trace_id))
            row = (-1, "[]", None, None)
        watermark, artifacts, best_eval = row[0], json.loads(row[1]), row[2]
        self.config = json.loads(row[3]) if row[3] else {}  # what config records merge into
        fresh = _after(records, watermark)
        taken = sum(len(r) if isinstance(r, MetricsColumns) else 1 for r in fresh)
        self.stats.skipped += sum(len(r) if isinstance(r, MetricsColumns) else 1 for r in records) - taken
        if not fresh:
            return
        self.stats.records += taken
        self.stats.runs.add(run_id)
        update: dict[str, Any] = {}
        points: dict[str, tuple[array, array]] = {}
        lists, episodes, events = [], [], []
        for record in fresh:
            if isinstance(record, MetricsColumns):
                self._metric_columns(record, points, lists, update)
            elif isinstance(record, Metrics):
                self._metrics(record, points, lists, update)
            elif isinstance(record, Episode):
                episodes.append((run_id, record.seq, record.env_index, record.episode, record.episode_return,
                                 record.length, record.env_steps, _flag(record.success), record.t))
                update["last_return"] = record.episode_return
                update["episodes"] = update.get("episodes", 0) + 1
                # episodes end long before a PPO run's first metrics record: they move the count too
                update["env_steps"] = max(update.get("env_steps") or 0, record.env_steps)
            else:
                steps = getattr(record, "env_steps", None)
                events.append((run_id, record.seq, record.type, record.t, steps,
                               json.dumps(to_dict(record), separators=(",", ":"))))
                best_eval = self._event_fields(record, update, artifacts, best_eval)
        for key, (steps, values) in points.items():
            append_points(db, run_id, key, steps, values)
            self.stats.points += len(steps)
        db.executemany("INSERT OR IGNORE INTO metric_lists VALUES (?, ?, ?, ?, ?)", lists)
        db.executemany("INSERT OR IGNORE INTO episodes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", episodes)
        db.executemany("INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?, ?)", events)
        last = fresh[-1]
        self._update_run(update, last.seq[-1] if isinstance(last, MetricsColumns) else last.seq, artifacts)

    def _metrics(self, record: Metrics, points: dict[str, tuple[array, array]], lists: list, update: dict) -> None:
        step = record.env_steps
        scalars = {"opt_steps": record.opt_steps, "wall_time_s": record.wall_time_s, "sps": record.sps}
        scalars.update(record.values)
        for key, value in scalars.items():
            if isinstance(value, list):
                lists.append((self.run_id, key, record.seq, step, json.dumps(value)))
                continue
            series = points.get(key)
            if series is None:
                series = points[key] = (array("q"), array("d"))
            series[0].append(step)
            series[1].append(value)
        update["env_steps"], update["opt_steps"], update["sps"] = step, record.opt_steps, record.sps

    def _metric_columns(self, block: MetricsColumns, points: dict[str, tuple[array, array]], lists: list,
                        update: dict) -> None:
        """``_metrics`` for a run of records at once: each key's points are appended whole."""
        steps = block.env_steps
        scalars = {"opt_steps": block.opt_steps, "wall_time_s": block.wall_time_s, "sps": block.sps}
        scalars.update(block.values)
        for key, column in scalars.items():
            series = points.get(key)
            if key in block.list_keys:  # histograms, perhaps beside numbers: one by one
                for seq, step, value in zip(block.seq, steps, column, strict=True):
                    if isinstance(value, list):
                        lists.append((self.run_id, key, seq, step, json.dumps(value)))
                        continue
                    if series is None:
                        series = points[key] = (array("q"), array("d"))
                    series[0].append(step)
                    series[1].append(value)
                continue
            if series is None:
                series = points[key] = (array("q"), array("d"))
            series[0].extend(steps)
            series[1].extend(column)
        update["env_steps"], update["opt_steps"], update["sps"] = steps[-1], block.opt_steps[-1], block.sps[-1]

    def _event_fields(self, record: Record, update: dict, artifacts: list, best_eval: float | None) -> float | None:
        """What an event record (any but metrics and episodes) changes in its run's row: into
        ``update`` and ``artifacts``; returns the best evaluation so far."""
        if isinstance(record, Meta):
            config = self.config = dict(record.config)
            update.update(config=json.dumps(config), seed=record.seed, trace_id=record.trace_id, status="running",
                          reason=None, ended=None, env_id=_nested(config, "env", "env_id"),
                          algorithm=_nested(config, "agent", "algorithm"),
                          experiment=_nested(config, "store", "experiment_name"))
            update.setdefault("started", record.t)
        elif isinstance(record, Config):  # configuration made known after the meta: merged, key by key
            self.config.update(record.config)
            update["config"] = json.dumps(self.config)
            found = {"env_id": _nested(self.config, "env", "env_id"), "seed": record.seed,
                     "algorithm": _nested(self.config, "agent", "algorithm"),
                     "experiment": _nested(self.config, "store", "experiment_name")}
            update.update({key: value for key, value in found.items() if value is not None})
        elif isinstance(record, Checkpoint):
            update["checkpoints"] = update.get("checkpoints", 0) + 1
            update["last_checkpoint"] = record.path
            update["env_steps"] = record.env_steps
        elif isinstance(record, Eval):
            update["last_eval"] = record.mean_reward
            best_eval = record.mean_reward if best_eval is None else max(best_eval, record.mean_reward)
            update["best_eval"] = best_eval
        elif isinstance(record, Artifact):
            artifacts.append({"kind": record.kind, "path": record.path, "action": record.action, "t": record.t})
        elif isinstance(record, Resume):
            update["resumes"] = update.get("resumes", 0) + 1
            update.update(status="running", reason=None, ended=None, env_steps=record.env_steps,
                          opt_steps=record.opt_steps)
        elif isinstance(record, Error):
            update["reason"] = record.message
        elif isinstance(record, End):
            update.update(status=record.status, reason=record.reason, ended=record.t,
                          dropped=json.dumps(record.dropped) if record.dropped else None)
            if record.env_steps is not None:
                update["env_steps"] = record.env_steps
        return best_eval

    def _update_run(self, update: dict[str, Any], last_seq: int, artifacts: list) -> None:
        increments = {key: update.pop(key) for key in ("episodes", "checkpoints", "resumes") if key in update}
        started = update.pop("started", None)
        assignments = [f"{key} = ?" for key in update]
        params: list[Any] = list(update.values())
        assignments += [f"{key} = {key} + ?" for key in increments]
        params += list(increments.values())
        assignments += ["started = coalesce(started, ?)", "artifacts = ?", "ingested_seq = ?", "updated = ?"]
        params += [started, json.dumps(artifacts), last_seq, time.time(), self.run_id]
        self.db.execute(f"UPDATE runs SET {', '.join(assignments)} WHERE run_id = ?", params)


def _after(records: list[Record | MetricsColumns], watermark: int) -> list[Record | MetricsColumns]:
    """What is not in the store yet: the records with a ``seq`` above the run's ``watermark``."""
    fresh: list[Record | MetricsColumns] = []
    for record in records:
        if isinstance(record, MetricsColumns):
            record = record.after(watermark)
            if record is not None:
                fresh.append(record)
        elif record.seq > watermark:
            fresh.append(record)
    return fresh


def _nested(config: dict[str, Any], section: str, key: str) -> str | None:
    """``config[section][key]`` as text when the producer's meta has that shape (any program's may not)."""
    value = config.get(section)
    value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else None


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _row(columns: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(columns, row, strict=True))
    for key in JSON_COLUMNS:
        if key in out and isinstance(out[key], str):
            out[key] = json.loads(out[key])
    return out


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True
