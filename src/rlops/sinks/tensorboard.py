"""The TensorBoard backend: a run's scalars as standard event files under ``<run>/tensorboard/``.

Each ``metrics`` record becomes one event at step ``env_steps`` holding every numeric value under
its own name (``sps``, ``train/value_loss``...) and each short integer list (``action_hist``) as a
histogram; episodes add ``episode/return`` and ``episode/length``, evaluations ``eval/*``. Event
times are the records' ``t``, so a replayed run (``rlops export``) looks like the live one. A
``resume`` writes a session restart, so that TensorBoard drops what a killed process logged past
the checkpoint the run went back to. Written with TensorBoard's own event-file writer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from tensorboard.compat.proto.event_pb2 import Event, SessionLog
from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from rlops.events.schema import End, Record, Resume
from rlops.sinks.base import RunContext
from rlops.sinks.series import series_of

DIRECTORY = "tensorboard"


class TensorBoardSink:
    name = "tensorboard"
    lost = 0  # it delivers within export (Sink.lost)

    def __init__(self, logdir: Path) -> None:
        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        # A file per process, named by time, host and pid: a resumed run adds one beside the first.
        self.writer = EventFileWriter(str(self.logdir), max_queue_size=1024, flush_secs=5)

    @classmethod
    def for_run(cls, context: RunContext) -> TensorBoardSink:
        return cls(Path(context.run_dir) / DIRECTORY)

    def export(self, batch: Sequence[Record]) -> None:
        for record in batch:
            for event in events_of(record):
                self.writer.add_event(event)
            if isinstance(record, End):
                self.writer.flush()

    def flush(self) -> None:
        self.writer.flush()

    def shutdown(self) -> None:
        self.writer.close()


def events_of(record: Record) -> Iterator[Event]:
    """The TensorBoard events of one record (none for the types TensorBoard has no view of)."""
    points = series_of(record)
    if points is not None:
        yield _event(record, record.env_steps, [
            Summary.Value(tag=key, histo=histogram(value)) if isinstance(value, list)
            else Summary.Value(tag=key, simple_value=float(value)) for key, value in points.items()])
    elif isinstance(record, Resume):
        yield Event(wall_time=record.t, step=record.env_steps, session_log=SessionLog(status=SessionLog.START))


def histogram(counts: list[int]) -> HistogramProto:
    """A histogram of counts per integer bin (``action_hist``: how often each action was taken)."""
    total = sum(counts)
    return HistogramProto(min=0.0, max=float(max(len(counts) - 1, 0)), num=float(total),
                          sum=float(sum(i * c for i, c in enumerate(counts))),
                          sum_squares=float(sum(i * i * c for i, c in enumerate(counts))),
                          bucket_limit=[i + 0.5 for i in range(len(counts))], bucket=[float(c) for c in counts])


def _event(record: Record, step: int, values: list[Summary.Value]) -> Event:
    return Event(wall_time=record.t, step=step, summary=Summary(value=values))
