"""The daemon: one per runs directory, ticking the trainer service until it is told to stop.

One instance is guaranteed by an exclusive ``flock`` on ``<model_dir>/daemon.lock`` (released by
the kernel however the daemon dies, so a SIGKILLed daemon never blocks the next one). It owns no
run: each run's worker is its own session, so killing the daemon stops nothing; a new daemon
settles what ended meanwhile and ingests what was written meanwhile, exactly once.

A daemon that ``rlops runs start`` or ``rlops sweep`` started on the user's behalf leaves once
nothing has been queued or running for ``orchestrator.idle_exit_s``: one per runs directory would
otherwise pile up on a laptop. One started on purpose (``rlops runs daemon``, ``rlops ui``) stays.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rlops.errors import RlopsError
from rlops.options.schema import Options

if TYPE_CHECKING:
    from rlops.orchestrator.service import TrainerService

log = logging.getLogger(__name__)
LOCK_FILE = "daemon.lock"
DAEMON_LOG = "daemon.log"


def _lock(root: Path) -> int | None:
    """The held lock's descriptor, or None if another daemon holds it."""
    root.mkdir(parents=True, exist_ok=True)
    handle = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(handle)
        return None
    os.ftruncate(handle, 0)
    os.write(handle, str(os.getpid()).encode())
    return handle


def daemon_pid(root: Path) -> int | None:
    """The pid of the daemon supervising ``root``, or None; creates nothing (``rlops runs list`` asks)."""
    path = root / LOCK_FILE
    if not path.is_file():
        return None
    handle = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        text = os.read(handle, 32).decode(errors="replace").strip()
        return int(text) if text.isdigit() else 0
    finally:
        os.close(handle)  # closing releases the lock if we took it
    return None


def daemon_running(root: Path) -> bool:
    handle = _lock(root)
    if handle is None:
        return True
    os.close(handle)
    return False


def run_daemon(options: Options, exit_when_idle: bool = False) -> int:
    """Supervise in the foreground until SIGTERM or SIGINT (or, with ``exit_when_idle``, until
    nothing has been queued or running for ``orchestrator.idle_exit_s``)."""
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    idle = options.orchestrator.idle_exit_s
    supervise(options, stopping, idle_exit_s=idle if exit_when_idle and idle > 0 else None)
    return 0


def supervise(options: Options, stopping: threading.Event, idle_exit_s: float | None = None) -> bool:
    """Tick until ``stopping`` is set (or the runs have been idle ``idle_exit_s``), holding the runs
    directory's lock; False at once if another daemon holds it (it supervises, this one need not)."""
    from rlops.orchestrator.service import TrainerService
    from rlops.store.run_status import LIVE

    root = Path(options.store.model_dir)
    handle = _lock(root)
    if handle is None:
        log.info("a daemon already supervises %s", root)
        return False
    service = TrainerService(options)
    log.info("daemon %d supervising %s (at most %d runs at once)%s", os.getpid(), root,
             options.orchestrator.max_concurrent,
             f"; exits after {idle_exit_s:g} s with nothing queued or running" if idle_exit_s else "")
    busy_at = time.monotonic()

    def round_() -> bool:
        nonlocal busy_at
        try:
            service.tick(until=time.monotonic() + options.orchestrator.poll_interval)
            if idle_exit_s is not None:
                if any(service.store.list_runs(status=status, limit=1) for status in LIVE):
                    busy_at = time.monotonic()
                elif time.monotonic() - busy_at >= idle_exit_s:
                    log.info("daemon %d: nothing queued or running for %g s: exiting", os.getpid(), idle_exit_s)
                    return False
        except Exception:  # one bad round (a run directory deleted under us...) must not end supervision
            log.exception("supervision round failed; trying again")
        return True

    try:
        if options.orchestrator.backend == "ray":
            _join_ray(service)
        tick_every(options.orchestrator.poll_interval, round_, stopping)
    finally:
        service.close()
        os.close(handle)
    return True


def _join_ray(service: TrainerService) -> None:
    """A daemon for Ray runs joins the cluster as it starts, not only with its first Ray run:
    joining ends the actors that settled runs left (a daemon killed between a settle and the end it
    sends next), which would otherwise hold their nodes' resources for as long as no Ray run comes.
    A cluster that does not answer now does not stop the daemon: it joins with its first Ray run."""
    on_sigterm = signal.getsignal(signal.SIGTERM)
    try:
        service.ray_runs  # noqa: B018 - joining is the point: RayRuns.__init__ ends the left-over actors
    except Exception as exc:  # BackendError as a rule; Ray's own errors too: the local runs go on
        why = exc.message if isinstance(exc, RlopsError) else f"{type(exc).__name__}: {exc}"
        log.warning("daemon %d: cannot join the Ray cluster now (%s); left-over actors of settled runs are "
                    "ended when it joins, with its first Ray run", os.getpid(), why)
    finally:
        # ray.init in the main thread makes SIGTERM a sys.exit(15) (its driver's handler): the
        # daemon's own is put back (run_daemon's: end the round, close the store, exit 0).
        if on_sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, on_sigterm)


def tick_every(period: float, step: Callable[[], bool], stopping: threading.Event,
               clock: Callable[[], float] = time.monotonic) -> int:
    """Call ``step`` at the start of every ``period`` until ``stopping`` is set or ``step`` returns
    False; return how many times it was called.

    The wait is what is left of the period, not the period itself: waiting a whole period after
    each round made the period round + ``poll_interval`` and every record's lag that much longer
    (with 20 busy runs a round takes about as long as the interval). A round that overran its
    period is followed at once, and the schedule restarts from then: rounds that fell behind are
    not made up in a burst."""
    calls = 0
    due = clock()
    while not stopping.is_set():
        calls += 1
        if not step():
            break
        now = clock()
        due = max(due + period, now)
        stopping.wait(due - now)
    return calls


def ensure_daemon(options: Options) -> bool:
    """Start a daemon for this runs directory unless one runs; True if one was started."""
    root = Path(options.store.model_dir)
    if daemon_running(root):
        return False
    orchestrator = options.orchestrator
    args = ["--store.model-dir", str(root.resolve()), "--store.db-path", str(Path(options.store.db_path).resolve()),
            "--orchestrator.max-concurrent", str(orchestrator.max_concurrent),
            "--orchestrator.stop-grace-s", str(orchestrator.stop_grace_s),
            "--orchestrator.poll-interval", str(orchestrator.poll_interval),
            "--orchestrator.idle-exit-s", str(orchestrator.idle_exit_s), "--exit-when-idle"]
    if orchestrator.python:
        args += ["--orchestrator.python", orchestrator.python]
    if options.ray.address != "auto":  # the daemon joins the cluster its Ray runs were started for
        args += ["--ray.address", options.ray.address]
    with open(root / DAEMON_LOG, "ab") as out:
        _started.append(subprocess.Popen([sys.executable, "-m", "rlops", "runs", "daemon", *args],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True))
    return True


# Daemons started by this process: held so that a handle is never collected while its daemon runs
# (the daemon outlives us by design; it is not waited for).
_started: list[subprocess.Popen] = []
