"""The OTel sink's cheap per-episode path (issue 13.3) exports exactly what the SDK's own path did.

Child spans (episodes, evaluations, checkpoints, steps) are built as finished ``ReadableSpan``s
and handed to the batch processor, the file exporter formats spans without ``to_json``, and the
rolling mean return is set once per batch: each is checked here against the SDK itself, through
the SDK's OTLP encoder and its ``to_json``, with real providers and processors.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.sdk.util import ns_to_iso_str

from rlops.events.schema import Checkpoint, End, Episode, Eval, Meta, Step
from rlops.options import resolve_options
from rlops.sinks.otel import OtelSink
from rlops.sinks.otel_exporters import iso_time, span_line
from rlops.sinks.otel_traces import RunIdGenerator, RunTraces
from rlops.sinks.recorder import new_trace_id
from tests.sinks import otel_files

TRACE_ID = "0123456789abcdef0123456789abcdef"


def run_records() -> list:
    t0 = 1_795_431_343.25
    records = [Meta(seq=0, t=t0, config={}, device="cpu", producer="test", seed=3)]
    for i in range(6):
        records.append(Episode(seq=len(records), t=t0 + 0.5 + i * 0.1234567, env_index=i % 2, episode=i,
                               episode_return=10.5 - i, length=20 + i, env_steps=100 * (i + 1),
                               success=None if i % 3 else bool(i % 2)))
    records.append(Checkpoint(seq=len(records), t=t0 + 2.0, path="/runs/r/checkpoints/step_600.zip", env_steps=600,
                              sha256="ab" * 32))
    records.append(Eval(seq=len(records), t=t0 + 2.5, episodes=5, mean_reward=9.75, std_reward=0.5, mean_length=21.0,
                        checkpoint="/runs/r/checkpoints/step_600.zip", env_steps=600))
    records.append(Step(seq=len(records), t=t0 + 2.6, episode=0, step=1, action=[0.5, -1.0], reward=1.0,
                        terminated=False, truncated=False, env_index=0))
    records.append(Step(seq=len(records), t=t0 + 2.7, episode=0, step=2, action=1, reward=0.5, terminated=True,
                        truncated=False, env_index=0))
    records.append(End(seq=len(records), t=t0 + 3.0, status="finished", env_steps=600))
    return records


def exported(fast: bool, records: list, limits: SpanLimits | None = None) -> list:
    """The spans a RunTraces hands the SDK's processor, through the cheap path or the SDK's own."""
    exporter = InMemorySpanExporter()
    ids, limits = RunIdGenerator(int(TRACE_ID, 16)), limits or SpanLimits()
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(1.0)), id_generator=ids, span_limits=limits,
                              resource=Resource.create({"rlops.run_id": "r", "rl.env_id": "CartPole-v1"}),
                              shutdown_on_exit=False)
    processor = SimpleSpanProcessor(exporter)
    provider.add_span_processor(processor)
    options = resolve_options(environ={}, args=["--traces.trace-steps", "true"]).options.traces
    traces = RunTraces(provider.get_tracer("rlops", "1.0"), options, {"rl.env_id": "CartPole-v1"}, seed=7,
                       **({"processor": processor, "ids": ids, "limits": limits} if fast else {}))
    for record in records:
        traces.record(record)
    provider.shutdown()
    assert traces.ended == len(exporter.get_finished_spans())
    return list(exporter.get_finished_spans())


def without_span_ids(message) -> bytes:
    """The OTLP request with the (random) span ids replaced by each span's position."""
    positions = {}
    for resource_spans in message.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                positions[span.span_id] = len(positions).to_bytes(8, "big")
    for resource_spans in message.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                span.span_id = positions[span.span_id]
                if span.parent_span_id:
                    span.parent_span_id = positions[span.parent_span_id]
    return message.SerializeToString(deterministic=True)


