"""What a user means by RUN: the id ``rlops runs list`` prints, the run's directory or its event log.

Every command that takes a run resolves it here, so each accepts all three and they agree on
what is meant: a path that exists is taken as given; anything else is a run id, looked up in the
run store and then under ``store.model_dir``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rlops.errors import UnknownNameError, UsageError
from rlops.store.runs import RunStore

EVENTS_FILE = "train_log.jsonl"
HINT = f"give a {EVENTS_FILE} (or another JSONL event log), a run directory holding one, or a run id (rlops runs list)"


@dataclass(frozen=True)
class RunRef:
    run_id: str
    run_dir: Path | None  # None for a run the store knows without a directory (a bare command's run)
    log_path: Path | None  # the event log, when there is one

    def require_log(self) -> Path:
        if self.log_path is None or not self.log_path.is_file():
            raise UsageError(f"no event log at {str(self.log_path or self.run_dir)!r} (run {self.run_id!r})",
                             hint=HINT + "; a run that has not started writes none yet")
        return self.log_path

    def require_dir(self) -> Path:
        if self.run_dir is None or not self.run_dir.is_dir():
            raise UsageError(f"run {self.run_id!r} has no run directory here ({self.run_dir or 'none recorded'})",
                             hint="rlops runs show RUN says where its files are")
        return self.run_dir


def resolve_run(ref: str | Path, db_path: str | Path, model_dir: str | Path) -> RunRef:
    """The run ``ref`` names: an event log file, a run directory, or a run id."""
    path = Path(ref)
    rows = _store_rows(db_path)
    if path.is_file():
        return RunRef(_id_for_dir(path.parent, rows), path.parent, path)
    if path.is_dir():
        run_id = _id_for_dir(path, rows)
        row = rows.get(run_id)
        log = Path(row["log_path"]) if row and row.get("log_path") else path / EVENTS_FILE
        return RunRef(run_id, path, log if log.is_file() else path / EVENTS_FILE)
    name = str(ref)
    if "/" in name or name.endswith(".jsonl"):  # meant as a path, and there is nothing there
        raise UsageError(f"no event log at {name!r}: no such file or directory", hint=HINT)
    if name in rows:
        row = rows[name]
        run_dir = Path(row["run_dir"]) if row.get("run_dir") else None
        log = Path(row["log_path"]) if row.get("log_path") else (run_dir / EVENTS_FILE if run_dir else None)
        return RunRef(name, run_dir, log)
    candidate = Path(model_dir) / name
    if candidate.is_dir():
        return RunRef(name, candidate, candidate / EVENTS_FILE)
    known = list(rows) + ([p.name for p in Path(model_dir).iterdir() if p.is_dir()] if Path(model_dir).is_dir() else [])
    raise UnknownNameError("run", name, known, hint=f"{HINT}; there is no such file or directory either")


def _store_rows(db_path: str | Path) -> dict[str, dict]:
    if not Path(db_path).is_file():  # reading must not create a database where there is none
        return {}
    store = RunStore(db_path)
    try:
        return {row["run_id"]: row for row in store.list_runs()}
    finally:
        store.close()


def _id_for_dir(directory: Path, rows: dict[str, dict]) -> str:
    """The store's id of the run in ``directory`` (its name when the store does not know it)."""
    resolved = directory.resolve()
    for run_id, row in rows.items():
        if row.get("run_dir") and Path(row["run_dir"]).resolve() == resolved:
            return run_id
    return directory.name
