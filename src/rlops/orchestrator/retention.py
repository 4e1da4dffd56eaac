"""Retention: the janitor that keeps run directories from filling the disk, and says what it kept.

Rules (``orchestrator.*``; an unset limit is no limit):
- ``max_videos_per_run``: a run keeps its newest N videos (by modification time);
- ``max_runs_per_agent``: the newest N ended runs of each (runner, env_id) keep their directory;
- ``max_age_days``: an ended run whose end is older than this loses its directory.

Never touched: a live run (queued or running), whole; a directory holding the checkpoint of a
production or staging model, the newest checkpoint of a live run, or a model an evaluation holds
(``registry prune``'s own protections, asked of every model, plus staging); a directory that does
not look like a run's.

A pruned run keeps its row in the run store, status unchanged: its metrics, episodes and events
stay for charts and comparisons, and the manifest says what is gone (an ``other`` artifact with
path ``.`` for the directory itself). Registry rows of the checkpoints that were in the directory
are removed, since their files are: ``--load-best`` must not pick a model that no longer exists.
A run directory goes in three steps (``store.prunes``): the intent (the run marked ``pruning``, its
models marked and hidden, in one transaction), the deletion, the completion (the models deleted,
the manifest written, the run marked ``pruned``). A janitor killed between them leaves the marks,
and the next one finishes every marked run first, whatever the limits are then.

Where the ``artifact`` pruned records go: the run store only, never the JSONL log. Retention only
touches runs that ended, and the validator accepts nothing after an ``end`` record but a new
process's ``meta`` or ``resume`` (anomaly ``after_end``); a pruned run's log is deleted anyway.
Each record goes into the run's artifact manifest (``RunStore.note_artifacts``) without moving the
ingest watermark, so a run resumed after its videos were pruned still has every record of its log
taken in. A run whose log holds records the store has not read yet is left for a later pass.
``reindex`` from the logs forgets the pruned marks (the files are gone either way).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from rlops.events.schema import Artifact
from rlops.options.schema import Options, OrchestratorOptions
from rlops.orchestrator.artifacts import discover
from rlops.services.registry_ops import plan_prune
from rlops.sinks.jsonl import last_seq
from rlops.store import prunes as prunes_ledger
from rlops.store.registry import Registry
from rlops.store.run_dir import EVENTS_FILE, OPTIONS_FILE, RunDirectory
from rlops.store.run_status import LIVE
from rlops.store.runs import RunStore

log = logging.getLogger(__name__)

WHOLE_RUN = "."  # the path of a pruned run directory's own artifact record
UNFINISHED = "an earlier janitor began pruning it and was stopped"
NO_TRACE = "0" * 32  # a run that never wrote a meta record has no trace id


@dataclass(frozen=True)
class Prune:
    """One deletion a rule asked for, and its verdict: deleted (``done``), or kept and why."""

    run_id: str
    run_dir: str  # absolute
    path: str  # relative to run_dir; "." is the whole run directory
    kind: str  # video | run
    bytes: int
    why: str
    kept_because: str | None = None
    done: bool = False

    @property
    def target(self) -> Path:
        return Path(self.run_dir) / self.path if self.path != WHOLE_RUN else Path(self.run_dir)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan(store: RunStore, registry: Registry, options: Options, now: float | None = None) -> list[Prune]:
    """Every deletion the limits ask for, protected ones included with ``kept_because`` set; first,
    the prunes an earlier janitor began and did not finish, whatever the limits are now."""
    limits = options.orchestrator
    now = time.time() if now is None else now
    guard = _Guard(store, registry)  # reconciles lost runs first, so "live" is current
    unfinished = set(prunes_ledger.pending_prunes(store))
    prunes = [_unfinished(store.get_run(run_id)) for run_id in sorted(unfinished)]
    ended = [run for run in store.list_runs() if run["status"] not in LIVE and run["run_id"] not in unfinished]
    prunes += [_verdict(guard, run, "run", WHOLE_RUN, why) for run, why in _runs_to_prune(ended, limits, now)]
    gone = {p.run_id for p in prunes if p.kept_because is None}
    if limits.max_videos_per_run is not None:
        for run in ended:
            if run["run_id"] not in gone:
                prunes += [_verdict(guard, run, "video", path, f"over {limits.max_videos_per_run} videos in the run")
                           for path in _videos(run)[limits.max_videos_per_run:]]
    return prunes


def apply(prunes: Iterable[Prune], store: RunStore, registry: Registry) -> list[Prune]:
    """Delete what the plan deletes, checking the protections again first (a run may have been
    resumed or a model promoted since), and record each deletion on its run."""
    guard = _Guard(store, registry)
    results = list(prunes)  # verdicts replace them in place: the plan's order is kept
    by_run: dict[str, list[int]] = {}
    for index, prune in enumerate(results):
        by_run.setdefault(prune.run_id, []).append(index)
    for run_id, indexes in by_run.items():
        run = store.get_run(run_id)  # as it is now, not as it was at plan time
        records: list[Artifact] = []
        for index in indexes:
            prune = results[index]
            if prune.kept_because is not None:
                continue
            if prune.kind == "run":
                results[index] = _prune_run(guard, store, run, prune)
                continue
            results[index] = _apply_one(guard, run, prune)
            if results[index].done:
                records += _pruned_records(run, prune)
        _record(store, run, records)  # one transaction per run
    return results


def freed_bytes(prunes: Iterable[Prune]) -> int:
    return sum(p.bytes for p in prunes if p.kept_because is None)


# -- the rules ------------------------------------------------------------------------------------


def _runs_to_prune(ended: list[dict[str, Any]], limits: OrchestratorOptions, now: float) -> list[tuple[dict[str, Any], str]]:
    """(run, why) for each ended run whose directory a limit retires; runs without one are done."""
    chosen: dict[str, tuple[dict[str, Any], str]] = {}
    if limits.max_age_days is not None:
        for run in ended:
            if now - (run["ended"] or run["created"]) > limits.max_age_days * 86400:
                chosen[run["run_id"]] = (run, f"ended more than {limits.max_age_days:g} days ago")
    if limits.max_runs_per_agent is not None:
        agents: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
        for run in ended:  # newest first, as list_runs orders them
            agents.setdefault((run["runner"], run["env_id"]), []).append(run)
        for (runner, env_id), runs in agents.items():
            why = f"not among the newest {limits.max_runs_per_agent} ended runs of {runner}/{env_id}"
            for run in runs[limits.max_runs_per_agent:]:
                chosen.setdefault(run["run_id"], (run, why))
    return [(run, why) for run, why in chosen.values() if run["run_dir"] and Path(run["run_dir"]).is_dir()]


def _videos(run: dict[str, Any]) -> list[str]:
    """The run's videos on disk, newest first."""
    if not run["run_dir"]:
        return []
    root = Path(run["run_dir"])
    paths = [a.path for a in discover(root, set(), final=True) if a.kind == "video"]
    return sorted(paths, key=lambda p: (_mtime(root / p), p), reverse=True)


