"""TensorBoard for a run, on demand: ``POST /api/runs/{id}/tensorboard`` starts ``tensorboard``
on a free loopback port over the run's event-file directories (rlops' ``tensorboard/``, a CleanRL
script's ``runs/``) and returns its URL; ``DELETE`` stops it. One per run, at most
``MAX_RUNNING`` at once (the oldest gives way); all stop with the server.

TensorBoard has no authentication, so it listens on loopback only, whatever address the
dashboard is bound to: from another machine, tunnel its port (``ssh -L``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

from rlops.errors import UsageError

EVENT_DIRS = ("tensorboard", "runs")
MAX_RUNNING = 4  # each is a process of a few hundred MB


class TensorBoards:
    def __init__(self) -> None:
        self.running: dict[str, tuple[subprocess.Popen, int]] = {}
        self.lock = threading.Lock()

    def start(self, run_id: str, run_dir: Path) -> dict[str, object]:
        with self.lock:
            existing = self.running.get(run_id)
            if existing is not None and existing[0].poll() is None:
                return {"run_id": run_id, "url": _url(existing[1]), "started": False}
            logdirs = [run_dir / name for name in EVENT_DIRS if any((run_dir / name).rglob("events.out.tfevents.*"))]
            if not logdirs:
                raise UsageError(f"run {run_id} has no TensorBoard event files",
                                 hint="train with --store.backend tensorboard, or run a script that writes runs/")
            if shutil.which("tensorboard") is None and not _importable():
                raise UsageError("tensorboard is not installed", hint="pip install -c constraints.txt 'rlops[tensorboard]'")
            self._reap()
            while len(self.running) >= MAX_RUNNING:  # dicts keep insertion order: the oldest first
                _end(self.running.pop(next(iter(self.running)))[0])
            port = _free_port()
            spec = ",".join(f"{path.name}:{path}" for path in logdirs)
            process = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir_spec", spec,
                                        "--host", "127.0.0.1", "--port", str(port)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            self.running[run_id] = (process, port)
            return {"run_id": run_id, "url": _url(port), "started": True}

    def _reap(self) -> None:
        """Forget (and wait for) TensorBoards that exited on their own."""
        for run_id, (process, _) in list(self.running.items()):
            if process.poll() is not None:
                del self.running[run_id]

    def url(self, run_id: str) -> str | None:
        """The URL of the run's TensorBoard while it runs."""
        with self.lock:
            self._reap()
            entry = self.running.get(run_id)
        return _url(entry[1]) if entry is not None and entry[0].poll() is None else None

    def stop(self, run_id: str) -> bool:
        with self.lock:
            entry = self.running.pop(run_id, None)
        if entry is None:
            return False
        _end(entry[0])
        return True

    def stop_all(self) -> None:
        for run_id in list(self.running):
            self.stop(run_id)


def _end(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}/"
