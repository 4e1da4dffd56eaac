"""The Ray backend: a queued run executes on some node of a Ray cluster, its records come home.

The daemon's side of ``orchestrator.backend = "ray"``. A run is still checked, queued and claimed
by the trainer service as on one machine; when it is launched, this module creates a detached,
named Ray actor (``ray_actor.RunActor``) with the run's resources, and Ray's scheduler picks the
node. Each run's actor then always has one read outstanding: what its files gained since the
daemon's copies end (the daemon's ``train_log.jsonl`` and ``output.log`` in the run's directory
are the node's, byte for byte). A round of supervision never waits for any one actor: it takes the
replies that are in (``ray.wait`` with no timeout), appends them, makes the appends durable
together (one journal commit for all, not an fsync each in turn), ingests the log as for a local
run (exactly once by ``seq``, from ``ingested_bytes``) and asks those actors again; a slow or
frozen actor holds back only its own run. The daemon then spends the rest of its round taking
replies as they come in (``follow``: whichever is in first, in batches), so a record's way home
is the actor's look, one Ray reply and one batch, not a wait for the next round. The daemon's
copy's size is the only offset, so a daemon killed between an append and an ingest, or between a
read and an append, repeats nothing.

Identity lives on the run row (``backend``, ``backend_ref`` = the actor's name, ``node``) and in
``ray.json`` in the run's directory (the attempt, the run's Ray options, what a retry needs), so a
restarted daemon finds its actors by name and ingests what they wrote meanwhile.

Faults: an actor that dies with its node (or is killed) is started again, by this module, on
another node (Ray places it; a dead node gets nothing) up to ``ray.max_retries`` times, with the
log so far: an ``rlops`` run resumes from its last checkpoint (``--train.resume`` fetches it from
S3) and writes a ``resume`` record; a ``command`` run starts over after one. Ray's own actor
restarts are not used: they would rerun the actor without the log so far. After the last retry
the run is ``lost`` with the reason: "node 10.0.0.5 died", or Ray's own error text.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlops.errors import BackendError, PreflightError, UnknownNameError
from rlops.options.schema import Options
from rlops.orchestrator.launch import ExitStatus, describe_exit, read_launch, write_json_atomic
from rlops.orchestrator.ray_actor import RunActor
from rlops.pipeline.sealed_dir import fsync_path
from rlops.services.remote_models import RemoteRunModels
from rlops.store.run_dir import EVENTS_FILE, OUTPUT_FILE, STOP_FILE

log = logging.getLogger(__name__)

NAMESPACE = "rlops"
STATE_FILE = "ray.json"  # the run's Ray identity and attempt; owner-only (it holds forwarded variables)
LOCK_FILE = "ray.lock"
SUBMIT_TIMEOUT_S = 60.0
PROBE_TIMEOUT_S = 5.0  # a cluster's GCS port that does not accept a connection in this long is not there
READ_WAIT_S = 0.5  # an actor holds a read this long for something new before it answers with nothing
READ_GAP_S = 0.1  # ... and answers new bytes no sooner than this after its previous answer (ray_actor.read)
BATCH_S = 0.02  # within a round, replies are taken in batches at most this often (a fsync and commits each)
END_TIMEOUT_S = 10.0  # an ended actor is killed once it has answered its end, or after this long
SYNC_THREADS = 8  # concurrent fsyncs of one round's appends share the file system's journal commits
MAX_CONCURRENCY = 8  # an actor's threads: a waiting read (the daemon's, a Tune trial's) never blocks a stop
# Variables of the starter's environment that travel to the node (credentials for S3 and the
# tracking backends, rlops's own options); the rest of the node's environment is the node's.
FORWARDED = ("AWS_", "RL_", "MLFLOW_", "WANDB_")


def ray_module() -> Any:
    try:
        import ray
    except ImportError:
        raise PreflightError("orchestrator.backend ray needs Ray, which is not installed",
                             hint="pip install -c constraints.txt 'rlops[ray]'") from None
    return ray


def connect(options: Options) -> Any:
    """Join the cluster at ``ray.address`` (never start one: a Ray rlops started would be one more
    unauthenticated endpoint); the ``ray`` module."""
    ray = ray_module()
    if ray.is_initialized():
        return ray
    address = options.ray.address
    _probe(address)
    # ray.init in the main thread puts its own SIGTERM handler in (it exits with 15): the daemon's
    # own, which finishes the round and leaves cleanly, must stay whenever it joins.
    on_term = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
    try:
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, logging_level=logging.WARNING,
                 configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise BackendError(f"cannot reach the Ray cluster at ray.address {address!r}: {str(exc).splitlines()[0]}",
                           hint="start one (ray start --head --node-ip-address 127.0.0.1) or give its address: "
                                "--ray.address HOST:PORT") from None
    finally:
        if on_term is not None:
            signal.signal(signal.SIGTERM, on_term)
    return ray


def _probe(address: str) -> None:
    """Refuse in seconds an address where nothing listens: ``ray.init`` retries its GCS 20 times at
    ~35 s each (about 12 minutes) before it gives up, blocking a CLI start, a dashboard request or
    the daemon's round meanwhile. ``auto`` is probed where ``$RAY_ADDRESS`` names the cluster."""
    if address == "auto":
        address = os.environ.get("RAY_ADDRESS", "")
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # auto without $RAY_ADDRESS: Ray finds a local cluster itself, or says none runs
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        raise BackendError(f"cannot reach the Ray cluster at ray.address {address!r}: nothing answers on "
                           f"{host}:{port} ({exc.strerror or exc})",
                           hint="start one (ray start --head --node-ip-address 127.0.0.1) or give its address: "
                                "--ray.address HOST:PORT") from None