def _unfinished(run: dict[str, Any]) -> Prune:
    """A prune an earlier janitor began: its protections were checked then, and its models are
    marked and hidden; what remains is to delete what is left of the directory and record it."""
    prune = Prune(run["run_id"], str(Path(run["run_dir"]).resolve()), WHOLE_RUN, "run", 0, UNFINISHED)
    return replace(prune, bytes=disk_usage(prune.target))


def _verdict(guard: _Guard, run: dict[str, Any], kind: str, path: str, why: str) -> Prune:
    prune = Prune(run["run_id"], str(Path(run["run_dir"]).resolve()), path, kind, 0, why)
    size = disk_usage(prune.target)
    return replace(prune, bytes=size, kept_because=guard.refusal(run, prune))


# -- protections ----------------------------------------------------------------------------------


class _Guard:
    """What no deletion may reach, read once per plan or apply."""

    def __init__(self, store: RunStore, registry: Registry) -> None:
        self.store = store
        self.db = Path(store.path).resolve()
        models = {m["id"]: m for m in registry.list()}
        # registry prune's own rule for what it never removes (production, the newest checkpoint
        # of a live run), asked of every model: with a maximum age of 0 every model is a candidate.
        kept = plan_prune(registry, store, keep_top_n=None, max_age_days=0.0, now=math.inf).kept_because
        for model in models.values():
            if model["deployment_status"] == "staging":  # about to be deployed
                kept.setdefault(model["id"], "staging model")
        self.protected = {Path(models[i]["model_path"]).resolve(): f"holds model {i} ({why})"
                          for i, why in kept.items() if i in models}

    def refusal(self, run: dict[str, Any], prune: Prune) -> str | None:
        """Why this deletion must not happen, or None."""
        if run["status"] in LIVE:
            return f"run {run['run_id']} is {run['status']}"
        root = Path(prune.run_dir)
        if Path(run["run_dir"]).is_symlink():
            return "its run directory is a symlink"
        if not (root / OPTIONS_FILE).is_file() and not RunDirectory(root).events_file.is_file():
            return f"{root} does not look like a run directory (no {OPTIONS_FILE} or {EVENTS_FILE})"
        target = prune.target.resolve()
        if _overlaps(target, self.db):
            return f"holds the run store {self.db}"
        for path, why in self.protected.items():
            if _overlaps(target, path):
                return why
        if last_seq(RunDirectory(root).events_file) > run["ingested_seq"]:
            return "its log has records the run store has not read yet; a later pass prunes it"
        return None


