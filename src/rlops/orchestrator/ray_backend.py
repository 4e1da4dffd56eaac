"""The Ray backend: a queued run executes on some node of a Ray cluster, its records come home.

The daemon's side of ``orchestrator.backend = "ray"``. A run is still checked, queued and claimed
by the trainer service as on one machine; when it is launched, this module creates a detached,
named Ray actor (``ray_actor.RunActor``) with the run's resources, and Ray's scheduler picks the
node. Every round of supervision then asks each run's actor for what its files gained since the
daemon's copies end (the daemon's ``train_log.jsonl`` and ``output.log`` in the run's directory
are the node's, byte for byte), appends it, and ingests the log as for a local run: exactly once
by ``seq``, from ``ingested_bytes``. The daemon's copy's size is the only offset, so a daemon
killed between an append and an ingest, or between a read and an append, repeats nothing.

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
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rlops.errors import BackendError, PreflightError
from rlops.options.schema import Options
from rlops.orchestrator.launch import ExitStatus, read_launch, write_json_atomic
from rlops.orchestrator.ray_actor import RunActor
from rlops.services.remote_models import RemoteRunModels
from rlops.store.run_dir import EVENTS_FILE, OUTPUT_FILE, STOP_FILE

log = logging.getLogger(__name__)

NAMESPACE = "rlops"
STATE_FILE = "ray.json"  # the run's Ray identity and attempt; owner-only (it holds forwarded variables)
LOCK_FILE = "ray.lock"
SUBMIT_TIMEOUT_S = 60.0
READ_WAIT_S = 0.2  # a round waits this long for the actors' replies; the rest are taken next round
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
    try:
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False, logging_level=logging.WARNING,
                 configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise BackendError(f"cannot reach the Ray cluster at ray.address {address!r}: {str(exc).splitlines()[0]}",
                           hint="start one (ray start --head --node-ip-address 127.0.0.1) or give its address: "
                                "--ray.address HOST:PORT") from None
    return ray


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
             "output_base": 0, "ray": options.ray.model_dump(), "stop_grace_s": options.orchestrator.stop_grace_s}
    write_json_atomic(Path(run_dir) / STATE_FILE, state, mode=0o600)


class RayRuns:
    """The Ray runs of one trainer service."""

    def __init__(self, service: Any) -> None:
        self.service = service
        self.store = service.store
        self.ray = connect(service.options)
        self.handles: dict[str, Any] = {}
        # The node registers its checkpoints in its own registry: the daemon's rows come from the records.
        self.models = RemoteRunModels(self.store, service.options.store.db_path, service.options.registry.enable)

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
                  "env": {key: value for key, value in spec.env.items() if key.startswith(FORWARDED)},
                  "prior_log": _whole_lines(run_dir / EVENTS_FILE)}
        state.update(actor=name, created=False, output_base=_size(run_dir / OUTPUT_FILE), node_id=None, node=None)
        write_json_atomic(run_dir / STATE_FILE, state, mode=0o600)
        actor_class = self.ray.remote(RunActor)
        handle = actor_class.options(
            name=name, namespace=NAMESPACE, lifetime="detached", get_if_exists=True, max_restarts=0,
            num_cpus=options["num_cpus"], num_gpus=options["num_gpus"], resources=json.loads(options["resources"]),
        ).remote(launch)
        self.handles[run["run_id"]] = handle
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
        """One round for the live (and ended but unsettled) Ray runs: ask every actor, wait a little,
        take in the replies that came."""
        asked = {}
        for run in runs:
            try:
                asked[run["run_id"]] = (run, self._ask(run))
            except Exception as exc:
                log.warning("run %s: asking its actor failed this round: %s: %s", run["run_id"],
                            type(exc).__name__, exc)
        refs = [ref for _, (offsets, ref) in asked.values() if ref is not None]
        if refs:
            self.ray.wait(refs, num_returns=len(refs), timeout=READ_WAIT_S)
        for run, (offsets, ref) in asked.values():
            self.service.guarded(run, lambda r, o=offsets, f=ref: self._take(r, o, f))

    def _ask(self, run: dict[str, Any]) -> tuple[dict[str, int], Any]:
        run_dir = Path(run["run_dir"])
        state = _read_state(run_dir)
        if state.get("settled") or not state.get("created"):
            return {}, None  # settled: nothing to ask; not created (a launch interrupted): _take submits it
        handle = self._handle(run["run_id"], state)
        offsets = {EVENTS_FILE: _size(run_dir / EVENTS_FILE),
                   OUTPUT_FILE: _size(run_dir / OUTPUT_FILE) - state["output_base"]}
        return offsets, (handle.read.remote(offsets) if handle is not None else None)

    def _take(self, run: dict[str, Any], offsets: dict[str, int], ref: Any) -> None:
        run_dir = Path(run["run_dir"])
        with _locked(run_dir) as held:
            if not held:
                return  # another supervisor is taking this run's replies
            state = _read_state(run_dir)
            if state.get("settled"):
                return
            if not state.get("created"):
                self._resubmit(run, run_dir, state)
                return
            if _cut_torn(run_dir / EVENTS_FILE):
                return  # a daemon killed mid-append left half a line: cut, and asked again next round
            if ref is None:
                self._died(run, run_dir, state, None)
                return
            ready, _ = self.ray.wait([ref], timeout=0)
            if not ready:
                return  # still placing the actor (waiting for resources), or slow: next round
            try:
                reply = self.ray.get(ref)
            except self.ray.exceptions.RayActorError as exc:
                self._died(run, run_dir, state, exc)
                return
            if offsets[EVENTS_FILE] != _size(run_dir / EVENTS_FILE):
                return  # our copy moved since we asked (another supervisor): ask again next round
            self._note_node(run, run_dir, state)
            _append(run_dir / EVENTS_FILE, reply["data"].get(EVENTS_FILE, b""))
            _append(run_dir / OUTPUT_FILE, reply["data"].get(OUTPUT_FILE, b""))
        self._ingest(run)
        drained = all(offsets[name] + len(reply["data"][name]) >= reply["sizes"][name] for name in reply["data"])
        if reply["exit"] is not None and drained:
            self._settle(run, run_dir, state, ExitStatus(**reply["exit"]))
        elif reply["exit"] is None and not reply["alive"]:
            self._close(run_dir, state)
            self.store.settle(run["run_id"], "lost", f"its processes on node {state.get('node')} are gone without "
                                                     "an exit status", None)
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
        self.handles.pop(run["run_id"], None)
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

    def _note_node(self, run: dict[str, Any], run_dir: Path, state: dict[str, Any]) -> None:
        if state.get("node_id"):
            return
        where = self.ray.get(self._handle(run["run_id"], state).where.remote(), timeout=30)
        state.update(node_id=where["node_id"], node=where["ip"], host=where["host"], node_pid=where["pid"],
                     node_run_dir=where["run_dir"])
        write_json_atomic(run_dir / STATE_FILE, state, mode=0o600)
        self.store.set_backend(run["run_id"], "ray", node=f"{where['ip']} ({where['node_id'][:8]})")

    def _handle(self, run_id: str, state: dict[str, Any]) -> Any:
        if run_id not in self.handles:
            try:
                self.handles[run_id] = self.ray.get_actor(state["actor"], namespace=NAMESPACE)
            except ValueError:  # no live actor of that name: it died while nobody watched
                return None
        return self.handles[run_id]

    def _end(self, run_id: str, state: dict[str, Any]) -> None:
        handle = self.handles.pop(run_id, None) or self._handle(run_id, state)
        self.handles.pop(run_id, None)
        if handle is None:
            return
        try:
            self.ray.get(handle.end.remote(), timeout=10)
        except Exception as exc:  # gone already: its guard ended the group
            log.debug("run %s: ending its actor: %s", run_id, exc)
        self.ray.kill(handle)


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


def _append(path: Path, data: bytes) -> None:
    if data:
        with open(path, "ab") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)[:300]