def actor_name(run_id: str, attempt: int) -> str:
    """The run's actor for one attempt, in the ``rlops`` namespace: what a restarted daemon and a
    sweep's trials look it up by (run ids are unique in a store)."""
    return f"rlops-{run_id}-{attempt}"


def prepare(options: Options, run_dir: Path, runner: str, args: list[str]) -> None:
    """At start (daemon side): what the node will need, with the run's own Ray options."""
    files = {}
    for index, arg in enumerate(args[:-1]):
        if arg in ("--config", "-c") and Path(args[index + 1]).is_file():
            files[args[index + 1]] = Path(args[index + 1]).read_text(encoding="utf-8")
    state = {"runner": runner, "args": list(args), "files": files, "attempt": 0, "created": False,
             "output_base": 0, "ray": options.ray.model_dump(), "stop_grace_s": options.orchestrator.stop_grace_s,
             "run_nice": options.orchestrator.run_nice}
    write_json_atomic(Path(run_dir) / STATE_FILE, state, mode=0o600)


@dataclass
class _Read:
    """A read outstanding at a run's actor: how far the daemon's copies were when it was asked.
    ``ref`` None: nothing to ask (the actor not created yet, or no live one): taken at once.
    ``actor``: the attempt's actor it was asked of (None: not created then); a reply is taken only
    while that is still the run's actor (another supervisor may have started a retry meanwhile)."""

    offsets: dict[str, int]
    ref: Any
    actor: str | None = None


@dataclass
class _Taken:
    """A reply appended to the daemon's copies, to be made durable and ingested."""

    run: dict[str, Any]
    state: dict[str, Any]
    offsets: dict[str, int]
    reply: dict[str, Any]
    appended: list[Path] = field(default_factory=list)