def test_child_spans_built_directly_encode_exactly_as_the_sdks_own():
    records = run_records()
    fast, sdk = exported(True, records), exported(False, records)
    assert [s.name for s in fast] == [s.name for s in sdk] and len(fast) == 11
    assert without_span_ids(encode_spans(fast)) == without_span_ids(encode_spans(sdk))  # the OTLP export
    for ours, theirs in zip(fast, sdk, strict=True):
        assert dict(ours.attributes) == dict(theirs.attributes)
        assert type(ours.attributes.get("rl.action", ())) is type(theirs.attributes.get("rl.action", ()))
        assert ours.context.trace_flags == theirs.context.trace_flags and ours.resource == theirs.resource
        assert ours.instrumentation_scope == theirs.instrumentation_scope
        mine, sdks = json.loads(ours.to_json()), json.loads(theirs.to_json())  # the file export's reference
        for document in (mine, sdks):
            document["context"]["span_id"] = document["parent_id"] = None
        assert mine == sdks
        assert json.loads(span_line(ours)) == json.loads(ours.to_json(indent=None))


def test_span_limits_and_odd_values_still_go_through_the_sdks_rules(caplog):
    records = run_records()
    records[1] = Episode(seq=1, t=records[1].t, episode=0, episode_return=np.float64(2.5), length=np.int64(7),
                         env_steps=7)  # a NumPy integer is not an attribute type: the SDK writes its str()
    limits = SpanLimits(max_span_attribute_length=8)  # what OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT sets
    fast, sdk = exported(True, records, limits), exported(False, records, limits)
    assert [dict(s.attributes) for s in fast] == [dict(s.attributes) for s in sdk]
    checkpoint = next(s for s in fast if s.name == "rl.checkpoint")
    assert checkpoint.attributes["rl.checkpoint.path"] == "/runs/r/"
    episode = next(s for s in fast if s.name == "rl.episode")
    assert episode.attributes["rl.episode.length"] == "7" and episode.attributes["rl.episode.return"] == 2.5


def test_an_unsampled_run_makes_no_span_and_its_logs_keep_the_trace(tmp_path):
    options = resolve_options(environ={}, args=["--traces.sample-rate", "0"]).options
    sink = OtelSink(options, tmp_path, "r", TRACE_ID)
    sink.export(run_records())
    sink.shutdown()
    assert otel_files.spans(tmp_path / "otel" / "traces.jsonl") == []
    logs = otel_files.log_records(tmp_path / "otel" / "logs.jsonl")
    assert [entry["body"] for entry in logs][-1] == "run ended" and {e["trace_id"] for e in logs} == {TRACE_ID}


def test_the_file_export_of_a_run_joins_logs_to_spans_and_keeps_the_rolling_mean(tmp_path):
    options = resolve_options(environ={}, args=[]).options
    sink = OtelSink(options, tmp_path, "r", new_trace_id())
    records = run_records()
    episodes = [Episode(seq=100 + i, t=records[0].t + 1 + i * 1e-3, episode=10 + i, episode_return=float(i),
                        length=5, env_steps=5 * i) for i in range(130)]
    sink.export(records[:-1])
    for start in range(0, len(episodes), 64):  # batches, as the dispatcher hands them
        sink.export(episodes[start:start + 64])
    sink.export(records[-1:])
    sink.shutdown()
    files = tmp_path / "otel"
    spans = otel_files.spans(files / "traces.jsonl")
    (run,) = [s for s in spans if s["name"] == "rl.run"]
    assert len([s for s in spans if s["name"] == "rl.episode"]) == 6 + 130
    assert {s["parent_id"] for s in spans if s is not run} == {run["span_id"]}
    (eval_span,) = [s for s in spans if s["name"] == "rl.eval"]
    (eval_log,) = [e for e in otel_files.log_records(files / "logs.jsonl") if e["body"] == "eval done"]
    assert eval_log["span_id"] == eval_span["span_id"]
    points = otel_files.points(files / "metrics.jsonl")
    mean = [p for p in points if p["name"] == "rl.episode.return.mean"][-1]["value"]
    last = [e.episode_return for e in records[1:7] + episodes][-100:]
    assert mean == pytest.approx(sum(last) / len(last), rel=1e-12)


def test_timestamps_are_formatted_exactly_as_the_sdk_does():
    rng = random.Random(5)
    values = [rng.randrange(10**18, 2 * 10**18) for _ in range(20000)]
    # half-microsecond ties and fractions that round up into the next second
    values += [1_795_431_343 * 10**9 + us * 1000 + 500 for us in range(0, 1_000_000, 4999)]
    values += [s * 10**9 + 999_999_500 + d for s in range(1_795_431_300, 1_795_431_320) for d in (-1, 0, 1, 499)]
    assert [iso_time(v) for v in values] == [ns_to_iso_str(v) for v in values]
    assert iso_time(0) is None and iso_time(None) is None
