"""What the runs table heads each run with (issue 19, items 14, 15 and 19), over a real SQLite
store served by a real server: the return as the mean of the last 100 episodes (not one raw
episode), env steps that episodes move before any metrics record, and the name a run gets when
none is given."""

from __future__ import annotations

import json
import re

import httpx

from rlops.api.app import create_app
from rlops.events.schema import Episode, Meta, Metrics
from rlops.orchestrator.runners import default_run_name, get_runner
from rlops.store.runs import RunStore
from tests.api.http_helpers import serving

DB = "rlruns/rlops.db"
TRACE = "0" * 32


def episodes(run_id: str, returns: list[float], first_seq: int = 1, step: int = 10) -> list[Episode]:
    return [Episode(run_id=run_id, trace_id=TRACE, seq=first_seq + i, t=1.0 + i, episode=i, episode_return=r,
                    length=step, env_steps=(i + 1) * step) for i, r in enumerate(returns)]


def fill(runs: dict[str, list]) -> None:
    with RunStore(DB) as store:
        for run_id, records in runs.items():
            store.ingest([Meta(run_id=run_id, trace_id=TRACE, seq=0, t=1.0,
                               config={"env": {"env_id": "CartPole-v1"}, "agent": {"algorithm": "ppo"}}), *records])


def first_stream_events(client: httpx.Client, count: int) -> dict[str, dict]:
    found = {}
    with client.stream("GET", "/api/stream/runs") as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                summary = json.loads(line[6:])
                found[summary["run_id"]] = summary
                if len(found) == count:
                    return found
    raise AssertionError(f"the stream ended after {len(found)} runs")


def test_a_run_is_headed_by_the_mean_of_its_last_100_episodes():
    returns = [float(i) for i in range(150)]  # the last episode, 149, is not the policy's level
    fill({"long": episodes("long", returns), "short": episodes("short", [3.0, 5.0]), "none": []})
    with serving(create_app(DB)) as client:
        listed = {row["run_id"]: row for row in client.get("/api/runs").json()}
        one = client.get("/api/runs/long").json()
        streamed = first_stream_events(client, 3)
    for row in (listed["long"], one, streamed["long"]):
        assert row["recent_return"] == sum(returns[-100:]) / 100 == 99.5
        assert row["recent_episodes"] == 100 and row["last_return"] == 149.0
    for row in (listed["short"], streamed["short"]):
        assert (row["recent_return"], row["recent_episodes"]) == (4.0, 2)  # fewer than 100: all of them
    for row in (listed["none"], streamed["none"]):
        assert (row["recent_return"], row["recent_episodes"]) == (None, 0)


def test_env_steps_follow_the_episodes_before_any_metrics_record():
    # PPO's default rollout is 16,384 steps: dozens of episodes end before its first metrics record.
    fill({"early": episodes("early", [10.0] * 43, step=25)})
    with serving(create_app(DB)) as client:
        assert client.get("/api/runs").json()[0]["env_steps"] == 43 * 25
        with RunStore(DB) as store:  # the first metrics record, at the end of the rollout
            store.ingest([Metrics(run_id="early", trace_id=TRACE, seq=100, t=50.0, env_steps=2048)])
            store.ingest(episodes("early", [12.0], first_seq=101, step=2050))
        row = client.get("/api/runs/early").json()
    assert row["env_steps"] == 2050 and row["episodes"] == 44


def test_a_run_started_without_a_name_is_named_env_algo_time():
    rlops = get_runner("rlops")
    assert re.fullmatch(r"CartPole-v1-ppo-\d{8}-\d{6}-[0-9a-f]{4}", default_run_name(rlops, []))  # the defaults
    named = default_run_name(rlops, ["--env.env-id", "Acrobot-v1", "--agent.algorithm", "a2c"])
    assert re.fullmatch(r"Acrobot-v1-a2c-\d{8}-\d{6}-[0-9a-f]{4}", named)
    assert re.fullmatch(r"command-\d{8}-\d{6}-[0-9a-f]{4}", default_run_name(get_runner("command"), ["true"]))
