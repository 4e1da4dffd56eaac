"""A run's records other than metrics and episodes, and the recorded episodes they replay.

    GET /api/runs/{run_id}/events?types=checkpoint,eval&after=-1&limit=1000
    GET /api/runs/{run_id}/replays                     the recorded evaluation episodes
    GET /api/runs/{run_id}/replays/{episode}?env_index=0&recording=
                                                       one of them, step by step (frames where recorded)

The final evaluation of a run writes a ``step`` record per step (``eval.record_steps``), with a
frame every ``eval.frame_every`` steps of env 0. A run evaluated again after a resume has several
recordings; each ends with its ``eval`` record, which names the checkpoint it scored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import Depends, FastAPI, Query

from rlops.errors import UnknownNameError, UsageError
from rlops.events.schema import RECORD_TYPES
from rlops.store.runs import RunStore

# actor and keys: a play session's; belief, intention, confidence: a custom agent runtime's.
STEP_FIELDS = ("step", "action", "reward", "terminated", "truncated", "obs", "frame", "actor", "keys", "belief",
               "intention", "confidence")


def add_replay_routes(app: FastAPI, store: Callable[[], Iterator[RunStore]]) -> None:
    @app.get("/api/runs/{run_id}/events")
    def events(run_id: str, types: str | None = Query(None, description="comma-separated record types"),
               after: int = Query(-1, ge=-1, description="records after this seq"),
               limit: int = Query(1_000, ge=1, le=100_000), db: RunStore = Depends(store)) -> list[dict[str, Any]]:
        db.get_run(run_id)
        wanted = [kind.strip() for kind in types.split(",") if kind.strip()] if types else []
        for kind in wanted:
            if kind not in RECORD_TYPES:
                unknown = UnknownNameError("record type", kind, RECORD_TYPES)
                raise UsageError(unknown.message, hint=unknown.hint)  # bad input (422), not a missing thing
        return db.events(run_id, types=wanted, after_seq=after, limit=limit)

    @app.get("/api/runs/{run_id}/replays")
    def replays(run_id: str, db: RunStore = Depends(store)) -> list[dict[str, Any]]:
        db.get_run(run_id)
        return [replay.summary() for replay in recordings(db, run_id)]

    @app.get("/api/runs/{run_id}/replays/{episode}")
    def replay(run_id: str, episode: int, env_index: int = Query(0, ge=0),
               recording: int | None = Query(None, ge=0, description="which recording (default: the newest)"),
               db: RunStore = Depends(store)) -> dict[str, Any]:
        db.get_run(run_id)
        found = [r for r in recordings(db, run_id) if r.episode == episode and r.env_index == env_index
                 and (recording is None or r.recording == recording)]
        if not found:
            known = [f"{r.episode}" for r in recordings(db, run_id)]
            raise UnknownNameError("recorded episode", str(episode), known,
                                   hint=f"GET /api/runs/{run_id}/replays lists them (with env_index and recording)")
        chosen = found[-1]
        return {**chosen.summary(), "steps": [{key: step.get(key) for key in STEP_FIELDS} for step in chosen.steps]}


class Recording:
    """One recorded episode of one env in one evaluation."""

    def __init__(self, recording: int, episode: int, env_index: int) -> None:
        self.recording, self.episode, self.env_index = recording, episode, env_index
        self.steps: list[dict[str, Any]] = []
        self.checkpoint: str | None = None

    def summary(self) -> dict[str, Any]:
        last = self.steps[-1] if self.steps else {}
        return {"recording": self.recording, "episode": self.episode, "env_index": self.env_index,
                "steps": len(self.steps), "return": sum(float(step.get("reward", 0.0)) for step in self.steps),
                "frames": sum(1 for step in self.steps if step.get("frame")), "checkpoint": self.checkpoint,
                "terminated": bool(last.get("terminated")), "truncated": bool(last.get("truncated"))}


def recordings(db: RunStore, run_id: str) -> list[Recording]:
    """The run's step records grouped into episodes, in the order they were recorded; an ``eval``
    record closes a recording and names its checkpoint."""
    found: list[Recording] = []
    open_ones: dict[tuple[int, int], Recording] = {}
    recording = 0
    for record in db.events(run_id, types=("step", "eval")):
        if record["type"] == "eval":
            for pending in open_ones.values():
                pending.checkpoint = record.get("checkpoint")
            if open_ones:
                recording += 1
            open_ones = {}
            continue
        key = (record.get("episode", 0), record.get("env_index", 0))
        if key in open_ones and record.get("step", 0) <= open_ones[key].steps[-1].get("step", 0):
            # The steps went back: an evaluation killed before its eval record, then another.
            open_ones, recording = {}, recording + 1
        if key not in open_ones:
            open_ones[key] = Recording(recording, *key)
            found.append(open_ones[key])
        open_ones[key].steps.append(record)
    return found
