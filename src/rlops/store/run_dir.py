"""The directory of one run: its resolved options, checkpoints and logs, under ``store.model_dir``.
The file names are said here once; every module that reads or writes one imports its name.

    <model_dir>/<run_name>/
        options.json     the resolved options (the seed that was drawn included)
        checkpoints/     step-<env_steps>/ ... (see pipeline.checkpoints)
        train_log.jsonl  the event log (schema v1), the run's source of truth
        train.log        human-readable log (``rlops train`` in a terminal)
        receipts/        failure receipts, one directory per trace id
        eval.json        the last evaluation
      a supervised run's (see orchestrator.launch):
        launch.json      what it was launched with (owner-only: the starting environment)
        output.log       the program's stdout and stderr text
        stop.json        a stop was asked for (when)
        exit.json        how its program exited
        worker.json      the worker process that supervises it
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlops.errors import RunDirectoryError

OPTIONS_FILE = "options.json"
EVENTS_FILE = "train_log.jsonl"
TEXT_LOG_FILE = "train.log"
EVAL_FILE = "eval.json"
CHECKPOINTS_DIR = "checkpoints"
LAUNCH_FILE = "launch.json"
OUTPUT_FILE = "output.log"  # never parsed away, never lost
STOP_FILE = "stop.json"  # a restarted daemon still escalates to SIGKILL
EXIT_FILE = "exit.json"
WORKER_FILE = "worker.json"  # the worker process that supervises it


@dataclass(frozen=True)
class RunDirectory:
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def options_file(self) -> Path:
        return self.path / OPTIONS_FILE

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS_DIR

    @property
    def log_file(self) -> Path:
        return self.path / TEXT_LOG_FILE

    @property
    def events_file(self) -> Path:
        return self.path / EVENTS_FILE

    @property
    def eval_file(self) -> Path:
        return self.path / EVAL_FILE

    def read_options(self) -> dict[str, Any]:
        try:
            return json.loads(self.options_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunDirectoryError(f"{self.path} is not a run directory: it has no {OPTIONS_FILE}",
                                    hint="give a directory under store.model_dir (rlops runs list shows them)") from None
        except json.JSONDecodeError as exc:
            raise RunDirectoryError(f"{self.options_file} is not valid JSON: {exc}") from None

    def write_json(self, path: Path, data: Any) -> None:
        """Write a small JSON file atomically (temporary name, fsync, rename)."""
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(temp, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)


def inside_run_dir(run_dir: str | Path, path: str) -> Path | None:
    """The file ``path`` names inside ``run_dir``, or None if it could be anywhere else: a path from
    a request or from a record of a log is taken literally (``%2e%2e`` is a file name), and one with
    a NUL, a backslash, a drive or a root, or that resolves (symlinks followed) outside the run
    directory or to the directory itself, is refused. (A crafted log must not make a backend upload
    ``~/.aws/credentials``; a crafted URL must not serve it.)"""
    if not path or "\x00" in path or "\\" in path or path.startswith("/") or ":" in path.split("/", 1)[0]:
        return None
    root = Path(run_dir).resolve()
    try:
        target = (root / path).resolve()
    except (OSError, ValueError):
        return None
    return target if target.is_relative_to(root) and target != root else None


def run_name_for(env_id: str, algorithm: str) -> str:
    env = re.sub(r"[^A-Za-z0-9_.-]+", "_", env_id.split(":")[-1])
    return f"{env}-{algorithm}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"


def create_run_directory(model_dir: str | Path, run_name: str) -> RunDirectory:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", run_name) or run_name in {".", ".."}:
        raise RunDirectoryError(f"store.run_name {run_name!r} is not a plain directory name",
                                hint="use letters, digits, '.', '_' and '-'")
    run = RunDirectory(Path(model_dir) / run_name)
    if run.options_file.exists():
        raise RunDirectoryError(f"run {run_name!r} already exists in {model_dir}",
                                hint="add --train.resume to continue it, or choose another --store.run-name")
    run.checkpoints.mkdir(parents=True, exist_ok=True)
    return run


def find_run_directory(model_dir: str | Path, run_name: str | None) -> RunDirectory:
    """The named run, or the most recently started run under ``model_dir``."""
    root = Path(model_dir)
    if run_name:
        run = RunDirectory(root / run_name)
        if not run.options_file.is_file():
            raise RunDirectoryError(f"no run {run_name!r} under {str(root)!r}",
                                    hint=f"list runs with: ls {root}")
        return run
    runs = sorted((path for path in root.glob(f"*/{OPTIONS_FILE}")), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise RunDirectoryError(f"no run to resume under {str(root)!r}",
                                hint="start one with rlops train, or set store.model_dir")
    return RunDirectory(runs[-1].parent)
