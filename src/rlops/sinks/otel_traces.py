"""Run records -> spans: one trace per run process, whose trace id is the run's own.

The run span is the trace's root and takes the run's trace id (``RunIdGenerator``), so a
``trace_id`` in the JSONL log finds its spans in any tracing backend. Episode, evaluation,
checkpoint and (optionally) step spans are its children, timed from the records: spans are
written after the fact with explicit start and end times, never held open across records.

- an episode starts where the previous episode of the same env ended (the env resets at once),
  the first at the run's start or its resume;
- an evaluation starts at the checkpoint it scores (saved just before), else it is an instant;
- a checkpoint is an instant; a step spans the time since the previous step of its episode.

Sampling follows OpenTelemetry: ``ParentBased(TraceIdRatioBased(traces.sample_rate))`` decides
once per run from its trace id (a collector sampling by trace id agrees), and step spans, the
high-volume ones, are kept at that same rate again within a kept run.

The run span is the SDK's own. Its children are finished when they are made, so they are built
as the SDK would end them (a ``ReadableSpan``: the run's trace, its sampling flags and state, a
new span id, the run span as parent, the same resource and scope) and handed to the batch
processor directly: the SDK's live-span machinery (sampler, lock, limits, context lookups) was
~80% of an episode span's cost on the sink's thread, and none of it applies to a span that is
already over. Attribute values are the records' own typed fields; any other value, or span
limits set through the environment, goes through the SDK's ``BoundedAttributes`` as before.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode

from rlops.events.schema import Checkpoint, End, Episode, Error, Eval, Meta, Record, Resume, Step
from rlops.options.schema import TracesOptions


class RunIdGenerator(IdGenerator):
    """Root spans get the run's trace id; span ids stay random."""

    def __init__(self, trace_id: int) -> None:
        self.trace_id = trace_id
        self._random = RandomIdGenerator()

    def generate_trace_id(self) -> int:
        return self.trace_id

    def generate_span_id(self) -> int:
        return self._random.generate_span_id()


_PLAIN = frozenset((bool, int, float, str))  # attribute values taken as they are (SDK-cleaned otherwise)


