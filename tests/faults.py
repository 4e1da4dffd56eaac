"""Fault injection: stop or hold a real subprocess at a chosen call, deterministically.

A test names the call and what happens there, e.g. ``{"rlops.store.prunes:finish_prune": "exit"}``;
``environment()`` returns the variables that make a Python subprocess install those faults as it
starts (a ``sitecustomize`` module on PYTHONPATH, written into a directory of the test's), so the
program under test runs unchanged up to the chosen instant.

Actions:
    exit          at the call, before it runs: os._exit(137), as a SIGKILL would leave things
    exit-after    the call completes, then os._exit(137)
    pause:PATH    the call completes, then PATH.ready appears and the process waits for PATH to exist
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

VARIABLE = "RLOPS_TEST_FAULTS"
KILLED = 137  # the exit status a SIGKILL gives in a shell
ROOT = Path(__file__).resolve().parent.parent
PAUSE_LIMIT_S = 120.0


def environment(faults: dict[str, str], directory: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a subprocess that installs ``faults`` ({"module:attribute.path": action})."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sitecustomize.py").write_text("from tests.faults import install_from_environment\n\n"
                                                "install_from_environment()\n", encoding="utf-8")
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join([str(directory), str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env[VARIABLE] = json.dumps(faults)
    return env


def install_from_environment() -> None:
    for target, action in json.loads(os.environ.get(VARIABLE) or "{}").items():
        install(target, action)


def install(target: str, action: str) -> None:
    """Replace ``module:attribute.path`` with a wrapper that performs ``action`` around the call."""
    module_name, _, attribute = target.partition(":")
    owner: Any = importlib.import_module(module_name)
    *parents, name = attribute.split(".")
    for part in parents:
        owner = getattr(owner, part)
    setattr(owner, name, _faulty(getattr(owner, name), action))


def _faulty(original: Callable[..., Any], action: str) -> Callable[..., Any]:
    kind, _, argument = action.partition(":")
    if kind not in ("exit", "exit-after", "pause"):
        raise ValueError(f"unknown fault action {action!r}: use exit, exit-after or pause:PATH")

    @functools.wraps(original)
    def faulty(*args: Any, **kwargs: Any) -> Any:
        if kind == "exit":
            _die()
        result = original(*args, **kwargs)
        if kind == "exit-after":
            _die()
        if kind == "pause":
            _pause(Path(argument))
        return result

    return faulty


def _die() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(KILLED)


def _pause(go: Path) -> None:
    go.with_name(go.name + ".ready").touch()
    deadline = time.monotonic() + PAUSE_LIMIT_S
    while not go.exists():
        if time.monotonic() > deadline:
            sys.stderr.write(f"fault: {go} never appeared\n")
            _die()
        time.sleep(0.02)


def wait_for(path: Path, process: Any, timeout_s: float = 120.0) -> None:
    """Wait until ``path`` exists (a paused fault's ``.ready``), failing early if ``process`` ended."""
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the process ended ({process.returncode}) before {path} appeared:\n{out}\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout_s} s")
        time.sleep(0.02)
