"""Replaying a run's event log into a sink: history recorded with no backend, published later.

The sink is the very one a live run uses, built for the run from its saved options (with the
caller's overrides on top), fed the log's records in order and in batches, then shut down, so
an exported run looks the same in the backend as a live one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from rlops.errors import RunDirectoryError, UsageError
from rlops.events.reader import BadLine, read_records
from rlops.options import ResolvedOptions, resolve_options
from rlops.sinks.base import RunContext
from rlops.sinks.registry import build
from rlops.store.run_dir import RunDirectory

EXPORT_TARGETS = {"mlflow": "mlflow", "wandb": "wandb", "tensorboard": "tensorboard", "otlp": "otel"}
BATCH = 1000


@dataclass
class ExportResult:
    run_id: str
    sink: str
    records: int
    bad_lines: int
    dropped: int
    failure: str | None

    def to_dict(self) -> dict:
        return asdict(self)


def export_run(run_path: Path, target: str, overrides: ResolvedOptions) -> ExportResult:
    if target not in EXPORT_TARGETS:
        raise UsageError(f"unknown export target {target!r}", hint=f"use one of {', '.join(EXPORT_TARGETS)}")
    run = RunDirectory(Path(run_path))
    saved = run.read_options()
    if not run.events_file.exists():
        raise RunDirectoryError(f"{run.path} has no event log ({run.events_file.name}): there is nothing to export",
                                hint="export a run that has trained (rlops runs list shows them)")
    explicit = {dotted: source for dotted, source in overrides.sources.items() if source != "default"}
    options = resolve_options(environ={}, base=saved).options
    for dotted in explicit:  # the caller's flags and environment win over the saved options
        section, key = dotted.split(".", 1)
        setattr(getattr(options, section), key, getattr(getattr(overrides.options, section), key))
    if target == "otlp" and options.metrics.exporter != "otlp":
        options.metrics.exporter = "otlp"
    records, bad = [], 0
    for _, record in read_records(run.events_file):
        if isinstance(record, BadLine):
            bad += 1
        else:
            records.append(record)
    if not records:
        raise UsageError(f"{run.events_file} holds no records to export", hint="check it with rlops log validate")
    context = RunContext(records[0].run_id, run.path, run.events_file, options, records[0].trace_id)
    sink = build(EXPORT_TARGETS[target], context)
    dropped, failure = 0, None
    for start in range(0, len(records), BATCH):
        batch = records[start:start + BATCH]
        try:
            sink.export(batch)
        except Exception as exc:  # report what did not arrive, as a live run would
            dropped += len(batch)
            failure = failure or f"{type(exc).__name__}: {exc}"
    sink.shutdown()
    dropped += sink.lost  # what its background exporter failed to deliver (Sink.lost)
    return ExportResult(records[0].run_id, sink.name, len(records) - dropped, bad, dropped, failure)
