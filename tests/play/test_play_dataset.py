"""Save as dataset: a play session's episodes become an offline-RL dataset (Minari's layout, a
manifest of hashes) whose source is the session's run, through the real dashboard and session."""

from __future__ import annotations

import asyncio
import json
import urllib.error
from pathlib import Path

import pytest

from rlops.datasets.episodes import read_episodes
from tests.play.test_play_api import drive, run_row, server, start, steps_of, until, ws_url  # noqa: F401
from tests.ui.test_dashboard_browser import api, wait_for


@pytest.mark.slow  # a dashboard and a session process: ~8 s here
def test_a_sessions_episodes_are_saved_as_a_dataset_whose_source_is_the_session(server):  # noqa: F811
    base, _ = server
    run_id = start(base, env_id="CartPole-v1", mode="human", fps=60)

    async def script(ws, received):  # noqa: ANN001 - no key held: pushed left until the pole falls
        await until(received, lambda m: m["type"] == "episode")
        await until(received, lambda m: m["type"] == "step" and m["episode"] == 1 and m["step"] >= 2)

    asyncio.run(drive(ws_url(base, run_id), script))
    run_row(base, run_id)
    steps = wait_for(lambda: steps_of(base, run_id), 20, "the session's steps")
    saved = api(base, f"/api/play/{run_id}/dataset", {"name": "demos"})
    assert saved["name"] == "demos" and saved["env_id"] == "CartPole-v1"
    assert saved["source"] == {"kind": "play", "run_id": run_id, "mode": "human", "env_id": "CartPole-v1"}
    assert saved["episodes"] == 2 and saved["steps"] == len(steps)  # the cut second episode is kept
    assert api(base, "/api/datasets/demos/verify", {})["problems"] == []  # every hash matches
    assert any(d["name"] == "demos" for d in api(base, "/api/datasets")["datasets"])  # on the Datasets page

    episodes = list(read_episodes(Path(saved["path"]) / "data" / "main_data.hdf5"))
    first = [s for s in steps if s["episode"] == 0]
    assert episodes[0].actions.tolist() == [s["action"] for s in first] == [0] * len(first)
    assert episodes[0].rewards.tolist() == [s["reward"] for s in first]
    assert len(episodes[0].observations) == len(first) + 1 and episodes[0].observations.shape[1:] == (4,)
    assert episodes[0].terminations[-1] and not episodes[1].terminations.any()
    assert episodes[1].truncations[-1]  # cut short by the page: never a terminal state

    with pytest.raises(urllib.error.HTTPError) as taken:
        api(base, f"/api/play/{run_id}/dataset", {"name": "demos"})
    assert taken.value.code in (409, 422) and "already exists" in json.loads(taken.value.read())["error"]["message"]
