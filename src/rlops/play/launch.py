"""The ``play`` runner's launch: the session's arguments checked here, before the run exists (an
unknown env, a mode without a model, a model for another env, an env with no key map are refused
with what to do), then ``python -m rlops.play.session`` under the ``command`` protocol."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rlops.errors import UsageError
from rlops.options.schema import Options
from rlops.orchestrator.launch import LaunchSpec

HINT = "rlops runs start --runner play -- --env CartPole-v1 --mode human (agent and hybrid: --model CHECKPOINT)"


def parse_play_args(args: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="play", add_help=False, exit_on_error=False)
    parser.add_argument("--env", required=True)
    parser.add_argument("--mode", default="human")
    parser.add_argument("--model", default=None)
    parser.add_argument("--key-map", default=None)
    parser.add_argument("--fps", type=float, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--connect-timeout", type=float, default=60.0)
    try:
        parsed, extra = parser.parse_known_args(args)
    except (argparse.ArgumentError, SystemExit) as exc:
        raise UsageError(f"play arguments {' '.join(args)!r}: {exc}", hint=HINT) from None
    if extra:
        raise UsageError(f"play does not take {' '.join(extra)!r}", hint=HINT)
    return parsed


def play_launch(runner: str, run_id: str, args: list[str], options: Options) -> LaunchSpec:
    from rlops.play.session import open_session

    parsed = parse_play_args(args)
    key_map = None
    if parsed.key_map:
        try:
            key_map = json.loads(parsed.key_map)
        except ValueError as exc:
            raise UsageError(f"--key-map is not JSON: {exc}", hint='e.g. {"keys": {"ArrowLeft": 0}, "noop": 0}') from None
    if parsed.model:
        parsed.model = str(Path(parsed.model).resolve())
    checked = open_session(parsed.env, parsed.mode, parsed.model, key_map, parsed.fps, run_dir=None)
    checked.env.close()
    argv = [sys.executable, "-m", "rlops.play.session", "--env", parsed.env, "--mode", parsed.mode,
            "--connect-timeout", str(parsed.connect_timeout)]
    for flag, value in (("--model", parsed.model), ("--key-map", parsed.key_map), ("--fps", parsed.fps),
                        ("--seed", parsed.seed)):
        if value is not None:
            argv += [flag, str(value)]
    return LaunchSpec(run_id, runner, argv, "command", str(Path.cwd()), env={"PYTHONUNBUFFERED": "1"},
                      env_id=parsed.env, algorithm=parsed.mode, stop_grace_s=options.orchestrator.stop_grace_s)
