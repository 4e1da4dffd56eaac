"""What a supervised run is launched with, and what it left when it exited: two small JSON files
in the run directory, so that any process (a restarted daemon, the CLI) can pick a run up.

``launch.json`` is written by the service before the run starts; ``exit.json`` by the run's
worker when its program has exited. A run whose worker is gone without an ``exit.json`` was
killed (the machine rebooted, someone sent SIGKILL to its group): it is lost.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rlops.store.run_dir import EXIT_FILE, LAUNCH_FILE


@dataclass
class LaunchSpec:
    run_id: str
    runner: str
    argv: list[str]
    protocol: str  # rlops: the program writes its own log | command: records on stdout | cleanrl: TensorBoard scalars
    cwd: str
    env: dict[str, str] = field(default_factory=dict)  # added to the environment the run inherits
    trace_id: str = ""
    env_id: str | None = None
    algorithm: str | None = None
    stop_grace_s: float = 10.0  # what the worker gives the processes a program left behind, SIGTERM to SIGKILL


@dataclass
class ExitStatus:
    exit_code: int  # the program's; negative: killed by that signal
    ended: float
    stopped: bool = False  # the exit followed a stop request
    records: int = 0  # records the worker wrote to the log (command, cleanrl)
    text_lines: int = 0  # lines kept as log text
    bad_lines: int = 0  # lines that looked like records but were not valid ones (kept as text too)
    wrote_end: bool = False  # the worker wrote the run's end record (command and cleanrl runs)
    left_behind: list[int] = field(default_factory=list)  # pids the worker ended once the program had exited


def write_json_atomic(path: Path, data: Any, mode: int = 0o644) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


def write_launch(run_dir: Path, spec: LaunchSpec) -> None:
    """Owner-only: it holds the starting environment, credentials included."""
    write_json_atomic(Path(run_dir) / LAUNCH_FILE, asdict(spec), mode=0o600)


def read_launch(run_dir: Path) -> LaunchSpec:
    return LaunchSpec(**json.loads((Path(run_dir) / LAUNCH_FILE).read_text(encoding="utf-8")))


def write_exit(run_dir: Path, status: ExitStatus) -> None:
    write_json_atomic(Path(run_dir) / EXIT_FILE, asdict(status))


def read_exit(run_dir: Path) -> ExitStatus | None:
    try:
        return ExitStatus(**json.loads((Path(run_dir) / EXIT_FILE).read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None


def describe_exit(code: int) -> str:
    """'exit code 3', 'killed by SIGKILL', 'killed by signal 35' (real-time signals have no name)."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
