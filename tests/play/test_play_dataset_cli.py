"""`rlops dataset save RUN`: the dashboard's Save as dataset from the terminal, for a play session
played through the real dashboard; anything but a play session is refused with what to do."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rlops.datasets.episodes import read_episodes
from tests.play.test_play_api import drive, run_row, server, start, steps_of, until, ws_url  # noqa: F401
from tests.ui.test_dashboard_browser import clean_env, wait_for


def rlops(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rlops", *args], cwd=home, env=clean_env(), capture_output=True,
                          text=True, timeout=120)


@pytest.mark.slow  # a dashboard and a session process: ~8 s here
def test_a_play_session_is_saved_as_a_dataset_from_the_terminal(server):  # noqa: F811
    base, home = server
    run_id = start(base, env_id="CartPole-v1", mode="human", fps=60)

    async def script(ws, received):  # noqa: ANN001 - no key held: pushed left until the pole falls
        await until(received, lambda m: m["type"] == "episode")

    asyncio.run(drive(ws_url(base, run_id), script))
    run_row(base, run_id)
    steps = wait_for(lambda: steps_of(base, run_id), 20, "the session's steps")

    saved = rlops(home, "dataset", "save", run_id, "--name", "from-terminal", "--json")
    assert saved.returncode == 0, saved.stderr
    row = json.loads(saved.stdout)
    assert row["source"] == {"kind": "play", "run_id": run_id, "mode": "human", "env_id": "CartPole-v1"}
    first = [s for s in steps if s["episode"] == 0]
    episodes = list(read_episodes(Path(row["path"]) / "data" / "main_data.hdf5"))
    assert episodes[0].actions.tolist() == [s["action"] for s in first]
    assert rlops(home, "dataset", "verify", "from-terminal").returncode == 0

    again = rlops(home, "dataset", "save", run_id, "--name", "from-terminal")
    assert again.returncode != 0 and "already exists" in again.stderr

    missing = rlops(home, "dataset", "save", "no-such-session")
    assert missing.returncode != 0 and "unknown run 'no-such-session'" in missing.stderr, missing.stderr
    bare = rlops(home, "dataset", "save")
    assert bare.returncode != 0 and "no play session" in bare.stderr, bare.stderr