class RayRuns:
    """The Ray runs of one trainer service."""

    def __init__(self, service: Any) -> None:
        self.service = service
        self.store = service.store
        self.ray = connect(service.options)
        self.handles: dict[str, Any] = {}  # actor name -> handle: never an earlier attempt's for a run
        self.reads: dict[str, _Read] = {}  # run id -> its actor's outstanding read
        self.ending: list[tuple[Any, Any, float]] = []  # (actor, its end's reply, kill by) of settled runs
        self.syncs: ThreadPoolExecutor | None = None
        # The node registers its checkpoints in its own registry: the daemon's rows come from the records.
        self.models = RemoteRunModels(self.store, service.options.store.db_path, service.options.registry.enable)
        self._end_leftovers()

    def _end_leftovers(self) -> None:
        """On joining the cluster (a daemon started again): end the actors of this store's runs that
        are settled. A daemon killed between a settle and the end it sends next left such an actor
        idle for good, holding its resources (it is detached: nothing else ends it)."""
        try:
            named = self.ray.util.list_named_actors(all_namespaces=True)
        except Exception as exc:  # an older cluster, the GCS busy: the next daemon start looks again
            log.warning("Ray runs: cannot list the cluster's actors to end those left over: %s", _first_line(exc))
            return
        for entry in named:
            run_id, _, attempt = entry["name"].removeprefix("rlops-").rpartition("-")
            if entry["namespace"] != NAMESPACE or not entry["name"].startswith("rlops-") or not attempt.isdigit():
                continue
            try:
                run = self.store.get_run(run_id)
            except UnknownNameError:
                continue  # another store's run
            state = _read_json(Path(run["run_dir"]) / STATE_FILE) if run["run_dir"] else None
            if state is not None and state.get("settled"):
                log.info("run %s is settled but its actor %s was left: ending it", run_id, entry["name"])
                self._end(run_id, {**state, "actor": entry["name"]})

    # -- launch and stop -----------------------------------------------------------------------

    def submit(self, run: dict[str, Any]) -> None:
        """Create the run's actor for its current attempt; Ray places it."""
        run_dir = Path(run["run_dir"])
        with _locked(run_dir) as held:
            if held:
                self._submit(run, run_dir, _read_state(run_dir))

    def _submit(self, run: dict[str, Any], run_dir: Path, state: dict[str, Any]) -> None:
        spec = read_launch(run_dir)
        options = state["ray"]
        name = actor_name(run["run_id"], state["attempt"])
        args = list(state["args"])
        if state["attempt"] and state["runner"] == "rlops" and "--train.resume" not in args:
            args.append("--train.resume")  # from the newest checkpoint the node can fetch (S3)
        launch = {"run_id": run["run_id"], "runner": state["runner"], "args": args, "files": state["files"],
                  "trace_id": spec.trace_id, "node_dir": options["node_dir"], "stop_grace_s": state["stop_grace_s"],
                  "run_nice": state.get("run_nice", 0),
                  "env": {key: value for key, value in spec.env.items() if key.startswith(FORWARDED)},
                  "prior_log": _whole_lines(run_dir / EVENTS_FILE)}
        state.update(actor=name, created=False, output_base=_size(run_dir / OUTPUT_FILE), node_id=None, node=None)
        write_json_atomic(run_dir / STATE_FILE, state, mode=0o600)
        actor_class = self.ray.remote(RunActor)
        handle = actor_class.options(
            name=name, namespace=NAMESPACE, lifetime="detached", get_if_exists=True, max_restarts=0,
            max_concurrency=MAX_CONCURRENCY,
            num_cpus=options["num_cpus"], num_gpus=options["num_gpus"], resources=json.loads(options["resources"]),
        ).remote(launch)
        self.handles[name] = handle
        self.reads.pop(run["run_id"], None)  # an earlier attempt's read: its actor is gone
        state["created"] = True
        write_json_atomic(run_dir / STATE_FILE, state, mode=0o600)
        self.store.set_backend(run["run_id"], "ray", ref=name)
        log.info("run %s submitted to Ray as actor %s (attempt %d)", run["run_id"], name, state["attempt"])

    def stop(self, run: dict[str, Any], reason: str | None = None) -> None:
        handle = self._handle(run["run_id"], _read_state(Path(run["run_dir"])))
        if handle is not None:
            handle.stop.remote(reason)  # the actor escalates to SIGKILL after the grace period itself

    def state(self, run_id: str) -> dict[str, Any]:
        """The run's ``ray.json``: its attempt, actor, node."""
        return _read_state(Path(self.store.get_run(run_id)["run_dir"]))

    # -- supervision ---------------------------------------------------------------------------

    def tick(self, runs: list[dict[str, Any]]) -> None:
        """One round for the live (and ended but unsettled) Ray runs, waiting for no actor: take the
        replies that are in, make their appends durable together, ingest them, ask those actors
        again; a run whose reply is not in yet is left for later (``follow``, a later round)."""
        self._release_ended()
        live = {run["run_id"] for run in runs}
        for run_id in [run_id for run_id in self.reads if run_id not in live]:
            del self.reads[run_id]  # settled by another supervisor
        for run in runs:
            if run["run_id"] not in self.reads:
                self.service.guarded(run, self._ask)
        self._take_ready(runs, self._ready(0.0), at_once=True)

    def follow(self, runs: list[dict[str, Any]], until: float) -> None:
        """The rest of the daemon's round, until ``until`` (``time.monotonic()``: its next round):
        the replies taken as they come in, a batch every ``BATCH_S`` at most, each actor asked again
        at once. Left for the next round, a reply that came just after the round's look waited a
        whole ``poll_interval``, and what its run wrote after it was asked waited two (p50 near 200
        ms at 0.1 s, whatever the load). Waiting for any one reply holds back no run."""
        while (left := until - time.monotonic()) > 0:
            first = time.monotonic()
            if not self._ready(left):
                return  # none came in time (or none is outstanding: the next round asks)
            time.sleep(max(0.0, first + BATCH_S - time.monotonic()))  # the replies close behind join the batch
            self._take_ready(runs, self._ready(0.0), at_once=False)

    def _ready(self, wait_s: float) -> set[Any]:
        """The outstanding reads whose replies are in; with ``wait_s``, waiting up to that long for one."""
        refs = [read.ref for read in self.reads.values() if read.ref is not None]
        if not refs:
            return set()
        return set(self.ray.wait(refs, num_returns=1 if wait_s > 0 else len(refs), timeout=wait_s)[0])

    def _take_ready(self, runs: list[dict[str, Any]], ready: set[Any], at_once: bool) -> None:
        """Take the replies in ``ready`` (and, ``at_once``, the reads with nothing to ask: a launch to
        finish, a dead actor), make their appends durable together, ingest, ask again."""
        taken: list[_Taken] = []
        for run in runs:
            read = self.reads.get(run["run_id"])
            if read is None or (read.ref not in ready if read.ref is not None else not at_once):
                continue
            del self.reads[run["run_id"]]
            self.service.guarded(run, lambda r, d=read: taken.append(self._take(r, d)))
        taken = [item for item in taken if item is not None]
        self._sync([path for item in taken for path in item.appended])
        for item in taken:
            self.service.guarded(item.run, lambda r, t=item: self._finish(t))
            if item.run["run_id"] not in self.reads:
                self.service.guarded(item.run, self._ask)  # at once: the actor gathers while we work

    def _ask(self, run: dict[str, Any]) -> None:
        run_dir = Path(run["run_dir"])
        state = _read_state(run_dir)
        if state.get("settled"):
            return
        if not state.get("created"):  # a launch interrupted: taken at once, and submitted again
            self.reads[run["run_id"]] = _Read({}, None, None)
            return
        handle = self._handle(run["run_id"], state)
        offsets = {EVENTS_FILE: _size(run_dir / EVENTS_FILE),
                   OUTPUT_FILE: _size(run_dir / OUTPUT_FILE) - state["output_base"]}
        ref = None if handle is None else handle.read.remote(offsets, READ_WAIT_S, not state.get("node_id"), READ_GAP_S)
        self.reads[run["run_id"]] = _Read(offsets, ref, state["actor"])

    def _take(self, run: dict[str, Any], read: _Read) -> _Taken | None:
        """A reply that is in, appended to our copies (not yet durable, not yet ingested)."""
        run_dir = Path(run["run_dir"])
        with _locked(run_dir) as held:
            if not held:
                return None  # another supervisor is taking this run's replies
            state = _read_state(run_dir)
            if state.get("settled"):
                return None
            if not state.get("created"):
                self._resubmit(run, run_dir, state)
                return None
            if _cut_torn(run_dir / EVENTS_FILE):
                return None  # a daemon killed mid-append left half a line: cut, and asked again
            if read.actor != state.get("actor"):
                return None  # asked before its actor was created, or of an earlier attempt's: asked again
            if read.ref is None:
                self._died(run, run_dir, state, None)
                return None
            try:
                reply = self.ray.get(read.ref)
            except self.ray.exceptions.RayActorError as exc:
                self._died(run, run_dir, state, exc)
                return None
            if read.offsets[EVENTS_FILE] != _size(run_dir / EVENTS_FILE):
                return None  # our copy moved since we asked (another supervisor): asked again
            self._note_node(run, run_dir, state, reply.get("where"))
            taken = _Taken(run, state, read.offsets, reply)
            for name in (EVENTS_FILE, OUTPUT_FILE):
                if _append(run_dir / name, reply["data"].get(name, b"")):
                    taken.appended.append(run_dir / name)
        return taken

    def _sync(self, paths: list[Path]) -> None:
        """The round's appends on disk before any is ingested: the store never gets ahead of our copy.
        Side by side, so that they share the file system's journal commits (20 runs' appends cost
        about one fsync, not twenty in turn)."""
        if len(paths) == 1:
            fsync_path(paths[0])
        elif paths:
            self.syncs = self.syncs or ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="rlops-ray-sync")
            list(self.syncs.map(fsync_path, paths))

    def _finish(self, taken: _Taken) -> None:
        """Ingest what came; settle the run if its exit status came with the rest of its log."""
        run, state, offsets, reply = taken.run, taken.state, taken.offsets, taken.reply
        run_dir = Path(run["run_dir"])
        self._ingest(run)
        drained = all(offsets[name] + len(reply["data"][name]) >= reply["sizes"][name] for name in reply["data"])
        if reply["exit"] is not None and drained:
            self._settle(run, run_dir, state, ExitStatus(**reply["exit"]))
        elif reply["exit"] is None and not reply["alive"]:  # its worker died before it wrote the status
            code = reply.get("worker_exit")
            ended = f" ({describe_exit(code)})" if code is not None else ""
            self._close(run_dir, state)
            self.store.settle(run["run_id"], "lost", f"its worker on node {state.get('node')} ended{ended} without "
                                                     "writing the run's exit status", None)
            self._end(run["run_id"], state)

    def _ingest(self, run: dict[str, Any]) -> None:
        """The run's new records into the store, then the registry rows they make (``remote_models``)."""
        self.service.ingest_new(run)
        self.models.take(run["run_id"])

    def _resubmit(self, run: dict[str, Any], run_dir: Path, state: dict[str, Any]) -> None:
        """A launch that did not get as far as its actor (Ray refused, the daemon died): again, until
        ``SUBMIT_TIMEOUT_S`` after the claim; then the run fails with the reason, never stuck running."""
        try:
            self._submit(run, run_dir, state)
        except Exception as exc:
            if time.time() - (run["started"] or 0) < SUBMIT_TIMEOUT_S:
                raise
            self._close(run_dir, state)
            self.store.settle(run["run_id"], "failed", f"it could not be submitted to Ray: {_first_line(exc)}", None)

    def _settle(self, run: dict[str, Any], run_dir: Path, state: dict[str, Any], status: ExitStatus) -> None:
        stop = _read_json(run_dir / STOP_FILE)
        self._close(run_dir, state)
        self.service.settle_exited(run["run_id"], status, stop is not None)
        if stop and stop.get("reason"):  # a reason given with the stop (a scheduler's) is the run's
            self.store.settle(run["run_id"], "stopped", stop["reason"], status.exit_code)
        self._end(run["run_id"], state)

    def _died(self, run: dict[str, Any], run_dir: Path, state: dict[str, Any], exc: Exception | None) -> None:
        """The actor is gone before the run's exit status came home."""
        self._ingest(run)
        self.handles.pop(state["actor"], None)
        stop = _read_json(run_dir / STOP_FILE)
        if exc is not None and getattr(exc, "actor_init_failed", False):
            self._close(run_dir, state)
            self.store.settle(run["run_id"], "failed", f"it could not start on its node: {_first_line(exc)}", None)
            return
        if stop is not None:
            self._close(run_dir, state)
            self.store.settle(run["run_id"], "stopped", stop.get("reason") or "stopped on request", None)
            return
        reason = self._death_reason(state, exc)
        if state["attempt"] < state["ray"]["max_retries"]:
            state["attempt"] += 1
            log.warning("run %s: %s; retry %d of %d on another node", run["run_id"], reason, state["attempt"],
                        state["ray"]["max_retries"])
            self._submit(run, run_dir, state)
            return
        retries = state["ray"]["max_retries"]
        self._close(run_dir, state)
        self.store.settle(run["run_id"], "lost", reason + (f" (after {retries} retries)" if retries else ""), None)
        log.warning("run %s is lost: %s", run["run_id"], reason)

    def _close(self, run_dir: Path, state: dict[str, Any]) -> None:
        """Nothing more will come from this run's actors (written before the row says so)."""
        state["settled"] = True
        write_json_atomic(run_dir / STATE_FILE, state, mode=0o600)

    def _death_reason(self, state: dict[str, Any], exc: Exception | None) -> str:
        node_id, node = state.get("node_id"), state.get("node") or "?"
        if node_id is not None:
            for entry in self.ray.nodes():
                if entry["NodeID"] == node_id and not entry["Alive"]:
                    return f"node {node} died"
        if exc is None:
            return f"its Ray actor {state.get('actor')} is gone (on node {node})"
        return f"its Ray actor died on node {node}: {_first_line(exc)}"

    def _note_node(self, run: dict[str, Any], run_dir: Path, state: dict[str, Any],
                   where: dict[str, Any] | None) -> None:
        """The node the run landed on, from its first reply (asked for while we do not know it)."""
        if state.get("node_id") or where is None:
            return
        state.update(node_id=where["node_id"], node=where["ip"], host=where["host"], node_pid=where["pid"],
                     node_run_dir=where["run_dir"])
        write_json_atomic(run_dir / STATE_FILE, state, mode=0o600)
        self.store.set_backend(run["run_id"], "ray", node=f"{where['ip']} ({where['node_id'][:8]})")

    def _handle(self, run_id: str, state: dict[str, Any]) -> Any:
        name = state["actor"]
        if name not in self.handles:
            try:
                self.handles[name] = self.ray.get_actor(name, namespace=NAMESPACE)
            except ValueError:  # no live actor of that name: it died while nobody watched
                return None
        return self.handles[name]

    def _end(self, run_id: str, state: dict[str, Any]) -> None:
        """The actor ends what is left of the run's group and leaves; not waited for here (a round
        never waits on an actor): it is killed once it has answered, or after ``END_TIMEOUT_S``."""
        self.reads.pop(run_id, None)
        handle = self.handles.pop(state["actor"], None) or self._handle(run_id, state)
        self.handles.pop(state["actor"], None)
        if handle is not None:
            self.ending.append((handle, handle.end.remote(), time.monotonic() + END_TIMEOUT_S))

    def _release_ended(self) -> None:
        if not self.ending:
            return
        refs = [ref for _, ref, _ in self.ending]
        ready = set(self.ray.wait(refs, num_returns=len(refs), timeout=0)[0])
        now, left = time.monotonic(), []
        for handle, ref, kill_by in self.ending:
            if ref not in ready and now < kill_by:
                left.append((handle, ref, kill_by))
                continue
            try:
                self.ray.kill(handle)  # gone already, as a rule: its end leaves (exit_actor)
            except Exception as exc:
                log.debug("ending an actor: %s", exc)
        self.ending = left


