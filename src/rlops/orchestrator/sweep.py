"""Sweeps: many supervised runs from one option set, by grid or by random search.

``--grid train.learning_rate=1e-4,3e-4 --grid agent.algorithm=ppo,a2c --seeds 3`` queues every
combination once per seed (2 x 2 x 3 = 12 runs); ``--random 8`` instead draws 8 distinct
combinations, where a value may also be a range: ``uniform:0.9:0.999``, ``loguniform:1e-5:1e-3``,
``int:32:256``. Every run is an ordinary ``rlops`` run (``--config FILE`` plus the combination's
flags plus ``--env.seed``), named ``<sweep>-<n>``, so each one is checked by pre-flight, queued
behind ``orchestrator.max_concurrent``, and recorded like any other. ``rank`` orders a sweep's
runs by their best evaluation.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlops.errors import UsageError
from rlops.options import resolve_options
from rlops.orchestrator.service import TrainerService

RANGES = ("uniform", "loguniform", "int")


@dataclass(frozen=True)
class Axis:
    key: str  # dotted option, e.g. train.learning_rate
    values: tuple[str, ...] = ()  # a grid's choices
    range: tuple[str, float, float] | None = None  # (kind, low, high), random search only

    def draw(self, rng: random.Random) -> str:
        if self.range is None:
            return rng.choice(self.values)
        kind, low, high = self.range
        if kind == "int":
            return str(rng.randint(int(low), int(high)))
        if kind == "loguniform":
            return f"{math.exp(rng.uniform(math.log(low), math.log(high))):.6g}"
        return f"{rng.uniform(low, high):.6g}"


def parse_axis(text: str) -> Axis:
    key, sep, spec = text.partition("=")
    key = key.strip().removeprefix("--").replace("-", "_")
    if not sep or "." not in key or not spec:
        raise UsageError(f"--grid {text!r} is not KEY=VALUES", hint="e.g. --grid train.learning_rate=1e-4,3e-4")
    kind = spec.split(":", 1)[0]
    if kind in RANGES:
        parts = spec.split(":")
        try:
            low, high = float(parts[1]), float(parts[2])
        except (IndexError, ValueError):
            raise UsageError(f"--grid {text!r}: a range is {kind}:LOW:HIGH", hint="e.g. loguniform:1e-5:1e-3") from None
        if low > high or (kind == "loguniform" and low <= 0):
            raise UsageError(f"--grid {text!r}: need 0 < LOW <= HIGH" if kind == "loguniform" else
                             f"--grid {text!r}: LOW must not exceed HIGH")
        return Axis(key, range=(kind, low, high))
    return Axis(key, values=tuple(value.strip() for value in spec.split(",") if value.strip()))


def combinations(axes: list[Axis], random_count: int | None, seed: int) -> list[dict[str, str]]:
    """The grid's combinations, or ``random_count`` distinct random ones (ranges need random search)."""
    if random_count is None:
        if any(axis.range for axis in axes):
            raise UsageError("a range (uniform:, loguniform:, int:) needs random search", hint="add --random N")
        return [dict(zip([a.key for a in axes], values)) for values in itertools.product(*[a.values for a in axes])]
    rng, drawn, seen = random.Random(seed), [], set()
    for _ in range(random_count * 50):  # a small grid may have fewer distinct combinations than asked
        if len(drawn) == random_count:
            break
        combo = {axis.key: axis.draw(rng) for axis in axes}
        if tuple(combo.items()) not in seen:
            seen.add(tuple(combo.items()))
            drawn.append(combo)
    return drawn


def flags_of(config: Path | None, combo: dict[str, str], seed: int, common: list[str] = ()) -> list[str]:
    flags = (["--config", str(config)] if config else []) + list(common)
    for key, value in combo.items():
        flags += [f"--{key.replace('_', '-')}", value]
    return [*flags, "--env.seed", str(seed)]


def launch(service: TrainerService, name: str, config: Path | None, axes: list[Axis], seeds: int,
           random_count: int | None = None, sample_seed: int = 0, common: list[str] = (), runner: str = "rlops",
           program: list[str] = ()) -> list[dict[str, Any]]:
    """``common``: flags every rlops run gets (before the combination's own, which win). ``runner``
    ``command``: ``program`` is run with the combination's flags (and ``--env.seed``) appended."""
    # Every run's options are checked first, so one bad value queues nothing.
    plan = [(combo, seed) for combo in combinations(axes, random_count, sample_seed) for seed in range(seeds)]
    if not plan:
        raise UsageError("the sweep has no runs", hint="give --grid KEY=V1,V2 (and --seeds N)")
    for combo, seed in plan:
        resolve_options(config=config, args=flags_of(None, combo, seed, common))  # UsageError names the bad option
    runs = []
    for index, (combo, seed) in enumerate(plan):
        args = flags_of(config, combo, seed, common) if runner == "rlops" else [*program, *flags_of(None, combo, seed)]
        run_id = service.start(runner, args, name=f"{name}-{index:03d}")
        runs.append({"run": run_id, "seed": seed, **combo})
    return runs


def rank(service: TrainerService, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sweep's runs with their status and best evaluation, best first (runs without one last)."""
    rows = []
    for entry in runs:
        row = service.store.get_run(entry["run"])
        rows.append({**entry, "status": row["status"], "best_eval": row["best_eval"], "env_steps": row["env_steps"]})
    return sorted(rows, key=lambda r: (r["best_eval"] is None, -(r["best_eval"] or 0.0)))
