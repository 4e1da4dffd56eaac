"""The Q-table checkpoint format of tabular agent runtimes (examples/qlearning_agent.py), which the
registry registers, ``rlops serve`` serves and the play page deploys:

    <dir>/q_table.npy     float64 [n_states, n_actions], read with allow_pickle=False
    <dir>/manifest.json   {"format": "rlops-qtable/1", "env_id", "n_states", "n_actions",
                           "algorithm", "env_steps", "files": {"q_table.npy": {"sha256", "size"}}}

Nothing in it is unpickled: a Q-table from anywhere is data, never code. Every file's hash is
checked before the table is used.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from rlops.errors import CheckpointCorruptError, CheckpointNotFoundError

FORMAT = "rlops-qtable/1"
TABLE = "q_table.npy"
MANIFEST = "manifest.json"


def is_qtable(path: Path) -> bool:
    try:
        return json.loads((Path(path) / MANIFEST).read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def write_qtable(path: str | Path, table: np.ndarray, env_id: str, env_steps: int = 0,
                 algorithm: str = "qlearning") -> Path:
    """Write the table and its manifest under a temporary name, then rename: a killed writer leaves
    no half checkpoint behind."""
    path = Path(path)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.mkdir(parents=True)
    np.save(temp / TABLE, np.asarray(table, dtype=np.float64), allow_pickle=False)
    data = (temp / TABLE).read_bytes()
    manifest = {"format": FORMAT, "env_id": env_id, "n_states": int(table.shape[0]), "n_actions": int(table.shape[1]),
                "algorithm": algorithm, "env_steps": int(env_steps),
                "files": {TABLE: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}}}
    (temp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(temp, path)
    return path


def read_qtable(path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    path = Path(path)
    if not (path / MANIFEST).is_file():
        raise CheckpointNotFoundError(f"no Q-table checkpoint at {str(path)!r}", hint="give the directory that holds "
                                                                                     f"{MANIFEST} and {TABLE}")
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointCorruptError(f"Q-table checkpoint {path}: unreadable {MANIFEST}: {exc}") from None
    if not _well_formed(manifest):
        raise CheckpointCorruptError(f"{path} is not a {FORMAT} checkpoint (its manifest lacks format, "
                                     f"files.{TABLE}, n_states or n_actions)",
                                     hint="retrain, or use another checkpoint")
    for name, entry in manifest.get("files", {}).items():
        data = (path / name).read_bytes() if (path / name).is_file() else None
        if data is None or hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            raise CheckpointCorruptError(f"Q-table checkpoint {path}: {name} is missing or does not match its hash",
                                         hint="retrain, or use another checkpoint")
    try:
        table = np.load(path / TABLE, allow_pickle=False)
    except ValueError as exc:  # an object array: refused rather than unpickled
        raise CheckpointCorruptError(f"{path / TABLE} cannot be read without unpickling: {exc}") from None
    if table.shape != (manifest["n_states"], manifest["n_actions"]) or not np.isfinite(table).all():
        raise CheckpointCorruptError(f"{path / TABLE} holds {table.shape}, not the manifest's "
                                     f"({manifest['n_states']}, {manifest['n_actions']}) finite values")
    return table, manifest


def _well_formed(manifest: Any) -> bool:
    return (isinstance(manifest, dict) and manifest.get("format") == FORMAT and isinstance(manifest.get("files"), dict)
            and all(isinstance(entry, dict) for entry in manifest["files"].values()) and TABLE in manifest["files"]
            and all(isinstance(manifest.get(key), int) for key in ("n_states", "n_actions")))


def qtable_problems(path: str | Path) -> list[str]:
    """What is wrong with the Q-table checkpoint at ``path``, as readable lines (none: intact)."""
    try:
        read_qtable(path)
    except (CheckpointCorruptError, CheckpointNotFoundError) as exc:
        return [exc.message]
    return []
