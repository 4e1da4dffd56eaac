"""The ``meta`` record: what is needed to reproduce a run (options, seed, argv, code, versions)."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from importlib import metadata
from typing import Any

from rlops.events.schema import Meta

PACKAGES = ("rlops", "stable-baselines3", "gymnasium", "torch", "numpy")


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def sha256_json(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def meta_record(options: dict[str, Any], seed: int, device: str, env_spec: str | None) -> Meta:
    hashes = {"options": sha256_json(options)}
    if env_spec:
        hashes["env_spec"] = hashlib.sha256(env_spec.encode()).hexdigest()
    return Meta(config=options, seed=seed, argv=list(sys.argv), git_commit=git_commit(), versions=versions(),
                device=device, hashes=hashes)
