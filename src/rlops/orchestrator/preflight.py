"""Pre-flight: what a run needs, checked before anything is created or launched.

A GPU when the run asks for one, its interpreter (present, recent enough, able to import the
runner's modules), and free disk under the runs' directory. Every failed check becomes one line
of the error, with what to do; nothing is left behind.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from rlops.errors import PreflightError
from rlops.options.schema import Options
from rlops.orchestrator.supports import Capabilities

MIN_PYTHON = (3, 8)  # CleanRL's scripts run on 3.8+; rlops itself needs 3.11 (its own package says so)
PROBE = """
import importlib.util, json, sys
modules = json.loads(sys.argv[1])
missing = [m for m in modules if importlib.util.find_spec(m) is None]
gpu = None
if sys.argv[2] == "1":
    try:
        import torch
        gpu = bool(torch.cuda.is_available())
    except Exception:
        gpu = False
print(json.dumps({"version": list(sys.version_info[:3]), "missing": missing, "gpu": gpu}))
"""


def preflight(capabilities: Capabilities, options: Options, runs_root: Path) -> None:
    problems: list[str] = []
    problems += _disk(options, runs_root)
    if capabilities.modules or capabilities.needs_gpu:
        problems += _interpreter(capabilities)
    elif shutil.which(capabilities.python) is None and not Path(capabilities.python).is_file():
        problems.append(f"program {capabilities.python!r} not found (give a path, or a name on PATH)")
    if problems:
        raise PreflightError("pre-flight failed: " + "; ".join(problems), hint="nothing was started; fix the above "
                             "and start the run again")


def _disk(options: Options, runs_root: Path) -> list[str]:
    existing = Path(runs_root).resolve()
    while not existing.exists():
        existing = existing.parent
    free_gb = shutil.disk_usage(existing).free / 1e9
    need = options.orchestrator.min_free_disk_gb
    if free_gb < need:
        return [f"only {free_gb:.1f} GB free under {existing}, orchestrator.min_free_disk_gb is {need:g} "
                "(free some space: rlops gc --apply prunes old runs and videos)"]
    return []


def _interpreter(capabilities: Capabilities) -> list[str]:
    python = capabilities.python
    try:
        done = subprocess.run([python, "-c", PROBE, json.dumps(list(capabilities.modules)),
                               "1" if capabilities.needs_gpu else "0"], capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        return [f"interpreter {python!r} not found (set orchestrator.python to the Python of the script's virtualenv)"]
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [f"interpreter {python!r} cannot be run: {exc}"]
    if done.returncode != 0:
        return [f"interpreter {python!r} failed: {done.stderr.strip()[-300:]}"]
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    problems = []
    if tuple(probe["version"][:2]) < MIN_PYTHON:
        problems.append(f"{python} is Python {'.'.join(map(str, probe['version']))}; "
                        f"{'.'.join(map(str, MIN_PYTHON))} or newer is needed")
    if probe["missing"]:
        problems.append(f"{python} cannot import {', '.join(probe['missing'])} "
                        f"(install them into that interpreter: {python} -m pip install {' '.join(probe['missing'])})")
    if capabilities.needs_gpu and not probe["gpu"]:
        problems.append("the run needs a GPU and none is visible here (torch.cuda.is_available() is False): "
                        "run it with --train.device cpu, or on a machine with a GPU")
    return problems
