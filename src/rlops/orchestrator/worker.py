"""The per-run worker: ``python -m rlops.orchestrator.worker RUN_DIR``, one per supervised run.

The daemon never holds a run's pipes: a program whose stdout is a pipe to the daemon dies with
the daemon (SIGPIPE on its next print). Instead the daemon starts this small process as the
leader of a new session and process group; it starts the program in the same group, reads its
stdout, and writes what it reads to files in the run directory:

- ``output.log``: the program's stderr and every stdout line that is not a record, byte for byte;
- ``train_log.jsonl``: the run's records (``command``: those printed on stdout; ``cleanrl``: the
  TensorBoard scalars the script writes, translated), one ``meta`` record first (the program's
  own when its first record is one), an ``artifact`` record per file it produced, and the run's
  one ``end`` record last, written when the program has exited;
- ``exit.json`` when the program and everything it left behind have exited: exit code, whether it
  was stopped, line counts.

The worker is the authority on how a run ended: a program's own ``end`` record says how the
program sees it (its status and reason are carried into the run's ``end`` on a clean exit), but
the run goes on while its processes live, and what the program prints after its ``end`` is bad
lines. The worker is a child subreaper: a descendant that left the process group (``setsid``)
and was orphaned becomes its child, and when the program has exited the worker ends every
descendant still there (SIGTERM, SIGKILL after ``stop_grace_s``) before it writes the end.

The ``rlops`` protocol (our own trainer) writes its log itself; the worker only keeps its output.
Both write the log through ``sinks.jsonl.JsonlSink``, and neither writes the store: the daemon
ingests every supervised run's log (the record path is drawn in ``rlops.sinks``).
A stop is SIGTERM to the whole group: the program gets it, the worker notes it and keeps reading
until the program is gone. The daemon can die and come back at any time; it reads the files.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from rlops.events.schema import Config, End, Meta, Record
from rlops.orchestrator.launch import ExitStatus, LaunchSpec, describe_exit, read_launch, write_exit
from rlops.orchestrator.descendants import become_subreaper, end_descendants
from rlops.orchestrator.protocol import ProtocolReader
from rlops.orchestrator.process import lower_priority
from rlops.sinks.jsonl import JsonlSink
from rlops.store.lines import LineBuffer
from rlops.store.run_dir import EVENTS_FILE, OUTPUT_FILE

FLUSH_S = 0.2  # the log reaches the disk (and the daemon's ingest) at least this often
POLL_S = 0.5
# After a read that emptied the pipe, the worker lets the program's next lines gather this long:
# a program that flushes every 10 ms (as a training loop may) woke its worker 100 times a second,
# and a wakeup costs the worker as much CPU as ten records; 20 such workers took a core of a
# 2-core machine from the daemon that ingests them (bench/bench_orchestrator.py). A record waits
# at most this much more; a read that filled the block never waits (there is more to take).
GATHER_S = 0.05
PIPE_BYTES = 1 << 20  # what the program may print while its worker gathers without blocking it
READ_BLOCK = 1 << 16  # cleanrl scalars and artifacts are looked for this often


class Worker:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.spec: LaunchSpec = read_launch(self.run_dir)
        self.stopped = False
        self.stop_asked: float | None = None  # monotonic time of the SIGTERM
        self.reader = ProtocolReader(self.spec.run_id, self.spec.trace_id)
        self.log: JsonlSink | None = None  # the run's log: sinks.jsonl, the one writer every producer uses
        self.flushed = time.monotonic()
        self.saw_meta = False
        self.held: list[Record] = []  # the worker's own records made before the program's first one
        self.left_behind: list[int] | None = None  # the descendants ended once the program had exited
        self.known_artifacts: set[str] = set()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_stop)  # the program got it too (same group); we outlive it
        signal.signal(signal.SIGINT, self._on_stop)
        output = open(self.run_dir / OUTPUT_FILE, "ab", buffering=0)
        if not become_subreaper():  # before the program starts: its orphans are ours from the first
            output.write(b"rlops worker: no child subreaper here (Linux prctl): a process of this run that "
                         b"leaves its process group (setsid) is not stopped with it\n")
        writes_log = self.spec.protocol in ("command", "cleanrl")
        if writes_log:
            self.log = JsonlSink(self.run_dir / EVENTS_FILE)
        environment = self.spec.env or dict(os.environ)  # the starter's environment, snapshot at start
        try:
            program = subprocess.Popen(self.spec.argv, cwd=self.spec.cwd, env=environment, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE if self.spec.protocol == "command" else output,
                                       stderr=output)
        except OSError as exc:  # not found, not executable: the run fails with the reason
            output.write(f"rlops worker: cannot start {self.spec.argv[0]!r}: {exc}\n".encode())
            return self._finish(127, output)
        watcher = None
        if self.spec.protocol == "cleanrl":
            watcher = threading.Thread(target=self._watch_cleanrl, args=(program,), daemon=True)
            watcher.start()
        elif self.spec.protocol == "command":
            self._read_stdout(program, output)
        code = program.wait()
        if watcher is not None:
            watcher.join()
        return self._finish(code, output)

    def _on_stop(self, *_: object) -> None:
        self.stopped = True
        self.stop_asked = self.stop_asked or time.monotonic()

    def _grace(self) -> float:
        """How long what the program left behind gets between SIGTERM and SIGKILL: after a stop, half
        of what is left of the stop's grace, so that we end it and write the run's end before the
        supervisor's SIGKILL reaches us."""
        if self.stop_asked is None:
            return self.spec.stop_grace_s
        return max(0.0, self.spec.stop_grace_s - (time.monotonic() - self.stop_asked)) / 2

    def _read_stdout(self, program: subprocess.Popen, output: IO[bytes]) -> None:
        """Read the program's stdout in blocks; the log is flushed whenever the pipe runs dry (a quiet
        program's last record is on disk at once) and at least every ``FLUSH_S`` while it streams;
        a dry pipe is left ``GATHER_S`` to fill before it is read again.
        Once the program has exited and the pipe is quiet, what holds it open is what the program left
        behind: those processes are ended (their ends of the pipe close with them) and the rest read."""
        stdout = program.stdout
        fd, pending = stdout.fileno(), LineBuffer()  # a line not ended yet (a 10 MB line: many blocks)
        _widen_pipe(fd)
        while True:
            if not select.select([fd], [], [], POLL_S)[0]:
                if program.poll() is None:
                    continue
                if self.left_behind is not None:
                    break  # ended, and still quiet: a process that cannot die yet holds the pipe
                self.left_behind = end_descendants(self._grace())
                continue
            block = os.read(fd, READ_BLOCK)
            if not block:
                break
            lines = pending.feed(block)
            if not lines:
                continue
            for line in lines:
                record = self.reader.read(line)
                if record is None:
                    output.write(line + b"\n")
                elif not isinstance(record, End):  # the program's end waits for the run's (see _end)
                    self._write(record)
            drained = len(block) < READ_BLOCK  # a pipe's read takes all there is: less than asked, it is dry
            if drained or time.monotonic() - self.flushed >= FLUSH_S:
                self._flush_log()
            if drained:
                time.sleep(GATHER_S)
        carry = pending.rest()
        if carry:  # a last line without its newline: text or a record all the same
            record = self.reader.read(carry)
            if record is None:
                output.write(carry)
            elif not isinstance(record, End):
                self._write(record)
        stdout.close()

    def _watch_cleanrl(self, program: subprocess.Popen) -> None:
        from rlops.orchestrator.cleanrl_scalars import ScalarTail

        tail = ScalarTail(Path(self.spec.cwd))
        while True:
            done = program.poll() is not None
            for record in tail.poll(final=done):
                self._write(self.reader.stamp(record))  # the script's hyperparameters come first: its meta
            self._discover(final=done)
            self._flush_log()
            if done:
                return
            time.sleep(POLL_S)

    def _flush_log(self) -> None:
        self.log.flush()
        self.flushed = time.monotonic()

    def _write(self, record: Record) -> None:
        """Append one of the program's records. A log starts with one meta: the program's own if its
        first record is one, ours otherwise; the worker's records made before it wait for it. A meta
        that comes later is written as a config record, merged into the run's configuration."""
        if self.saw_meta:
            if isinstance(record, Meta):  # one meta a run: what a later one says merges into its configuration
                record = Config(run_id=record.run_id, trace_id=record.trace_id, t=record.t, config=record.config,
                                seed=record.seed)
            self.log.append(record)
            return
        self.saw_meta = True
        if isinstance(record, Meta):
            record.argv = record.argv or list(self.spec.argv)  # a CleanRL hyperparameters table has no command line
            self.log.append(record)
        else:
            self.log.append(self.reader.stamp(self._own_meta(), t=record.t))
        for held in self.held:
            self.log.append(held)
        self.held.clear()
        if not isinstance(record, Meta):
            self.log.append(record)

    def _write_own(self, record: Record) -> None:
        """Append a record the worker made (an artifact); before the program's first record it waits,
        so that a meta the program is about to give is still the log's first."""
        record = self.reader.stamp(record)
        if self.saw_meta:
            self.log.append(record)
        else:
            self.held.append(record)

    def _own_meta(self) -> Meta:
        return Meta(config={"runner": self.spec.runner, "argv": self.spec.argv}, argv=self.spec.argv,
                    producer=self.spec.runner)

    def _end(self, code: int) -> End:
        """The run's one end record, from how its processes ended; what the program said in its own
        end record (if it printed one) is carried in: its status and reason on a clean exit, its
        ``env_steps`` and ``dropped`` always."""
        said = self.reader.program_end
        if self.stopped:
            status, reason = "stopped", None
        elif code != 0:
            status, reason = "failed", describe_exit(code)
            if said is not None:
                reason += f" after its end record said {said.status}" + (f" ({said.reason})" if said.reason else "")
        elif said is not None:
            status, reason = said.status, said.reason
        else:
            status, reason = "finished", None
        return End(status=status, reason=reason, env_steps=said.env_steps if said else None,
                   dropped=said.dropped if said else {})

    def _discover(self, final: bool = False) -> None:
        try:
            from rlops.orchestrator.artifacts import discover
        except ImportError:
            return
        output_text = _tail(self.run_dir / OUTPUT_FILE) if final else ""  # a W&B run URL is printed near the end
        for artifact in discover(self.run_dir, self.known_artifacts, output_text, final=final):
            self.known_artifacts.add(artifact.path)
            self._write_own(artifact)

    def _finish(self, code: int, output: IO[bytes]) -> int:
        # The run has ended when its last process has.
        left = (self.left_behind or []) + end_descendants(self._grace())
        if left:
            output.write(f"rlops worker: ended {len(left)} process(es) the program left behind: pids "
                         f"{', '.join(map(str, sorted(left)))}\n".encode())
        wrote_end = False
        if self.log is not None:
            if self.spec.protocol == "command":
                self._discover(final=True)
            if not self.saw_meta:
                self._write(self.reader.stamp(self._own_meta()))
            self.log.append(self.reader.stamp(self._end(code)))
            wrote_end = True
            self.log.shutdown()
        if self.reader.last_error:
            output.write(f"rlops worker: {self.reader.bad_lines} bad record line(s); the last: "
                         f"{self.reader.last_error}\n".encode())
        output.close()
        write_exit(self.run_dir, ExitStatus(exit_code=code, ended=time.time(), stopped=self.stopped,
                                            records=self.reader.records, text_lines=self.reader.text_lines,
                                            bad_lines=self.reader.bad_lines, wrote_end=wrote_end,
                                            left_behind=sorted(left)))
        return 0 if code == 0 else 1


def _widen_pipe(fd: int) -> None:
    """Give the program's stdout pipe ``PIPE_BYTES`` (Linux; 64 KB otherwise), as far as allowed."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (AttributeError, OSError):  # not Linux, or beyond /proc/sys/fs/pipe-max-size: the default pipe
        pass


def _tail(path: Path, size: int = 1 << 16) -> str:
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - size))
        return handle.read().decode("utf-8", errors="replace")


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python -m rlops.orchestrator.worker RUN_DIR")
    lower_priority()
    sys.exit(Worker(Path(sys.argv[1])).run())


if __name__ == "__main__":
    main()