class RunTraces:
    def __init__(self, tracer: Any, options: TracesOptions, attributes: dict[str, str], seed: int,
                 processor: SpanProcessor | None = None, ids: IdGenerator | None = None,
                 limits: SpanLimits | None = None) -> None:
        self.tracer = tracer
        self.options = options
        self.attributes = attributes
        # The tracer's own processor, id generator and span limits: children made without the SDK's
        # live-span path go to the same processor, and None for any of them means that path for all.
        self._processor, self._ids, self._limits = processor, ids, limits
        self._parent: SpanContext | None = None  # the run span's context, when it is sampled
        self.run: Span | None = None
        self.context: Any = None
        self.started = 0
        self.ended = 0  # recording spans ended: what the batch processor was handed
        self._episode_start: dict[int, int] = {}
        self._last_step: dict[tuple[int, int], int] = {}
        self._checkpoints: dict[str, int] = {}
        self._steps = random.Random(seed)  # step sampling, reproducible per run

    def record(self, record: Record) -> Span | ReadableSpan | None:
        """Trace one record; return the span it made (logs about it point there), if any."""
        t = _ns(record.t)
        self._start_run(t)
        if isinstance(record, Episode):
            return self._episode(record, t) if self.options.trace_episodes else None
        if isinstance(record, Checkpoint):
            self._checkpoints[record.path] = t
            return self._instant("rl.checkpoint", t, {"rl.checkpoint.path": record.path,
                                                      "rl.checkpoint.sha256": record.sha256,
                                                      "rl.env_steps": record.env_steps})
        if isinstance(record, Eval):
            return self._eval(record, t) if self.options.trace_evals else None
        if isinstance(record, Step):
            return self._step(record, t) if self.options.trace_steps else None
        if isinstance(record, Meta):
            self.run.set_attributes({"rl.device": record.device, "rl.producer": record.producer})
            if record.seed is not None:
                self.run.set_attribute("rl.seed", record.seed)
        elif isinstance(record, Resume):
            self._episode_start.clear()
            self.started = t
            self.run.add_event("resumed", {"rl.checkpoint.path": record.checkpoint, "rl.env_steps": record.env_steps},
                               timestamp=t)
        elif isinstance(record, Error):
            kind, _, message = record.message.partition(": ")
            self.run.add_event("exception", {"exception.type": kind, "exception.message": message or kind,
                                             "exception.stacktrace": record.traceback or ""}, timestamp=t)
        elif isinstance(record, End):
            self._end(record, t)
        return None

    def close(self) -> None:
        """End the run span now if no ``end`` record did (the process is going away)."""
        if self.run is not None and self.run.is_recording():
            self._finish(self.run, time.time_ns())

    def _start_run(self, t: int) -> None:
        if self.run is None:
            self.run = self.tracer.start_span("rl.run", kind=SpanKind.INTERNAL, start_time=t,
                                              attributes=self.attributes)
            self.context = trace.set_span_in_context(self.run)
            self.started = t
            if self.run.is_recording() and None not in (self._processor, self._ids, self._limits):
                self._parent = self.run.get_span_context()

    def _episode(self, record: Episode, t: int) -> Span | ReadableSpan:
        start = min(self._episode_start.get(record.env_index, self.started), t)
        self._episode_start[record.env_index] = t
        attributes = {"rl.episode.return": record.episode_return, "rl.episode.length": record.length,
                      "rl.episode.index": record.episode, "rl.env_index": record.env_index,
                      "rl.env_steps": record.env_steps}
        if record.success is not None:
            attributes["rl.episode.success"] = record.success
        return self._span("rl.episode", start, t, attributes)

    def _eval(self, record: Eval, t: int) -> Span | ReadableSpan:
        start = min(self._checkpoints.get(record.checkpoint or "", t), t)
        attributes = {"rl.eval.episodes": record.episodes, "rl.eval.mean_reward": record.mean_reward,
                      "rl.eval.std_reward": record.std_reward, "rl.eval.mean_length": record.mean_length,
                      "rl.env_steps": record.env_steps}
        if record.checkpoint:
            attributes["rl.checkpoint.path"] = record.checkpoint
        return self._span("rl.eval", start, t, attributes)

    def _step(self, record: Step, t: int) -> Span | ReadableSpan | None:
        key = (record.env_index, record.episode)
        start = min(self._last_step.get(key, t), t)
        self._last_step[key] = t
        if self._steps.random() >= self.options.sample_rate:
            return None
        attributes = {"rl.episode.index": record.episode, "rl.step": record.step, "rl.reward": record.reward,
                      "rl.terminated": record.terminated, "rl.truncated": record.truncated,
                      "rl.env_index": record.env_index}
        if record.action is not None:
            attributes["rl.action"] = _attribute(record.action)
        return self._span("rl.step", start, t, attributes)

    def _end(self, record: End, t: int) -> None:
        self.run.set_attributes({"rl.end.status": record.status, "rl.env_steps": record.env_steps or 0})
        if record.reason:
            self.run.set_attribute("rl.end.reason", record.reason)
        if record.status == "failed":
            self.run.set_status(Status(StatusCode.ERROR, record.reason or "the run failed"))
        self._finish(self.run, t)

    def _instant(self, name: str, t: int, attributes: dict[str, Any]) -> Span | ReadableSpan:
        return self._span(name, t, t, attributes)

    def _span(self, name: str, start: int, end: int, attributes: dict[str, Any]) -> Span | ReadableSpan:
        parent = self._parent
        if parent is None or not self.run.is_recording():  # an unsampled run, or one that has ended
            span = self.tracer.start_span(name, context=self.context, start_time=start, attributes=attributes)
            self._finish(span, end)
            return span
        # What the SDK makes of a child of a sampled local parent (ParentBased: always sampled):
        # the parent's trace id, flags and trace state, a new span id, ended at ``end``.
        context = SpanContext(parent.trace_id, self._ids.generate_span_id(), is_remote=False,
                              trace_flags=parent.trace_flags, trace_state=parent.trace_state)
        span = ReadableSpan(name, context=context, parent=parent, resource=self.run.resource,
                            attributes=self._attributes(attributes), kind=SpanKind.INTERNAL, start_time=start,
                            end_time=end, instrumentation_scope=self.run.instrumentation_scope)
        self.ended += 1
        self._processor.on_end(span)
        return span

    def _attributes(self, attributes: dict[str, Any]) -> Any:
        limits = self._limits
        if (limits.max_span_attribute_length is None and len(attributes) <= limits.max_span_attributes
                and all(type(value) in _PLAIN for value in attributes.values())):
            return attributes
        return BoundedAttributes(limits.max_span_attributes, attributes, immutable=True,
                                 max_value_len=limits.max_span_attribute_length)

    def _finish(self, span: Span, end: int) -> None:
        if span.is_recording():  # unsampled spans never reach the processor
            self.ended += 1
        span.end(end_time=end)


def as_span(span: Span | ReadableSpan) -> Span:
    """A span to put in a context (a log's): a child span made here is a finished ``ReadableSpan``."""
    return span if isinstance(span, Span) else NonRecordingSpan(span.get_span_context())


def _ns(seconds: float) -> int:
    return int(seconds * 1e9) if seconds else time.time_ns()


def _attribute(value: Any) -> Any:
    """An OpenTelemetry attribute value: a scalar, a flat list of numbers, else its JSON text."""
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list) and value and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                 for v in value):
        return [float(v) for v in value]
    return json.dumps(value)
