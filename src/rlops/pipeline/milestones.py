"""A run's milestones as both engines record them: resumed, checkpointed, evaluated, failed, ended.

An engine says what happened; this turns it into the records on the run's recorder (the one path
of a record: the log first, then the registry book and the sinks, see ``rlops.sinks``), the same
records, worded the same way, for the SB3 and the vector engine. Metrics and episodes go through
each engine's telemetry; the run's ``meta`` record is written by the engine when it starts.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

from rlops.events.schema import Artifact, Resume
from rlops.events.schema import Checkpoint as CheckpointRecord
from rlops.events.schema import Error as ErrorRecord
from rlops.events.schema import Eval as EvalRecord
from rlops.pipeline.checkpoints import Checkpoint
from rlops.pipeline.disk_full import find_disk_full
from rlops.pipeline.engine import RunFiles
from rlops.pipeline.evaluate import EvalResult
from rlops.sinks.recorder import RunRecorder, sink_warnings_muted

log = logging.getLogger("rlops.train")


class Milestones:
    def __init__(self, run: RunFiles, recorder: RunRecorder) -> None:
        self.run, self.recorder = run, recorder

    def resumed(self, checkpoint: Checkpoint | None, opt_steps: int = 0) -> None:
        """From ``checkpoint``; None: killed before its first one, so the run starts over in its
        own directory (its log and options stay) rather than being stuck."""
        if checkpoint is None:
            self.recorder.emit(Resume(checkpoint="", env_steps=0, opt_steps=0))
            log.warning("run %s has no complete checkpoint (stopped before its first one): it starts over from "
                        "step 0", self.run.name)
            return
        self.recorder.emit(Resume(checkpoint=self.relative(checkpoint.path), env_steps=checkpoint.env_steps,
                                  opt_steps=opt_steps))
        log.info("resume from %s at %d env steps", checkpoint.path.name, checkpoint.env_steps)

    def checkpointed(self, checkpoint: Checkpoint) -> None:
        self.recorder.emit(CheckpointRecord(path=self.relative(checkpoint.path), env_steps=checkpoint.env_steps,
                                            sha256=checkpoint.sha256))

    def evaluated(self, result: EvalResult, checkpoint: Checkpoint, env_steps: int) -> None:
        """An evaluation of ``checkpoint`` (the registry scores that model from this record)."""
        self.recorder.emit(EvalRecord(episodes=result.episodes, mean_reward=result.mean_reward,
                                      std_reward=result.std_reward, mean_length=result.mean_length,
                                      checkpoint=self.relative(checkpoint.path), env_steps=env_steps))
        log.info("eval at %d env steps: mean reward %.2f +/- %.2f over %d episodes", env_steps, result.mean_reward,
                 result.std_reward, result.episodes)

    def failed(self, error: BaseException, write_receipt: Callable[[], Path], env_steps: int) -> None:
        """Receipt, ``error`` record, ``end`` record (failed); then the caller re-raises. A full disk
        may refuse the receipt or the records too: the first error is kept and goes on up."""
        receipt: Path | None = None
        try:
            receipt = write_receipt()
        except OSError as exc:
            error.receipt_error = f"{exc.strerror or exc}"  # type: ignore[attr-defined]
        relative = self.relative(receipt) if receipt is not None else None
        # On a full disk the sinks writing there fail too: the run's one message says it for them.
        with sink_warnings_muted() if find_disk_full(error) else nullcontext():
            refused = self._record_failure(error, relative, env_steps)
        if refused is not None:
            log.warning("run %s: the log could not take the error and end records (%s)", self.run.name,
                        refused.strerror or refused)
        log.error("run %s failed at %d env steps: %s; receipt: %s", self.run.name, env_steps, error,
                  receipt or "not written")
        error.receipt = receipt  # type: ignore[attr-defined]

    def _record_failure(self, error: BaseException, relative: str | None, env_steps: int) -> OSError | None:
        """The error and end records; what the log refused (a full disk), if it refused them."""
        refused: OSError | None = None
        try:
            self.recorder.emit(ErrorRecord(message=f"{type(error).__name__}: {error}",
                                           traceback="".join(traceback.format_exception(error)), receipt=relative))
            if relative is not None:
                self.recorder.emit(Artifact(kind="receipt", path=relative))
        except OSError as exc:
            refused = exc
        try:  # even when the log refused the error record: close stops the sinks' threads
            self.recorder.close("failed", reason=f"{type(error).__name__}: {error}", env_steps=env_steps)
        except OSError as exc:
            refused = refused or exc
        return refused

    def ended(self, status: str, reason: str | None, env_steps: int) -> None:
        """The ``end`` record (finished or stopped), once the sinks are drained."""
        self.recorder.close(status, reason=reason, env_steps=env_steps)
        for name, failure in self.recorder.failures.items():
            log.warning("sink %s failed during the run (%s); the JSONL log is complete", name, failure)

    def relative(self, path: Path) -> str:
        return str(Path(path).relative_to(self.run.path))
