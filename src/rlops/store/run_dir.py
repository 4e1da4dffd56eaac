"""The directory of one run: its resolved options, checkpoints and logs, under ``store.model_dir``.

    <model_dir>/<run_name>/
        options.json     the resolved options (the seed that was drawn included)
        checkpoints/     step-<env_steps>/ ... (see pipeline.checkpoints)
        train_log.jsonl  the event log (schema v1), the run's source of truth
        train.log        human-readable log
        receipts/        failure receipts, one directory per trace id
        eval.json        the last evaluation
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
        return self.path / "checkpoints"

    @property
    def log_file(self) -> Path:
        return self.path / "train.log"

    @property
    def events_file(self) -> Path:
        return self.path / "train_log.jsonl"

    @property
    def eval_file(self) -> Path:
        return self.path / "eval.json"

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
