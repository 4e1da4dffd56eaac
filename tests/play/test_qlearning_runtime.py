"""The custom agent runtime example: tabular Q-learning under the ``command`` runner, its Q-table
checkpoint (hashed, loaded without unpickling), registered, validated and deployed on the play
page's session in agent mode, its belief, intention and confidence in the step records."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import numpy as np
import pytest

from rlops.errors import CheckpointCorruptError
from rlops.play.qtable import TABLE, read_qtable, write_qtable
from tests.play.test_play_api import ROOT, drive, run_row, server, start, steps_of, until, ws_url  # noqa: F401
from tests.ui.test_dashboard_browser import api, clean_env, wait_for


def test_a_qtable_round_trips_and_a_changed_or_pickled_one_is_refused(tmp_path):
    table = np.arange(16 * 4, dtype=np.float64).reshape(16, 4)
    path = write_qtable(tmp_path / "q", table, "FrozenLake-v1", env_steps=10)
    loaded, manifest = read_qtable(path)
    assert np.array_equal(loaded, table) and manifest["env_id"] == "FrozenLake-v1"
    np.save(path / TABLE, table + 1, allow_pickle=False)
    with pytest.raises(CheckpointCorruptError, match="does not match its hash"):
        read_qtable(path)
    pickled = write_qtable(tmp_path / "p", table, "FrozenLake-v1")
    np.save(pickled / TABLE, np.array([{"code": 1}], dtype=object), allow_pickle=True)
    manifest = json.loads((pickled / "manifest.json").read_text())
    import hashlib
    manifest["files"][TABLE]["sha256"] = hashlib.sha256((pickled / TABLE).read_bytes()).hexdigest()
    (pickled / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointCorruptError, match="without unpickling"):
        read_qtable(pickled)


@pytest.mark.slow  # trains for a few seconds under the orchestrator
def test_the_qlearning_example_trains_registers_and_plays_in_agent_mode(server):
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
    kinds = {e["type"] for e in api(base, "/api/runs/qlearn/events")}
    assert {"checkpoint", "eval", "meta"} <= kinds

    run_id = start(base, env_id="FrozenLake-v1", mode="agent", model_id=model["id"], fps=60)

    async def script(ws, received):  # noqa: ANN001
        await until(received, lambda m: m["type"] == "step" and m["step"] >= 3 or m["type"] == "episode")

    asyncio.run(drive(ws_url(base, run_id), script))
    run_row(base, run_id)
    steps = wait_for(lambda: steps_of(base, run_id), 20, "the agent's steps")
    assert all(s["actor"] == "agent" and 0 <= s["confidence"] <= 1 and s["intention"].startswith("action")
               and len(s["belief"]["q"]) == 4 for s in steps)
    replay = api(base, f"/api/runs/{run_id}/replays/0")
    assert replay["steps"][0]["belief"] == steps[0]["belief"]
