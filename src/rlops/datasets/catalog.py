"""The datasets library behind ``rlops dataset`` and ``/api/datasets``: record, import, list,
show, verify, remove and open (the runner's pre-flight), over the directories (``layout``) and
their rows in the store (``store.datasets``). A row is written only after its directory is in
place, so a listing never shows a dataset that is still being written."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from rlops.datasets.episodes import MAIN_FILE, Episode, write_episodes
from rlops.datasets.importing import (
    d3rlpy_episodes,
    is_d3rlpy_file,
    iter_checked,
    minari_data_dir,
    read_minari_metadata,
)
from rlops.datasets.layout import (
    METADATA,
    DatasetDir,
    check_name,
    datasets_root,
    read_dataset_dir,
    remove_partial,
    verify_files,
    write_dataset_dir,
)
from rlops.datasets.minari_metadata import minari_metadata, write_metadata
from rlops.datasets.spaces import describe_space
from rlops.errors import DatasetError, UsageError
from rlops.store.datasets import DatasetStore


class DatasetCatalog:
    def __init__(self, model_dir: str | Path, db_path: str | Path) -> None:
        self.root = datasets_root(model_dir)
        self.store = DatasetStore(db_path)

    def close(self) -> None:
        self.store.close()

    # -- writing --------------------------------------------------------------------------------

    def record(self, checkpoint: Any, episodes: int, epsilon: float = 0.0, name: str | None = None,
               seed: int = 0, source: dict[str, Any] | None = None) -> dict[str, Any]:
        """Roll the checkpoint's policy out for ``episodes`` episodes into a new dataset."""
        from rlops.datasets.record import PolicyRollout

        if episodes < 1:
            raise UsageError(f"--episodes {episodes}: a dataset needs at least one episode", hint="--episodes 50")
        rollout = PolicyRollout(checkpoint, epsilon=epsilon, seed=seed)
        try:
            name = check_name(name or default_name(rollout.env_id))
            source = {"kind": "record", "checkpoint": str(checkpoint.path), "checkpoint_sha256": checkpoint.sha256,
                      "epsilon": epsilon, "seed": seed, **(source or {})}
            algorithm = f"rlops record: {checkpoint.options['agent']['algorithm']} (epsilon {epsilon})"
            return self._write(name, rollout.episodes(episodes), rollout.env_id, rollout.env.observation_space,
                               rollout.env.action_space, algorithm, source)
        finally:
            rollout.close()

    def add_episodes(self, episodes: Any, env_id: str, observation_space: Any, action_space: Any, algorithm: str,
                     source: dict[str, Any], name: str | None = None) -> dict[str, Any]:
        """Episodes gathered elsewhere (a play session's) into a new dataset, ``source`` saying where."""
        return self._write(check_name(name or default_name(env_id)), iter(episodes), env_id, observation_space,
                           action_space, algorithm, source)

    def import_path(self, path: str | Path, name: str | None = None, env_id: str | None = None) -> dict[str, Any]:
        """A Minari dataset directory, or a d3rlpy MDPDataset file (with ``env_id``)."""
        path = Path(path)
        data_dir = minari_data_dir(path) if path.is_dir() else None
        if data_dir is not None:
            return self._import_minari(data_dir, name)
        if is_d3rlpy_file(path):
            if not env_id:
                raise UsageError(f"{path} is a d3rlpy MDPDataset file, which does not say its env",
                                 hint=f"rlops dataset import {path} --env CartPole-v1")
            episodes, observation_space, action_space = d3rlpy_episodes(path, env_id)
            name = check_name(name or default_name(env_id))
            return self._write(name, iter(episodes), env_id, observation_space, action_space, "d3rlpy MDPDataset",
                               {"kind": "import", "format": "d3rlpy", "path": str(path.resolve())})
        raise UsageError(f"{path} is neither a Minari dataset directory nor a d3rlpy MDPDataset file",
                         hint="give a directory with metadata.json and main_data.hdf5 (or its parent), "
                              "or a file written by d3rlpy's dataset.dump()")

    def _import_minari(self, data_dir: Path, name: str | None) -> dict[str, Any]:
        from rlops.datasets.episodes import read_episodes

        metadata, observation_space, action_space, env_id = read_minari_metadata(data_dir)
        name = check_name(name or re.sub(r"[^A-Za-z0-9_-]", "-", str(metadata.get("dataset_id") or
                                                                     default_name(env_id or "dataset"))))
        summary = [(e.steps, e.episode_return) for e in iter_checked(read_episodes(data_dir / MAIN_FILE),
                                                                     observation_space, data_dir)]
        if not summary:
            raise DatasetError(f"{data_dir / MAIN_FILE} holds no episodes", hint="nothing to import")

        def fill(target: Path) -> dict[str, Any]:
            shutil.copyfile(data_dir / MAIN_FILE, target / MAIN_FILE)
            shutil.copyfile(data_dir / METADATA, target / METADATA)
            return _fields(env_id, observation_space, action_space, summary,
                           {"kind": "import", "format": "minari", "path": str(data_dir.resolve()),
                            "dataset_id": metadata.get("dataset_id"),
                            "minari_version": metadata.get("minari_version")})

        return self._finish(write_dataset_dir(self.root, name, fill))

    def _write(self, name: str, episodes: Any, env_id: str | None, observation_space: Any, action_space: Any,
               algorithm: str, source: dict[str, Any]) -> dict[str, Any]:
        def fill(target: Path) -> dict[str, Any]:
            summary = write_episodes(target / MAIN_FILE, iter_checked(episodes, observation_space, target))
            if not summary:
                raise UsageError("no episodes to write", hint="a dataset needs at least one episode")
            steps = sum(s for s, _ in summary)
            write_metadata(target, minari_metadata(name, env_id, observation_space, action_space, len(summary),
                                                   steps, algorithm))
            return _fields(env_id, observation_space, action_space, summary, source)

        remove_partial(self.root)
        return self._finish(write_dataset_dir(self.root, name, fill))

    def _finish(self, dataset: DatasetDir) -> dict[str, Any]:
        self.store.add(row_of(dataset))
        return self.require(dataset.name)

    # -- reading --------------------------------------------------------------------------------

    def list(self) -> list[dict[str, Any]]:
        return self.store.list()

    def require(self, name: str) -> dict[str, Any]:
        row = self.store.get(name)
        if row is None:
            known = [r["name"] for r in self.store.list()]
            raise UsageError(f"no dataset {name!r}" + (f"; known: {', '.join(known[:12])}" if known else ""),
                             hint="rlops dataset list shows them; rlops dataset record or import makes one")
        return row

    def show(self, name: str) -> dict[str, Any]:
        row = self.require(name)
        try:
            row["manifest"] = read_dataset_dir(Path(row["path"])).manifest
        except DatasetError as exc:
            row["manifest"], row["error"] = None, exc.message
        return row

    def verify(self, name: str) -> dict[str, Any]:
        """Rehash every file; the row's integrity becomes what was found."""
        row = self.require(name)
        try:
            dataset = read_dataset_dir(Path(row["path"]))
            problems = verify_files(dataset)
            if dataset.sha256 != row["sha256"]:
                problems.append(f"manifest.json lists other files than when the dataset was stored "
                                f"(sha256 {dataset.sha256[:12]}, stored {row['sha256'][:12]})")
        except DatasetError as exc:
            problems = [exc.message]
        self.store.set_integrity(name, problems)
        return self.require(name)

    def open(self, name: str) -> DatasetDir:
        """The dataset, its hashes verified: what a run trains on. Raises naming each damaged file."""
        row = self.verify(name)
        if row["problems"]:
            raise DatasetError(f"dataset {name!r} is corrupt: {'; '.join(row['problems'])}",
                               hint="record or import it again (rlops dataset rm, then record/import)")
        return read_dataset_dir(Path(row["path"]))

    def remove(self, name: str) -> dict[str, Any]:
        row = self.require(name)
        path = Path(row["path"])
        if path.exists():
            # Out of the way first (one rename), so no reader meets a half-deleted dataset.
            doomed = path.with_name(f".tmp-rm-{path.name}-{time.time_ns()}")
            path.rename(doomed)
            shutil.rmtree(doomed, ignore_errors=True)
        self.store.remove(name)
        return row


