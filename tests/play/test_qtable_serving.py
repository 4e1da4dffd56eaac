"""Q-table models served by ``rlops serve`` (a real server process on loopback): the greedy action
for a state, batches, clear 422s, hotswap to a better validated table; the registry calls them
intact; and the whole chain of a custom runtime: the Q-learning example trains under the command
runner and registers its table, the policy server serves it and the play page deploys it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from rlops.errors import UsageError
from rlops.pipeline.qtable import TABLE, write_qtable
from rlops.services.registry_ops import resolve_model, verify
from rlops.store.registry import Registry
from tests.play.test_play_api import ROOT, drive, run_row, server, start, steps_of, until, ws_url  # noqa: F401
from tests.policy_server import policy_server
from tests.ui.test_dashboard_browser import api, clean_env, wait_for

DB = "rlruns/rlops.db"


def register_table(path: Path, greedy: int, mean_reward: float, validated: bool = True) -> int:
    """A FrozenLake Q-table whose greedy action is ``greedy`` in every state, registered and scored."""
    table = np.zeros((16, 4))
    table[:, greedy] = 1.0
    write_qtable(path, table, "FrozenLake-v1", env_steps=100)
    registry = Registry(DB)
    try:
        model_id = registry.add(path.resolve(), "qlearning", "FrozenLake-v1", total_timesteps=100)
        registry.set_evaluation(model_id, mean_reward, 0.1, 6.0, 20)
        registry.set_validation(model_id, validated, [])
    finally:
        registry.close()
    return model_id


@pytest.mark.slow  # a policy server process: ~15 s on this loaded machine
def test_a_qtable_is_served_by_its_path_and_hotswapped_to_a_better_one():
    first = register_table(Path("tables/first"), greedy=2, mean_reward=0.5)
    # By its directory (the chain test below serves one by --model-id): the registry row is found by path.
    with policy_server("tables/first", "--serve.hotswap", "best", "--serve.poll-interval", "0.2") as url, \
            httpx.Client(base_url=url) as client:
        described = client.get("/v1/model").json()
        assert described["model_id"] == first and described["format"] == "rlops-qtable/1"
        assert described["env_id"] == "FrozenLake-v1" and described["observation_shape"] == []
        assert client.post("/v1/act", json={"observation": 5}).json() == {"action": 2, "model_id": first}
        assert client.post("/v1/act", json={"observations": [0, 7, 15]}).json()["actions"] == [2, 2, 2]
        for body in ({"observation": 16}, {"observation": -1}, {"observation": 1.5}, {"observation": "left"},
                     {"observation": [[1]]}, {"observations": [1, True]}, {}):
            refused = client.post("/v1/act", json=body)
            assert refused.status_code == 422, body
            error = refused.json()["error"]
            assert "state" in error["message"] + str(error["hint"]) or "exactly one" in error["message"], body

        better = register_table(Path("tables/better"), greedy=1, mean_reward=0.9)
        deadline = time.monotonic() + 20
        while client.get("/v1/model").json()["model_id"] != better:
            assert time.monotonic() < deadline, "the server never swapped to the better Q-table"
            time.sleep(0.1)
        assert client.post("/v1/act", json={"observation": 5}).json() == {"action": 1, "model_id": better}
        assert client.get("/v1/model").json()["swaps"] == 1


def test_the_registry_calls_a_qtable_intact_until_it_changes_and_names_what_loads_it():
    model_id = register_table(Path("tables/q"), greedy=0, mean_reward=0.5)
    registry = Registry(DB)
    try:
        assert verify(registry, [model_id])[0].ok  # not "not in format rlops-checkpoint"
        with pytest.raises(UsageError, match="is a Q-table") as refused:  # eval and infer load networks
            resolve_model(registry, model_id=model_id)
        assert f"rlops serve --model-id {model_id}" in refused.value.hint
        np.save(Path("tables/q") / TABLE, np.ones((16, 4)), allow_pickle=False)
        check = verify(registry, [model_id])[0]
        assert not check.ok and "does not match its hash" in check.problems[0]
    finally:
        registry.close()


@pytest.mark.slow  # trains under the orchestrator, then serves and plays
def test_the_qlearning_example_trains_registers_is_served_and_deployed_on_the_play_page(server):  # noqa: F811
    base, home = server
    # FrozenLake is slippery: a greedy Q-table wins about 70% of its episodes, so its returns (0 or 1)
    # vary more than the default rule allows.
    env = {**clean_env(), "RL_REGISTRY_MIN_REWARD": "0.1", "RL_REGISTRY_MIN_EPISODES": "1",
           "RL_REGISTRY_MAX_STD_RATIO": "10"}
    subprocess.run([sys.executable, "-m", "rlops", "runs", "start", "--runner", "command", "--name", "qlearn", "--",
                    sys.executable, str(ROOT / "examples" / "qlearning_agent.py"), "--env", "FrozenLake-v1",
                    "--episodes", "2000", "--eval-episodes", "20"], cwd=home, env=env, check=True, capture_output=True)
    assert run_row(base, "qlearn")["status"] == "finished"
    model = wait_for(lambda: next((m for m in api(base, "/api/models?validated=true")
                                   if m["algorithm"] == "qlearning"), None), 20, "the Q-table model")
    assert model["env_id"] == "FrozenLake-v1" and model["run_id"] == "qlearn"
    assert {e["type"] for e in api(base, "/api/runs/qlearn/events")} >= {"checkpoint", "eval", "meta"}
    table = np.load(Path(model["model_path"]) / TABLE, allow_pickle=False)

    with policy_server("--model-id", str(model["id"]), cwd=home) as url:  # the policy server serves the table
        served = httpx.post(f"{url}/v1/act", json={"observations": list(range(16))}).json()
    assert served == {"actions": np.argmax(table, axis=1).tolist(), "model_id": model["id"]}

    run_id = start(base, env_id="FrozenLake-v1", mode="agent", model_id=model["id"], fps=60)  # and the play page

    async def script(ws, received):  # noqa: ANN001
        await until(received, lambda m: m["type"] == "step" and m["step"] >= 3 or m["type"] == "episode")

    asyncio.run(drive(ws_url(base, run_id), script))
    run_row(base, run_id)
    steps = wait_for(lambda: steps_of(base, run_id), 20, "the agent's steps")
    assert all(s["actor"] == "agent" and 0 <= s["confidence"] <= 1 and s["intention"].startswith("action")
               and len(s["belief"]["q"]) == 4 for s in steps)
    for s in steps:  # the play page's agent acts as the server does: greedy over the same table
        assert s["action"] == int(np.argmax(table[s["belief"]["state"]]))
    assert api(base, f"/api/runs/{run_id}/replays/0")["steps"][0]["belief"] == steps[0]["belief"]
