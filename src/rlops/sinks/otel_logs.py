"""Run records -> OpenTelemetry log records: the milestones a person would grep for.

"run started", "checkpoint saved", "eval done", "resumed", the error's own message and "run
ended"; artifacts at debug. The body is a fixed phrase and the numbers are attributes (a log
query filters on ``rl.eval.mean_reward``, it does not parse text). Each record carries the
trace context of its span (the evaluation's, else the run's), so logs and traces join; with
traces off it still carries the run's trace id. Records below ``logs.level`` are not emitted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry._logs import SeverityNumber

from rlops.events.schema import Artifact, Checkpoint, End, Error, Eval, Meta, Record, Resume
from rlops.options.schema import LogsOptions

LEVELS = {"debug": SeverityNumber.DEBUG, "info": SeverityNumber.INFO, "warn": SeverityNumber.WARN,
          "error": SeverityNumber.ERROR}
END_SEVERITY = {"finished": SeverityNumber.INFO, "stopped": SeverityNumber.WARN, "failed": SeverityNumber.ERROR}


class RunLogs:
    def __init__(self, logger: Any, options: LogsOptions) -> None:
        self.logger = logger
        self.threshold = LEVELS[options.level]
        self.emitted = 0  # what the batch processor was handed

    def record(self, record: Record, context: Callable[[], Any]) -> None:
        """Log ``record`` if it is a milestone at or above the level; ``context()`` gives its trace context."""
        entry = describe(record)
        if entry is None:
            return
        severity, body, attributes = entry
        if severity.value < self.threshold.value:
            return
        self.logger.emit(timestamp=int(record.t * 1e9), context=context(), severity_number=severity,
                         severity_text=severity.name, body=body, attributes=attributes)
        self.emitted += 1


def describe(record: Record) -> tuple[SeverityNumber, str, dict[str, Any]] | None:
    """(severity, body, attributes) of the log record a run record makes, or None."""
    if isinstance(record, Checkpoint):
        return SeverityNumber.INFO, "checkpoint saved", {"rl.checkpoint.path": record.path,
                                                         "rl.checkpoint.sha256": record.sha256,
                                                         "rl.env_steps": record.env_steps}
    if isinstance(record, Eval):
        attributes = {"rl.eval.mean_reward": record.mean_reward, "rl.eval.std_reward": record.std_reward,
                      "rl.eval.episodes": record.episodes, "rl.eval.mean_length": record.mean_length,
                      "rl.env_steps": record.env_steps}
        if record.checkpoint:
            attributes["rl.checkpoint.path"] = record.checkpoint
        return SeverityNumber.INFO, "eval done", attributes
    if isinstance(record, Resume):
        return SeverityNumber.INFO, "resumed", {"rl.checkpoint.path": record.checkpoint,
                                                "rl.env_steps": record.env_steps}
    if isinstance(record, Error):
        kind, _, message = record.message.partition(": ")
        attributes = {"exception.type": kind, "exception.message": message or kind,
                      "exception.stacktrace": record.traceback or ""}
        if record.receipt:
            attributes["rl.receipt"] = record.receipt
        return SeverityNumber.ERROR, record.message, attributes
    if isinstance(record, End):
        attributes = {"rl.end.status": record.status, "rl.env_steps": record.env_steps or 0}
        if record.reason:
            attributes["rl.end.reason"] = record.reason
        attributes.update({f"rl.dropped.{name}": count for name, count in record.dropped.items()})
        return END_SEVERITY.get(record.status, SeverityNumber.INFO), "run ended", attributes
    if isinstance(record, Meta):
        attributes = {"rl.device": record.device, "rl.producer": record.producer}
        if record.seed is not None:
            attributes["rl.seed"] = record.seed
        return SeverityNumber.INFO, "run started", attributes
    if isinstance(record, Artifact):
        return SeverityNumber.DEBUG, f"artifact {record.action}", {"rl.artifact.kind": record.kind,
                                                                    "rl.artifact.path": record.path}
    return None