def default_name(env_id: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]", "-", env_id.rpartition(":")[2]).strip("-_") or "dataset"
    return f"{slug}-{time.strftime('%Y%m%d-%H%M%S')}"


def _fields(env_id: str | None, observation_space: Any, action_space: Any, summary: list[tuple[int, float]],
            source: dict[str, Any]) -> dict[str, Any]:
    returns = np.asarray([r for _, r in summary], dtype=np.float64)
    return {"env_id": env_id, "episodes": len(summary), "steps": int(sum(s for s, _ in summary)),
            "observation_space": describe_space(observation_space), "action_space": describe_space(action_space),
            "returns": {"mean": float(returns.mean()), "std": float(returns.std()), "min": float(returns.min()),
                        "max": float(returns.max())},
            "source": source}


def row_of(dataset: DatasetDir) -> dict[str, Any]:
    m = dataset.manifest
    return {"name": dataset.name, "path": str(dataset.path.resolve()), "env_id": m.get("env_id"),
            "episodes": m["episodes"], "steps": m["steps"], "bytes": dataset.bytes, "sha256": dataset.sha256,
            "returns": m.get("returns", {}), "source": m.get("source", {}),
            "spaces": {"observation": m.get("observation_space"), "action": m.get("action_space")}}


__all__ = ["DatasetCatalog", "Episode", "default_name", "row_of"]
