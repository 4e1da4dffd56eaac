"""Save as dataset: a play session's finished episodes (a person's demonstrations, a model's or
both) become an offline-RL dataset, in Minari's layout with its manifest, whose source is the
session's run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rlops.errors import UsageError
from rlops.play.episode_files import read_session_episodes


def save_session_dataset(run: dict[str, Any], model_dir: str | Path, db_path: str | Path,
                         name: str | None = None) -> dict[str, Any]:
    """The dataset row of a new dataset holding ``run``'s episodes (a play run, as the store lists it)."""
    from rlops.datasets.catalog import DatasetCatalog  # h5py loads only when a session is saved

    if run.get("runner") != "play":
        raise UsageError(f"run {run['run_id']} is a {run.get('runner')} run, not a play session",
                         hint="save a play session's episodes; record a policy's with rlops dataset record")
    episodes, observation_space, action_space = read_session_episodes(run["run_dir"])
    mode = run.get("algorithm") or "play"  # a play run's algorithm column is its mode
    source = {"kind": "play", "run_id": run["run_id"], "mode": mode, "env_id": run.get("env_id")}
    catalog = DatasetCatalog(model_dir, db_path)
    try:
        return catalog.add_episodes(episodes, run["env_id"], observation_space, action_space, f"rlops play: {mode}",
                                    source, name=name)
    finally:
        catalog.close()