def _overlaps(a: Path, b: Path) -> bool:
    return a == b or a in b.parents or b in a.parents


# -- deleting and recording -----------------------------------------------------------------------


def _prune_run(guard: _Guard, store: RunStore, run: dict[str, Any], prune: Prune) -> Prune:
    """A whole run directory, in three steps that a kill may separate: the intent (the run and its
    models marked, which an evaluation's lease refuses), the deletion, the completion (the models'
    rows deleted and the manifest written). A run already marked was vetted by the janitor that
    marked it: its directory may be half gone, so only the deletion and the completion remain."""
    if run["pruned"] != "pruning":
        refusal = guard.refusal(run, prune) or prunes_ledger.begin_prune(store, run["run_id"], prune.target)
        if refusal is not None:
            return replace(prune, kept_because=refusal)
    deleted = _apply_one(guard, run, prune, checked=True)
    if deleted.done:  # a failed deletion keeps its marks: the next janitor tries again
        removed = prunes_ledger.finish_prune(store, run["run_id"], _stamped(run, _pruned_records(run, prune)))
        if removed:
            log.info("removed registry models %s: their checkpoints were in %s", removed, prune.target)
    return deleted


def _apply_one(guard: _Guard, run: dict[str, Any], prune: Prune, checked: bool = False) -> Prune:
    refusal = None if checked else guard.refusal(run, prune)
    if refusal is not None:
        return replace(prune, kept_because=refusal)
    target = prune.target
    try:
        if prune.kind == "run":
            shutil.rmtree(target)  # removes symlinks inside, never what they point at
        else:
            target.unlink()
    except FileNotFoundError:
        pass  # already gone: the record below still says so
    except OSError as exc:
        log.warning("could not delete %s: %s", target, exc)
        return replace(prune, kept_because=f"could not delete it: {exc}")
    log.info("pruned %s (%s, %d bytes): %s", target, prune.kind, prune.bytes, prune.why)
    return replace(prune, done=True)


def _pruned_records(run: dict[str, Any], prune: Prune) -> list[Artifact]:
    if prune.kind != "run":
        return [Artifact(kind="video", path=prune.path, action="pruned")]
    state: dict[str, str] = {}  # each file artifact's latest action, in manifest order
    for item in run["artifacts"]:
        state[item["path"]] = item["action"]
    kinds = {item["path"]: item["kind"] for item in run["artifacts"]}
    gone = [Artifact(kind=kinds[path], path=path, action="pruned") for path, action in state.items()
            if action == "added" and "://" not in path]  # a W&B URL outlives the directory
    return [*gone, Artifact(kind="other", path=WHOLE_RUN, action="pruned")]


def _record(store: RunStore, run: dict[str, Any], records: list[Artifact]) -> None:
    if records:
        store.note_artifacts(run["run_id"], _stamped(run, records))


def _stamped(run: dict[str, Any], records: list[Artifact]) -> list[Artifact]:
    now = time.time()
    for record in records:
        record.run_id, record.trace_id, record.t = run["run_id"], run["trace_id"] or NO_TRACE, now
    return records


# -- status ---------------------------------------------------------------------------------------


@dataclass
class RunUsage:
    run_id: str
    status: str
    run_dir: str | None
    bytes: int
    videos_retained: int
    videos_total: int  # retained plus pruned
    video_limit: int | None

    @property
    def videos_line(self) -> str:
        return f"{self.videos_retained}/{self.videos_total} videos retained"


@dataclass
class Usage:
    runs: list[RunUsage]
    total_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"total_bytes": self.total_bytes,
                "runs": [{**asdict(run), "videos": run.videos_line} for run in self.runs]}


def status(store: RunStore, options: Options) -> Usage:
    """Per run: disk used and "2/5 videos retained"; and the total, in bytes."""
    runs = []
    for run in store.list_runs():
        root = Path(run["run_dir"]) if run["run_dir"] else None
        on_disk = set(_videos(run)) if root is not None and root.is_dir() else set()
        recorded = {a["path"] for a in run["artifacts"] if a["kind"] == "video"}
        runs.append(RunUsage(run["run_id"], run["status"], run["run_dir"], disk_usage(root) if root else 0,
                             len(on_disk), len(on_disk | recorded), options.orchestrator.max_videos_per_run))
    return Usage(runs, sum(run.bytes for run in runs))


def disk_usage(path: Path) -> int:
    """Bytes of the files at or under ``path``; symlinks count as themselves, never followed."""
    try:
        if not path.is_dir() or path.is_symlink():
            return path.lstat().st_size
    except FileNotFoundError:
        return 0
    total = 0
    for directory, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except FileNotFoundError:
                continue
    return total


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
