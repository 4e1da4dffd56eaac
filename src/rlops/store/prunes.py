"""The janitor's two-phase prune of a run directory, across the runs and models tables.

Deleting a directory cannot share a transaction with the rows that describe it, so two
transactions bracket it. ``begin_prune`` writes the intent: the run marked ``pruning`` and every
model whose checkpoint is in the directory marked with the run (which hides it from every registry
read at once). Then the files go. Then ``finish_prune`` deletes those models, adds what was pruned
to the run's manifest and marks the run ``pruned``. A janitor killed anywhere in between leaves
marks, never a row that looks whole over files that are gone; the next janitor finishes what the
marks say (``pending_prunes``). A model an evaluation holds (``Registry.hold``) stops the intent.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from rlops.events.schema import Artifact
from rlops.store.db import write
from rlops.store.registry import live_leases
from rlops.store.runs import RunStore


def begin_prune(store: RunStore, run_id: str, run_dir: Path) -> str | None:
    """Mark ``run_id`` and the models in ``run_dir`` for deletion, in one transaction; or, writing
    nothing, say why not (a model in it is held by an evaluation)."""
    with write(store.connection) as db:
        inside = _models_inside(db, run_id, Path(run_dir))
        held = live_leases(db)
        for model_id in inside:
            if model_id in held:
                return f"holds model {model_id} ({held[model_id]})"
        db.execute("UPDATE runs SET pruned = 'pruning', updated = ? WHERE run_id = ?", (time.time(), run_id))
        db.executemany("UPDATE models SET pruning = ? WHERE id = ?", [(run_id, model_id) for model_id in inside])
    return None


def finish_prune(store: RunStore, run_id: str, artifacts: Sequence[Artifact]) -> list[int]:
    """The directory is gone: delete the models marked with the run, add ``artifacts`` (what was
    pruned) to its manifest and mark it pruned, in one transaction. Returns the deleted models' ids."""
    with write(store.connection) as db:
        removed = [model_id for (model_id,) in db.execute("SELECT id FROM models WHERE pruning = ?", (run_id,))]
        db.execute("DELETE FROM models WHERE pruning = ?", (run_id,))
        row = db.execute("SELECT artifacts, pruned FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        manifest = json.loads(row[0] or "[]") if row else []
        if row is None or row[1] != "pruned":  # two janitors at once: the second records nothing again
            manifest += [{"kind": a.kind, "path": a.path, "action": a.action, "t": a.t} for a in artifacts]
        db.execute("UPDATE runs SET artifacts = ?, pruned = 'pruned', updated = ? WHERE run_id = ?",
                   (json.dumps(manifest), time.time(), run_id))
    return removed


def pending_prunes(store: RunStore) -> list[str]:
    """Runs whose prune was begun and never finished (a janitor killed mid-sweep), oldest first."""
    rows = store.connection.execute("SELECT run_id FROM runs WHERE pruned = 'pruning' ORDER BY created, run_id")
    return [run_id for (run_id,) in rows]


def _models_inside(db: sqlite3.Connection, run_id: str, run_dir: Path) -> list[int]:
    """Models whose checkpoint is in ``run_dir``: the run's own, and any other registered from there."""
    prefix = str(run_dir).rstrip("/") + "/"
    rows = db.execute("SELECT id, model_path FROM models WHERE pruning IS NULL AND (run_id = ? OR substr(model_path, "
                      "1, ?) = ?)", (run_id, len(prefix), prefix)).fetchall()
    return [model_id for model_id, path in rows if Path(path).resolve().is_relative_to(run_dir)]