def _read_state(run_dir: Path) -> dict[str, Any]:
    state = _read_json(Path(run_dir) / STATE_FILE)
    if state is None:
        raise BackendError(f"run directory {run_dir} has no {STATE_FILE}: it was not started for Ray",
                           hint="start it again with --orchestrator.backend ray")
    return state


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


@contextmanager
def _locked(run_dir: Path):  # noqa: ANN202 - yields whether this process holds the run's Ray lock
    handle = os.open(Path(run_dir) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(handle)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _whole_lines(path: Path) -> bytes:
    """Our copy of the log up to its last complete line, cut there (a torn append of a killed daemon)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return b""
    whole = data[:data.rfind(b"\n") + 1]
    if len(whole) != len(data):
        with open(path, "r+b") as handle:
            handle.truncate(len(whole))
    return whole


def _cut_torn(path: Path) -> bool:
    """Cut a last line without its newline off our copy of the log; True if there was one."""
    size = _size(path)
    if size == 0:
        return False
    with open(path, "r+b") as handle:
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return False  # the rule: one byte read, not the tail
        start = max(0, size - (1 << 20))
        handle.seek(start)
        tail = handle.read()
        if tail.endswith(b"\n"):
            return False
        cut = tail.rfind(b"\n")
        if cut < 0 and start > 0:  # a torn line longer than the tail read: find its start the slow way
            data = path.read_bytes()
            handle.truncate(data.rfind(b"\n") + 1)
        else:
            handle.truncate(start + cut + 1)
    return True


def _append(path: Path, data: bytes) -> bool:
    """Append to our copy (durable only after ``fsync_path``); whether there was anything."""
    if not data:
        return False
    with open(path, "ab") as handle:
        handle.write(data)
    return True


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)[:300]

