"""The trainer service: start, stop, follow and settle supervised runs.

A library first: every method works from any process, because the state lives in the run store
(the ``runs`` table: queued -> running -> finished | failed | stopped | lost) and in each run's
directory (``launch.json``, ``worker.json``, ``stop.json``, ``exit.json``). ``tick`` does one round
of supervision and is what the daemon (``rlops runs daemon``) runs every ``poll_interval``:

1. settle the runs whose worker exited (``exit.json``) or vanished without one (lost);
2. escalate stops: SIGKILL to the group once ``stop_grace_s`` has passed since the SIGTERM, or
   since the trainer last showed progress toward its final checkpoint (``stop_progress.json``:
   an update in flight is finished, not lost), at most ``STOP_PROGRESS_LIMIT_S`` in all;
3. ingest what the running runs wrote to their logs, exactly once (by ``seq``), from where the
   last ingest stopped: a daemon killed and restarted picks up where the store says it was. This
   is the only ingest of a supervised run, whatever its runner: the rlops trainer it starts adds
   no store sink (``RLOPS_SUPERVISED``; the record path is drawn in ``rlops.sinks``);
4. launch queued runs, oldest first, while fewer than ``max_concurrent`` run.

Several processes may tick at once (the daemon, a CLI command): a queued run is claimed in one
SQLite transaction before launch, ingest skips what is in, and settling is idempotent.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rlops.errors import RlopsError, RunDirectoryError, RunStateError, UnknownNameError, UsageError
from rlops.events.schema import EventError, Record, decode
from rlops.options.schema import Options
from rlops.orchestrator.launch import (
    describe_exit,
    read_exit,
    read_launch,
    write_json_atomic,
    write_launch,
)
from rlops.orchestrator.preflight import preflight
from rlops.orchestrator.process import alive, reap_children, signal_group, spawn_worker
from rlops.orchestrator.runners import default_run_name, get_runner
from rlops.pipeline.stopping import STOP_PROGRESS_FILE
from rlops.sinks.recorder import new_trace_id
from rlops.store.ingest import ingest_log
from rlops.store.lines import LineReader
from rlops.store.run_dir import EVENTS_FILE, LAUNCH_FILE, OUTPUT_FILE, STOP_FILE, WORKER_FILE
from rlops.store.run_status import LIVE
from rlops.store.runs import RunStore

log = logging.getLogger(__name__)

LAUNCH_TIMEOUT_S = 60.0  # a claimed run with no worker after this was interrupted mid-launch
STOP_PROGRESS_LIMIT_S = 600.0  # a trainer finishing its update is waited for at most this long after the SIGTERM
UNSETTLED_WINDOW_S = 24 * 3600.0  # how far back an ended run may still get its exit status


class TrainerService:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.root = Path(options.store.model_dir)
        self.store = RunStore(options.store.db_path)
        self._ray: Any = None  # the Ray backend's side (orchestrator/ray_backend.py), joined when first needed

    def close(self) -> None:
        self.store.close()

    # -- the API -------------------------------------------------------------------------------

    def start(self, runner_name: str, args: list[str], name: str | None = None) -> str:
        """Check, create and queue a run (launched at once when a slot is free); return its id."""
        runner = get_runner(runner_name)
        run_id = name or default_run_name(runner, list(args))
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", run_id) or run_id in {".", ".."}:
            raise UsageError(f"run name {run_id!r} is not a plain directory name", hint="use letters, digits, . _ -")
        run_dir = self.root / run_id
        if run_dir.exists() or self._known(run_id):  # a pruned run's row stays: its name is taken for good
            raise RunDirectoryError(f"run {run_id!r} already exists in {self.root}", hint="choose another --name")
        spec, capabilities = runner.prepare(run_id, run_dir, list(args), self.options)  # bad arguments fail here
        on_ray = self.options.orchestrator.backend == "ray"
        if on_ray:  # a Ray run's pre-flight is its node's (ray_actor.py); the cluster must answer now
            _ray_backend().connect(self.options)
        else:
            preflight(capabilities, self.options, self.root)  # ... and a run that cannot start here, here
        run_dir.mkdir(parents=True)
        spec.trace_id = new_trace_id()
        # The run gets the environment of whoever started it, whichever process launches it later
        # (the daemon's may lack CUDA_VISIBLE_DEVICES, a virtualenv's PATH, credentials).
        spec.env = {**os.environ, **spec.env, "RLOPS_RUN_ID": run_id, "RLOPS_RUN_DIR": str(run_dir.resolve()),
                    "RLOPS_TRACE_ID": spec.trace_id}
        write_launch(run_dir, spec)
        self.store.register_run(run_id, run_dir.resolve(), (run_dir / EVENTS_FILE).resolve(), runner=runner_name)
        if on_ray:
            _ray_backend().prepare(self.options, run_dir, runner_name, list(args))
            self.store.set_backend(run_id, "ray")
        self.store.queue_run(run_id, spec.env_id, spec.algorithm, spec.trace_id)
        log.info("run %s queued (%s: %s)", run_id, runner_name, " ".join(spec.argv))
        self.tick()
        return run_id

    def stop(self, run_id: str, reason: str | None = None) -> str:
        """Stop a run: a queued one never starts; a running one gets SIGTERM, SIGKILL after the grace."""
        run = self.store.get_run(run_id)
        if run["status"] == "queued" and self.store.stop_queued(run_id, "stopped before it started"):
            return "stopped"
        run = self.store.get_run(run_id)  # launched meanwhile, perhaps
        if run["status"] != "running":
            raise RunStateError(f"run {run_id} is {run['status']}, not running", hint="rlops runs list shows runs")
        if not _supervised(run):
            raise RunStateError(f"run {run_id} was not started by the orchestrator (rlops train in a terminal)",
                                hint=f"stop it where it runs (Ctrl-C), or: kill -TERM {run['pid']}")
        run_dir = Path(run["run_dir"])
        if not (run_dir / STOP_FILE).exists():
            write_json_atomic(run_dir / STOP_FILE, {"asked": time.time(), "reason": reason})
        if run.get("backend") == "ray":
            self.ray_runs.stop(run, reason)
            return "stopping"
        pid = self._worker_pid(run_dir)
        if pid is not None:
            signal_group(pid, signal.SIGTERM)
        return "stopping"

    def status(self, run_id: str | None = None) -> Any:
        self.tick()
        return self.store.get_run(run_id) if run_id else self.store.list_runs()

    def stream(self, run_id: str, follow: bool = False, poll: float = 0.25) -> Iterator[Record]:
        """The run's records in order; with ``follow``, new ones as they come, until the run has ended."""
        reader = LineReader(self.store.get_run(run_id)["log_path"])
        while True:
            ended = self.store.get_run(run_id)["status"] not in LIVE  # read before the last look at the file
            before = reader.read_to
            for _, line in reader.lines():
                if line.strip():
                    try:
                        yield decode(line)
                    except EventError:
                        continue  # the validator's business (rlops log validate), not a follower's
            if not follow or (ended and reader.read_to == before):
                return
            time.sleep(poll)
            self.tick()

    def output(self, run_id: str) -> Path:
        return Path(self.store.get_run(run_id)["run_dir"]) / OUTPUT_FILE

    # -- supervision ---------------------------------------------------------------------------

    def tick(self, until: float | None = None) -> None:
        """One round of supervision. ``until`` (``time.monotonic()``, the daemon's next round): the
        round's Ray runs are followed until then (their replies taken as they come in)."""
        reap_children()
        on_ray = []
        for run in self.store.list_runs(status="running"):
            if _supervised(run):
                if run.get("backend") == "ray":
                    on_ray.append(run)  # supervised through its actor, below
                else:
                    self.guarded(run, self._supervise)
        for run in self.store.unsettled(since=time.time() - UNSETTLED_WINDOW_S):
            # Ended by its own end record (the exit code is still to add), or marked lost by a reader
            # that only saw a dead pid (rlops runs list): ingest the rest of its log, and settle it
            # from its worker's exit status if there is one.
            if _supervised(run):
                if run.get("backend") == "ray":
                    on_ray.append(run)
                else:
                    self.guarded(run, self._finish_ended)
        if on_ray:
            try:
                self.ray_runs.tick(on_ray)
            except RlopsError as exc:  # the cluster unreachable this round: the local runs go on
                log.warning("Ray runs: supervision failed this round: %s", exc.message)
        self._launch_queued()
        if on_ray and until is not None:
            try:
                self.ray_runs.follow(on_ray, until)
            except RlopsError as exc:
                log.warning("Ray runs: supervision failed this round: %s", exc.message)

    @property
    def ray_runs(self) -> Any:
        if self._ray is None:
            self._ray = _ray_backend().RayRuns(self)
        return self._ray

    def guarded(self, run: dict[str, Any], step: Any) -> None:
        """One run's step; a failure (a record the store cannot take...) is logged once per round and
        never keeps the other runs from being supervised or the queue from moving."""
        try:
            step(run)
        except Exception as exc:
            log.warning("run %s: supervision failed this round: %s: %s", run["run_id"], type(exc).__name__, exc)

    def _finish_ended(self, run: dict[str, Any]) -> None:
        self.ingest_new(run)
        exit_status = read_exit(Path(run["run_dir"]))
        if exit_status is not None:
            self.settle_exited(run["run_id"], exit_status, (Path(run["run_dir"]) / STOP_FILE).exists())

    def _supervise(self, run: dict[str, Any]) -> None:
        run_id, run_dir = run["run_id"], Path(run["run_dir"])
        self.ingest_new(run)
        exit_status = read_exit(run_dir)
        pid = self._worker_pid(run_dir)
        stop = _read_json(run_dir / STOP_FILE)
        gone = exit_status is None and pid is not None and not alive(pid)
        if gone:
            # The worker writes its status (durably) before it exits: one that did both between the
            # look above and this one is gone with its status there now. Only a status still absent
            # once the worker is seen gone means lost: without this second look a run that ended
            # between the two was settled lost though it finished (the Ray actor's mend of the
            # same race: RunActor._read).
            exit_status = read_exit(run_dir)
            gone = exit_status is None
        if exit_status is not None:
            self.ingest_new(run)  # what the worker wrote before it left
            self.settle_exited(run_id, exit_status, stop is not None)
        elif pid is None:
            if run["status"] == "running" and time.time() - (run["started"] or 0) > LAUNCH_TIMEOUT_S:
                self.store.settle(run_id, "lost", "its launch was interrupted (no worker started)", None)
        elif gone:
            self.ingest_new(run)
            status = "stopped" if stop else "lost"
            reason = "killed after the stop grace period" if stop else \
                "its processes are gone without an exit status (killed while nobody watched?)"
            self.store.settle(run_id, status, reason, None)
            log.warning("run %s is %s: %s", run_id, status, reason)
        elif stop and time.time() - stop["asked"] > self.options.orchestrator.stop_grace_s \
                and not _finishing(run_dir, stop, self.options.orchestrator.stop_grace_s):
            if not stop.get("killed"):
                write_json_atomic(run_dir / STOP_FILE, {**stop, "killed": time.time()})
            signal_group(pid, signal.SIGKILL)

    def settle_exited(self, run_id: str, exit_status: Any, stop_asked: bool) -> None:
        """A run whose program has exited: its end record's status if it wrote one, else the exit's."""
        run = self.store.get_run(run_id)
        code = exit_status.exit_code
        if run["exit_code"] is not None:
            return  # settled already
        if run["status"] in ("finished", "failed", "stopped"):  # the run's own end record said
            status, reason = run["status"], run["reason"]
        elif exit_status.stopped or stop_asked:
            status, reason = "stopped", "stopped on request"
        elif code == 0:
            status, reason = "finished", None
        else:
            status, reason = "failed", describe_exit(code)
        if exit_status.bad_lines:
            self.store.count_bad_lines(run_id, exit_status.bad_lines - run.get("bad_lines", 0))
        self.store.settle(run_id, status, reason, code)
        log.info("run %s %s%s", run_id, status, f" ({reason})" if reason else "")

    def ingest_new(self, run: dict[str, Any]) -> None:
        """What the run's log holds beyond the store's ``ingested_bytes``, into the store.

        The offset is the one in ``run``, the row this round read, moved on here after each ingest:
        no query per run and round. An offset another process has since moved past only means
        lines read again, and those are skipped by ``seq`` (the store's watermark), never doubled."""
        log_path = Path(run["log_path"]) if run["log_path"] else None
        if log_path is None:
            return
        try:
            size = log_path.stat().st_size
        except FileNotFoundError:
            return
        if size <= run["ingested_bytes"]:
            return  # nothing new: one stat is the whole cost of a quiet run's round
        done = ingest_log(self.store, log_path, offset=run["ingested_bytes"], run_dir=Path(run["run_dir"]))
        run["ingested_bytes"] = done.offset

    def _launch_queued(self) -> None:
        for run in sorted(self.store.list_runs(status="queued"), key=lambda r: r["created"]):
            if not self.store.claim_queued(run["run_id"], self.options.orchestrator.max_concurrent):
                if len(self.store.list_runs(status="running")) >= self.options.orchestrator.max_concurrent:
                    return  # the slots are full: the rest wait, in order
                continue  # another process launched this one
            run_dir = Path(run["run_dir"])
            read_launch(run_dir)  # a launch file that cannot be read fails here, loudly
            if run.get("backend") == "ray":
                self.guarded(run, lambda r: self.ray_runs.submit(r))  # Ray places it; a failure: next round
                continue
            pid = spawn_worker(run_dir.resolve(), nice=self.options.orchestrator.run_nice)
            write_json_atomic(run_dir / WORKER_FILE, {"pid": pid, "started": time.time()})
            self.store.set_pid(run["run_id"], pid)
            log.info("run %s started (worker pid %d)", run["run_id"], pid)

    def _worker_pid(self, run_dir: Path) -> int | None:
        worker = _read_json(run_dir / WORKER_FILE)
        return worker["pid"] if worker else None

    def _known(self, run_id: str) -> bool:
        try:
            self.store.get_run(run_id)
        except UnknownNameError:
            return False
        return True


def _ray_backend() -> Any:
    """The Ray backend's module, imported when a Ray run is first met: what it imports (the remote
    models' registry rows bring the evaluation code, SB3 and torch) cost every daemon and every
    ``rlops runs`` command seconds of start-up and hundreds of MB, Ray or not."""
    from rlops.orchestrator import ray_backend

    return ray_backend


def _finishing(run_dir: Path, stop: dict[str, Any], grace: float) -> bool:
    """The program acknowledged the stop and shows progress toward its final checkpoint: its
    ``stop_progress.json`` moved within the last grace period. SIGKILL waits for it, up to
    ``STOP_PROGRESS_LIMIT_S`` after the SIGTERM; one that stands still is killed after one grace."""
    progress = _read_json(run_dir / STOP_PROGRESS_FILE)
    now = time.time()
    if progress is None or now - stop["asked"] > max(STOP_PROGRESS_LIMIT_S, grace):
        return False
    updated = progress.get("updated")
    return isinstance(updated, int | float) and updated >= stop["asked"] - 1.0 and now - updated <= grace


def _supervised(run: dict[str, Any]) -> bool:
    return bool(run["run_dir"]) and (Path(run["run_dir"]) / LAUNCH_FILE).exists()


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
