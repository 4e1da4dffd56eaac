"""Loading a checkpoint's files without ever running code from them, and saying so plainly.

Tensors load with ``torch.load(weights_only=True)`` and arrays with ``allow_pickle=False``. When
torch refuses a file, its message advises retrying with ``weights_only=False`` or allowlisting
the global: for a file that just proved it carries a pickled object, that is exactly the unsafe
thing, so rlops keeps only torch's diagnosis (which global) and never repeats the advice.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlops.errors import CheckpointCorruptError

UNSAFE_HINT = ("the file holds a pickled object besides tensors, and loading it could run code: rlops never loads "
               "it. Use a checkpoint written by rlops (rlops train), or re-save it from a trusted copy with only "
               "tensors (torch.save of state dicts)")
_DIAGNOSIS = re.compile(r"WeightsUnpickler error:\s*(.*?)(?:\s+Please use `torch\.serialization|\n|$)", re.S)


def load_tensors(path: Path) -> Any:
    """A ``.pt`` file's tensors (a weights-only load), or a ``CheckpointCorruptError`` without torch's advice."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged or hostile file
        raise CheckpointCorruptError(f"{path} cannot be loaded safely: {torch_reason(exc)}",
                                     hint=UNSAFE_HINT if _is_unpickling(exc) else None) from None


def check_arrays(path: Path) -> None:
    """Read every array of an ``.npz`` without pickle; a ``CheckpointCorruptError`` if one needs it."""
    try:
        with np.load(path, allow_pickle=False) as data:
            for name in data.files:
                data[name]
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise CheckpointCorruptError(f"{path} cannot be loaded safely: {str(exc).splitlines()[0][:200]}",
                                     hint=UNSAFE_HINT if "pickle" in str(exc) else None) from None


def check_loadable(directory: Path, names: list[str]) -> None:
    """Load every tensor and array file named, as a load for training or inference would."""
    for name in sorted(names):
        if name.endswith(".pt"):
            load_tensors(directory / name)
        elif name.endswith(".npz"):
            check_arrays(directory / name)


def torch_reason(exc: BaseException) -> str:
    """What torch found wrong, without its advice to load the file unsafely."""
    text = str(exc)
    match = _DIAGNOSIS.search(text)
    if match:
        return "it holds a pickled object (" + match.group(1).strip().rstrip(".") + ")"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return scrub(first)[:300]


def scrub(text: str) -> str:
    """Drop any sentence that tells the reader to load with ``weights_only=False`` or allowlist globals."""
    sentences = re.split(r"(?<=[.!?])\s+", text)
    kept = [s for s in sentences if "weights_only" not in s and "safe_globals" not in s]
    return " ".join(kept).strip() or "torch refused the file"


def _is_unpickling(exc: BaseException) -> bool:
    return isinstance(exc, pickle.UnpicklingError) or "Unsupported global" in str(exc)
