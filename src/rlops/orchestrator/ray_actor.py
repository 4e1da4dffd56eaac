"""A supervised run's home on a Ray node: the actor that runs the run's ordinary worker there and
hands its files back, piece by piece, to the daemon that queued it.

The node shares no disk with the daemon. The actor makes the run's directory under the node's
own ``ray.node_dir``, prepares the run there with its registered runner (the options are checked
again on the node: nothing but a runner name and its arguments ever travels), runs the pre-flight
of the node, and starts ``python -m rlops.orchestrator.worker`` as on one machine: its own session
and process group, stdout records, text lines and bad lines handled as today. The daemon then
keeps one ``read`` outstanding with how far it has each file; the records travel home over Ray as
the bytes of the log's complete lines, so the daemon's copy of the log is the node's, byte for
byte. A read waits (up to ``wait_s``) for something new and answers as soon as there is: a busy
run's records come home at the daemon's pace, a quiet run costs a call every ``wait_s``. The actor
is threaded (``max_concurrency``), so a stop or an end never queues behind a waiting read.

Ray ends only an actor's process and its direct children when the actor dies (``ray.kill``, its
node shut down): the worker goes, but the program and what it started are a group of their own
and would be left running. So the actor also starts a guard (``rlops.orchestrator.ray_guard``,
nobody's child) that ends the group as soon as the actor is gone.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rlops.events.schema import Resume, encode
from rlops.options import resolve_options
from rlops.orchestrator.launch import read_exit, write_json_atomic, write_launch
from rlops.orchestrator.preflight import preflight
from rlops.orchestrator.process import signal_group, start_worker
from rlops.orchestrator.ray_guard import started
from rlops.orchestrator.runners import get_runner
from rlops.sinks.jsonl import last_seq
from rlops.store.run_dir import EVENTS_FILE, STOP_FILE

READ_CAP = 8 << 20  # bytes of one file per read: a long-silent daemon catches up over a few calls
GUARD_LOG = "guard.log"
POLL_S = 0.01  # how often a waiting read looks at the files again (a stat each)


class RunActor:
    """One attempt of one run on one node. ``launch`` is what the daemon's ``ray_backend`` sends:
    run_id, runner, args, trace_id, env (the forwarded variables), node_dir, prior_log (the log as
    the daemon has it: a retry continues it), files (a --config file's text), stop_grace_s, run_nice."""

    def __init__(self, launch: dict[str, Any]) -> None:
        self.run_id = launch["run_id"]
        # A node's own RLOPS_RAY_NODE_DIR (set where its `ray start` runs) wins over ray.node_dir.
        root = Path(os.environ.get("RLOPS_RAY_NODE_DIR") or launch["node_dir"]).expanduser().resolve()
        self.run_dir = root / self.run_id
        if self.run_dir.exists():  # an earlier attempt here: the daemon holds its log, S3 its checkpoints
            shutil.rmtree(self.run_dir)
        self.run_dir.mkdir(parents=True)
        if launch.get("prior_log"):
            _continue_log(self.run_dir / EVENTS_FILE, launch)
        args = _materialize(self.run_dir, list(launch["args"]), launch.get("files") or {})
        options = resolve_options(environ={}, args=["--store.model-dir", str(root), "--store.db-path",
                                                    str(root / "registry.db")]).options
        spec, capabilities = get_runner(launch["runner"]).prepare(self.run_id, self.run_dir, args, options)
        preflight(capabilities, options, root)  # the node's GPU, interpreter and disk, not the daemon's
        spec.trace_id = launch["trace_id"]
        spec.env = {**os.environ, **launch.get("env", {}), **spec.env, "RLOPS_RUN_ID": self.run_id,
                    "RLOPS_RUN_DIR": str(self.run_dir), "RLOPS_TRACE_ID": spec.trace_id}
        if hasattr(spec, "stop_grace_s"):
            spec.stop_grace_s = launch.get("stop_grace_s", 10.0)
        write_launch(self.run_dir, spec)
        self.grace = float(launch.get("stop_grace_s", 10.0))
        self.answered = 0.0  # when the last read was answered (``read``'s gap_s)
        # The actor is the worker's parent and the only one to wait for it: its exit code is kept
        # here (``Popen.returncode``), so "gone" is known for certain and never read off a pid.
        # orchestrator.run_nice as for a local run: the run's session behind the node's actor
        # (which must keep reading it) and, on one machine, behind the daemon.
        self.worker = start_worker(self.run_dir, nice=int(launch.get("run_nice", 0)))
        self.pid = self.worker.pid
        # The guard forks and leaves at once (the guard itself is nobody's child); it is not waited
        # for: it is handed the actor's start time, so an actor gone before the guard looks is seen
        # gone, and its first process is reaped on a read.
        with open(self.run_dir / GUARD_LOG, "ab") as log:
            self.guard = subprocess.Popen([sys.executable, "-m", "rlops.orchestrator.ray_guard", str(os.getpid()),
                                           str(self.pid), str(self.grace), str(started(os.getpid()))],
                                          stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                          close_fds=True)

    def where(self) -> dict[str, Any]:
        """The node the run landed on and its worker's pid (= the run's process group there)."""
        import ray

        return {"node_id": ray.get_runtime_context().get_node_id(), "ip": ray.util.get_node_ip_address(),
                "host": socket.gethostname(), "pid": self.pid, "run_dir": str(self.run_dir)}

    def read(self, offsets: dict[str, int], wait_s: float = 0.0, where: bool = False,
             gap_s: float = 0.0) -> dict[str, Any]:
        """Each file's bytes from its offset (the log: complete lines only), the worker's exit status
        once it has one, whether the worker lives and, once it is gone, its own exit code
        (``worker_exit``: what tells a worker killed before it wrote the run's status from one
        that wrote it); ``where`` adds ``where()``'s answer. With
        ``wait_s``, the answer waits until there is something new (bytes, the exit status, the
        worker gone) or ``wait_s`` has passed.

        ``gap_s``: a read is not looked at sooner than this after the previous answer (so an
        exit, too, waits that long at most). A busy run's worker flushes its log every
        ~50 ms; answering each flush made ~20 replies a second a run, and a reply costs the
        actor, Ray's threads and the daemon about as much CPU as a hundred records: at 20 runs
        that CPU was what kept the daemon's ingest behind on a 2-core machine."""
        now = time.monotonic()
        deadline = now + wait_s
        gather_until = min(deadline, self.answered + gap_s)
        if gather_until > now:
            time.sleep(gather_until - now)  # nothing is answered before then anyway: no looks meanwhile
        while True:
            reply = self._read(offsets)
            new = any(reply["data"].values()) or reply["exit"] is not None or not reply["alive"]
            if new or time.monotonic() >= deadline:
                break
            time.sleep(POLL_S)
        if where:
            reply["where"] = self.where()
        self.answered = time.monotonic()
        return reply

    def _read(self, offsets: dict[str, int]) -> dict[str, Any]:
        """The worker is looked at first, then its exit status, then the files. The worker writes the
        status (durably) before it exits, so once it is seen gone the status there is final: a worker
        that exits between the two looks is seen alive, with or without its status, and never gone
        without it. (The other order settled a sub-second run ``lost``: no status yet, then no
        worker.) A log read after the status is whole."""
        self.guard.poll()  # the guard's first process, gone once it has forked the guard
        code = self.worker.poll()  # reaps it once it has exited; None while it runs
        status = read_exit(self.run_dir)
        reply: dict[str, Any] = {"exit": asdict(status) if status else None, "alive": code is None,
                                 "worker_exit": code, "data": {}, "sizes": {}}
        for name, offset in offsets.items():
            chunk, size = _read_from(self.run_dir / name, offset, whole_lines=name == EVENTS_FILE)
            reply["data"][name], reply["sizes"][name] = chunk, size
        return reply

    def stop(self, reason: str | None = None) -> bool:
        """SIGTERM to the run's group now, SIGKILL after the grace period if anything of it is left."""
        if not (self.run_dir / STOP_FILE).exists():
            write_json_atomic(self.run_dir / STOP_FILE, {"asked": time.time(), "reason": reason})
        sent = signal_group(self.pid, signal.SIGTERM)
        threading.Thread(target=self._escalate, daemon=True).start()
        return sent

    def end(self) -> None:
        """The daemon has everything: nothing of the run may outlive this actor, which leaves too
        (the daemon does not wait for the answer; it kills the actor once it has one, or later)."""
        import ray

        if self.worker.poll() is None:
            signal_group(self.pid, signal.SIGKILL)
        ray.actor.exit_actor()

    def _escalate(self) -> None:
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline:
            if self.worker.poll() is not None:
                return
            time.sleep(0.1)
        signal_group(self.pid, signal.SIGKILL)


def _continue_log(path: Path, launch: dict[str, Any]) -> None:
    """A retry's log is the run's so far. Our trainer notes its own resume (from a checkpoint); any
    other program starts over, after a ``resume`` record that says so."""
    path.write_bytes(launch["prior_log"])
    if launch["runner"] != "rlops":
        resume = Resume(run_id=launch["run_id"], trace_id=launch["trace_id"], seq=last_seq(path) + 1, t=time.time(),
                        checkpoint="", env_steps=0, opt_steps=0)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(encode(resume) + "\n")


def _read_from(path: Path, offset: int, whole_lines: bool) -> tuple[bytes, int]:
    try:
        size = os.stat(path).st_size
        if size <= offset:
            return b"", size  # nothing new: a stat is the whole cost of a waiting read's look
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(offset)
            chunk = handle.read(READ_CAP)
    except FileNotFoundError:
        return b"", 0
    if whole_lines:
        chunk = chunk[:chunk.rfind(b"\n") + 1]  # a line still being written waits for the next read
    return chunk, size


def _materialize(run_dir: Path, args: list[str], files: dict[str, str]) -> list[str]:
    """A ``--config FILE`` of the daemon's machine travels as its text: written into the run's
    directory here, and the argument points at it."""
    for index, arg in enumerate(args):
        if arg in files:
            path = run_dir / f"config-{index}{Path(arg).suffix}"
            path.write_text(files[arg], encoding="utf-8")
            args[index] = str(path)
    return args

