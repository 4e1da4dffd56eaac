"""What a kind of run supports: one row per runner of the capability matrix that ``rlops runs
runners`` prints and ``GET /api/runners/capabilities`` serves, so a page can hide what a runner
does not do (a warm-start field for a runner that cannot start from weights, a live step view for
one that never sends steps).

The row is the runner's, whatever one run asks of it; what a particular run needs (this run's GPU,
the tracking server its options name) is its ``Capabilities``, worked out when it is prepared.
Each field comes with a short note that says when it holds, because "sometimes" is the honest
answer for a few (a command runs whatever program it is given).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

FIELDS = ("warm_start", "offline_inference", "needs_gpu", "external_services", "live_step_telemetry")


@dataclass(frozen=True)
class Supports:
    warm_start: bool  # can start from another model's weights (train.init_from)
    offline_inference: bool  # its models load in rlops eval / infer / serve without the runtime that trained them
    needs_gpu: bool  # cannot run without one (a runner that can use one when asked says so in its note)
    external_services: tuple[str, ...]  # services it may talk to, when its options name them
    live_step_telemetry: bool  # sends a record per env step while it runs (not only windows of metrics)
    notes: dict[str, str] = field(default_factory=dict)  # field -> when it holds, where that is not plain

    def __post_init__(self) -> None:
        unknown = set(self.notes) - set(FIELDS)
        if unknown:  # a note on a field that does not exist would never be shown: a typo
            raise ValueError(f"notes on unknown capability fields: {sorted(unknown)}")

    def to_dict(self) -> dict[str, Any]:
        return {"warm_start": self.warm_start, "offline_inference": self.offline_inference,
                "needs_gpu": self.needs_gpu, "external_services": list(self.external_services),
                "live_step_telemetry": self.live_step_telemetry, "notes": dict(self.notes)}


@dataclass(frozen=True)
class Capabilities:
    """What one prepared run needs and gives, which pre-flight checks before it is launched."""

    warm_start: bool  # can start from another model's weights (train.init_from)
    needs_gpu: bool
    external_services: tuple[str, ...]  # what must be reachable (a tracking server...)
    python: str  # the interpreter the run uses
    emits: str  # what the run's records come from
    modules: tuple[str, ...]  # importable in that interpreter, checked by pre-flight

    @classmethod
    def as_declared(cls, row: Supports, python: str, emits: str, modules: tuple[str, ...]) -> Capabilities:
        """A run that needs what its runner's row says whatever it is asked (no GPU or service of its own)."""
        return cls(warm_start=row.warm_start, needs_gpu=row.needs_gpu, external_services=row.external_services,
                   python=python, emits=emits, modules=modules)

    def to_dict(self) -> dict:
        return asdict(self)


def format_matrix(rows: list[dict[str, Any]]) -> str:
    """The matrix as a terminal table (yes/no per runner), each runner's description and notes under it."""
    header = ("runner", "warm start", "offline inference", "needs GPU", "external services", "live steps")
    table = [header] + [(row["name"], _yes(row["warm_start"]), _yes(row["offline_inference"]), _yes(row["needs_gpu"]),
                         ", ".join(row["external_services"]) or "none", _yes(row["live_step_telemetry"]))
                        for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in table]
    lines.append("")
    for row in rows:
        lines.append(f"{row['name']}: {row['description']}")
        lines += [f"  {name.replace('_', ' ')}: {note}" for name, note in row["notes"].items()]
    return "\n".join(lines)


def _yes(value: bool) -> str:
    return "yes" if value else "no"
