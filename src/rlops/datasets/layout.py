"""A dataset's directory: ``NAME/data/`` is exactly what Minari loads (``minari.MinariDataset(NAME/data)``,
or ``minari.load_dataset(NAME)`` with ``MINARI_DATASETS_PATH`` at the datasets folder), and
``NAME/manifest.json`` beside it holds the sha256 and size of every file, the env, the spaces,
the counts, a returns summary and where the data came from.

Written like a checkpoint (pipeline/sealed_dir.py): under a hidden temporary name, every file and
directory fsynced, then renamed into place; so a writer killed at any instant leaves no dataset,
never half of one.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlops.errors import DatasetError, UsageError
from rlops.pipeline.sealed_dir import MANIFEST, file_problems, table_sha256, write_sealed_dir
from rlops.pipeline.sealed_dir import TEMP_PREFIX, remove_partial  # noqa: F401 - callers import them from here

FORMAT = "rlops-dataset/1"
DATA_DIR = "data"
METADATA = "metadata.json"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")  # also a valid Minari dataset id
MINARI_VERSION = "0.5.4"  # the Minari release whose HDF5 layout and metadata keys we write


def datasets_root(model_dir: str | Path) -> Path:
    return Path(model_dir) / "datasets"


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name or ""):
        raise UsageError(f"bad dataset name {name!r}",
                         hint="use letters, digits, '-' and '_' (up to 80), starting with a letter or digit")
    return name


@dataclass(frozen=True)
class DatasetDir:
    path: Path
    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def data_path(self) -> Path:
        return self.path / DATA_DIR

    @property
    def sha256(self) -> str:
        """One hash for the dataset: the hash of its manifest's file table (as for checkpoints)."""
        return table_sha256(self.manifest["files"])

    @property
    def bytes(self) -> int:
        return sum(int(entry["bytes"]) for entry in self.manifest["files"].values())


def write_dataset_dir(root: Path, name: str, fill: Callable[[Path], dict[str, Any]]) -> DatasetDir:
    """``fill(data_dir)`` writes the data files and returns the manifest's fields; this hashes the
    files, writes the manifest and renames the whole directory into ``root/name`` at once."""
    check_name(name)
    final = root / name
    if final.exists():
        raise UsageError(f"dataset {name!r} already exists at {final}",
                         hint=f"choose another --name, or remove it first: rlops dataset rm {name}")

    def filled(temp: Path) -> dict[str, Any]:
        (temp / DATA_DIR).mkdir()
        fields = fill(temp / DATA_DIR)
        return {"format": FORMAT, "name": name, "created": time.time(), **fields}

    def unclaimed() -> Path:
        if final.exists():  # another writer of the same name finished first
            raise UsageError(f"dataset {name!r} already exists at {final}", hint="choose another --name")
        return final

    _, manifest = write_sealed_dir(root, name, filled, unclaimed, f"dataset {final}")
    return DatasetDir(final, manifest)


def read_dataset_dir(path: Path) -> DatasetDir:
    """Open a dataset directory by its manifest (hashes are checked by ``verify_files``)."""
    if not path.is_dir():
        raise DatasetError(f"dataset directory {path} does not exist",
                           hint="rlops dataset list shows the datasets; record or import it again")
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"dataset {path} has no {MANIFEST}: it is incomplete or not an rlops dataset") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"dataset {path} has an unreadable {MANIFEST}: {exc}",
                           hint="the manifest is damaged; remove the dataset and record or import it again") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
        raise DatasetError(f"dataset {path}: {MANIFEST} is not in format {FORMAT}")
    return DatasetDir(path, manifest)


def verify_files(dataset: DatasetDir) -> list[str]:
    """Every mismatch between the manifest and the files, each naming the file."""
    problems = file_problems(dataset.path, dataset.manifest["files"])
    known = set(dataset.manifest["files"]) | {MANIFEST}
    for path in sorted(p for p in dataset.path.rglob("*") if p.is_file()):
        if path.relative_to(dataset.path).as_posix() not in known:
            problems.append(f"{path.relative_to(dataset.path).as_posix()} is not in the manifest")
    return problems
