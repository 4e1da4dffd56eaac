"""A burst of episodes (a vector run at 16,384 envs finishes thousands at once) reaches the OTel
file export whole: the SDK's batch processors drop what overflows their queues, so the sink
drains them before they could ("Queue full, dropping Span" lost a fifth of 10,000 before)."""

from __future__ import annotations

import json

from rlops.events.schema import End, Episode, Meta
from rlops.options import resolve_options
from rlops.sinks.otel import OtelSink
from rlops.sinks.recorder import new_trace_id

EPISODES = 10_000


def test_ten_thousand_episodes_at_once_are_all_exported(tmp_path):
    options = resolve_options(environ={}, args=["--metrics.enable", "false"]).options  # traces and logs
    run_id, trace_id = "burst", new_trace_id()
    sink = OtelSink(options, tmp_path, run_id, trace_id)
    sink.export([Meta(run_id=run_id, trace_id=trace_id, seq=0, t=1.8e9, config={}, device="cpu", producer="test")])
    episodes = [Episode(run_id=run_id, trace_id=trace_id, seq=i + 1, t=1.8e9 + 1 + i * 1e-4, env_index=i % 8,
                        episode=i, episode_return=float(i % 200), length=10, env_steps=10 * (i + 1))
                for i in range(EPISODES)]
    for start in range(0, EPISODES, 1024):  # as the dispatcher hands them: a few large batches
        sink.export(episodes[start:start + 1024])
    sink.export([End(run_id=run_id, trace_id=trace_id, seq=EPISODES + 1, t=1.8e9 + 3, status="finished",
                     env_steps=10 * EPISODES)])
    sink.shutdown()
    names = [json.loads(line)["name"] for line in (tmp_path / "otel" / "traces.jsonl").read_text().splitlines()]
    assert sink.lost == 0
    assert names.count("rl.episode") == EPISODES and names.count("rl.run") == 1
