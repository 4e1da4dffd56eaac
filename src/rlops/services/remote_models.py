"""The daemon's registry rows for a run that trained on another machine (a Ray node), made from
the run's records as the daemon ingests them, pointing at checkpoints this machine can reach: on
the S3 store, or in the node's run directory when that is on storage shared at the same path.

The trainer on a node registers its checkpoints in the node's own registry, which nobody on the
daemon's side reads. Its records come home (``orchestrator.ray_backend``) and are ingested into
the run store; this book reads the ingested ``meta``, ``checkpoint``, ``eval`` and ``end`` records
of the run and keeps the daemon's registry in step, the same rule as on one machine
(``run_models``): a row exists because a record says the checkpoint exists.

- With ``store.backend s3``, a row's ``model_path`` is the checkpoint's ``s3://`` URL, where the
  run's S3 sink put it (the sink's own cadence, ``store.checkpoint_freq``, replayed here: a
  checkpoint the sink did not push gets no row), and ``rlops infer / eval / serve`` fetch it from
  there, every hash verified (``model_fetch``).
- Without it, the checkpoint is in the run's directory on its node (``store.model_dir`` /
  ``store.run_name`` of its ``meta`` record: the node's ``ray.node_dir``). When that directory is
  on a filesystem this machine mounts at the same path (NFS), the checkpoint is read here: it gets
  a row with that path once every file matches its manifest and the manifest the hash its record
  gives (``registry_ops.checkpoint_problems``, what ``rlops registry verify`` checks). A
  checkpoint not seen here gets no row (the daemon cannot reach it), and that is said once; one
  that does not verify is named with what is wrong.

Like a sink, the book never stops supervision: a registry that cannot be written is reported and
tried again next round.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlops.errors import OptionsError, RlopsError
from rlops.events.schema import Checkpoint, End, Eval, Meta, Record, from_dict
from rlops.options.schema import RegistryOptions
from rlops.pipeline.evaluate import EvalResult
from rlops.services.model_fetch import ENDPOINT_TAG
from rlops.services.registry_ops import checkpoint_problems, record_evaluation, register_model, rules_from
from rlops.sinks.push_cadence import PushCadence
from rlops.sinks.s3_objects import S3Location
from rlops.store.registry import Registry
from rlops.store.runs import RunStore

log = logging.getLogger(__name__)
TYPES = ("meta", "checkpoint", "eval", "end")


@dataclass
class _Saved:
    """A checkpoint this machine may reach, and what its row is made of."""

    record: Checkpoint
    config: dict[str, Any]
    git_commit: str | None
    seq: int  # the record that made it due: the checkpoint's own, or the end that pushed it to S3
    run_dir: Path | None = None  # the run's directory on its node (no S3 store): read here where it is seen
    evaluation: tuple[int, Eval] | None = None  # its newest eval record, with that record's seq

    @property
    def shared(self) -> Path | None:
        return self.run_dir / self.record.path if self.run_dir is not None else None


@dataclass
class _Replay:
    """What the run's records say it saved where this machine may reach it, read in log order."""

    saved: dict[str, _Saved] = field(default_factory=dict)  # checkpoint path -> where it is
    evals: dict[str, tuple[int, Eval]] = field(default_factory=dict)  # checkpoint path -> newest eval
    unplaced: bool = False  # a checkpoint off S3 whose records do not say where its node put it

    def read(self, records: list[tuple[int, Record]]) -> _Replay:
        config: dict[str, Any] | None = None
        commit, cadence = None, PushCadence(None)
        for seq, record in records:
            if isinstance(record, Meta):  # a new process of the run: its sink starts a new cadence
                config, commit = record.config, record.git_commit
                cadence = PushCadence((config.get("store") or {}).get("checkpoint_freq") or None)
            elif isinstance(record, Checkpoint) and config is not None and _location(config) is not None:
                self._push(cadence.offer(record), config, commit, seq)
            elif isinstance(record, Checkpoint):
                self._keep(record, config, commit, seq)
            elif isinstance(record, Eval) and record.checkpoint:
                self.evals[record.checkpoint] = (seq, record)
            elif isinstance(record, End) and config is not None and _location(config) is not None:
                self._push(cadence.take(), config, commit, seq)
        for path, saved in self.saved.items():
            saved.evaluation = self.evals.get(path)
        return self

    def _push(self, record: Checkpoint | None, config: dict[str, Any], commit: str | None, seq: int) -> None:
        if record is not None:
            self.saved[record.path] = _Saved(record, config, commit, seq)

    def _keep(self, record: Checkpoint, config: dict[str, Any] | None, commit: str | None, seq: int) -> None:
        """A checkpoint in the run's directory on its node (the process that wrote it: the latest meta)."""
        run_dir = _node_run_dir(config) if config is not None else None
        relative = Path(record.path)
        if run_dir is None or relative.is_absolute() or ".." in relative.parts:
            self.unplaced = True
            return
        assert config is not None
        self.saved[record.path] = _Saved(record, config, commit, seq, run_dir=run_dir)


class RemoteRunModels:
    """The registry rows of the remote runs one daemon supervises."""

    def __init__(self, store: RunStore, db_path: str | Path, enabled: bool = True) -> None:
        self.store, self.db_path, self.enabled = store, Path(db_path), enabled
        self.seen: dict[str, int] = {}  # run id -> the last record seq taken in (a restart reads the run again)
        self.said: set[str] = set()
        self.refused: set[str] = set()  # shared checkpoint paths looked at and not registered: not hashed again
        self.registry: Registry | None = None

    def take(self, run_id: str) -> list[int]:
        """Rows for what the run's newly ingested records say this machine can reach; the model ids written."""
        if not self.enabled:
            return []
        seen = self.seen.get(run_id, -1)
        if not self.store.events(run_id, types=TYPES, after_seq=seen, limit=1):
            return []  # nothing new: one indexed read a round
        events = self.store.events(run_id, types=TYPES)
        replay = _Replay().read([(event["seq"], from_dict(event)) for event in events])
        unseen: list[Path] = []
        try:
            written = self._write(run_id, replay, seen, unseen)
        except (RlopsError, OSError) as exc:  # sqlite3 errors reach here as RlopsError (the store maps them)
            log.warning("run %s: the registry could not take its models this round, next round again: %s",
                        run_id, exc)
            self.close()
            return []
        except (KeyError, TypeError, AttributeError) as exc:  # a meta whose config is not rlops's shape
            log.warning("run %s: its records do not say what its models are (%s: %s); no rows for them",
                        run_id, type(exc).__name__, exc)
            written = []
        self.seen[run_id] = events[-1]["seq"]
        if (replay.unplaced or unseen) and run_id not in self.said:
            self.said.add(run_id)
            where = (f"its run directory there, {unseen[0]}, is not seen at that path here" if unseen
                     else "its records do not say where on the node")
            log.warning("run %s keeps its checkpoints on its node (no store.backend s3) and %s: the registry here "
                        "gets no rows for them; train with --store.backend s3 --store.s3-uri s3://BUCKET/PREFIX, or "
                        "give --ray.node-dir a directory on storage this machine mounts at the same path",
                        run_id, where)
        return written

    def _write(self, run_id: str, replay: _Replay, seen: int, unseen: list[Path]) -> list[int]:
        written = []
        for saved in replay.saved.values():
            new_row = saved.seq > seen
            new_eval = saved.evaluation is not None and saved.evaluation[0] > seen
            if not (new_row or new_eval):
                continue
            registry = self._registry()
            model_path, tags = self._place(run_id, saved)
            if saved.shared is not None and not self._readable(run_id, registry, saved, unseen):
                continue
            # A daemon restarted reads the run again: a row scored already (by this record, or by an
            # `rlops eval` since) keeps its score.
            earlier = registry.by_path(model_path) if seen < 0 else None
            scored = earlier is not None and earlier["eval_episodes"] is not None
            model_id = register_model(registry, model_path, saved.config, saved.record.env_steps, saved.record.sha256,
                                      run_id=run_id, tags=tags, commit=saved.git_commit)
            if saved.evaluation is not None and not scored:
                self._evaluated(registry, model_id, saved)
            written.append(model_id)
            log.info("run %s: model %d is %s", run_id, model_id, model_path)
        return written

    @staticmethod
    def _place(run_id: str, saved: _Saved) -> tuple[str, dict[str, Any] | None]:
        """The row's ``model_path`` and tags: the checkpoint's URL on S3, or its shared path."""
        if saved.shared is not None:
            return str(saved.shared), None
        location = _location(saved.config)
        assert location is not None  # only uploads to a store are replayed without a shared path
        endpoint = (saved.config.get("store") or {}).get("endpoint_url")
        url = f"s3://{location.bucket}/{location.key(run_id, saved.record.path)}"
        return url, {ENDPOINT_TAG: endpoint} if endpoint else None

    def _readable(self, run_id: str, registry: Registry, saved: _Saved, unseen: list[Path]) -> bool:
        """Whether the checkpoint in the node's run directory is here, whole, and the one its record names."""
        path = saved.shared
        assert path is not None
        earlier = registry.by_path(path)
        if earlier is not None and earlier["sha256"] == saved.record.sha256:
            return True  # verified when its row was made (a restart, or an eval record that came later)
        if str(path) in self.refused:
            return False
        self.refused.add(str(path))
        if not path.is_dir():
            assert saved.run_dir is not None
            unseen.append(saved.run_dir)
            return False
        problems = checkpoint_problems(path, saved.record.sha256, hash_from="its checkpoint record gives")
        if problems:
            log.warning("run %s: checkpoint %s gets no row here, its files are not the ones the run saved: %s",
                        run_id, path, "; ".join(problems))
            return False
        self.refused.discard(str(path))
        return True

    def _evaluated(self, registry: Registry, model_id: int, saved: _Saved) -> None:
        assert saved.evaluation is not None
        record = saved.evaluation[1]
        deterministic = bool((saved.config.get("eval") or {}).get("deterministic", True))
        result = EvalResult(record.episodes, record.mean_reward, record.std_reward, record.mean_length, deterministic,
                            checkpoint=record.checkpoint, env_steps=record.env_steps)
        record_evaluation(registry, model_id, result, rules_from(_registry_options(saved.config)))

    def _registry(self) -> Registry:
        if self.registry is None:
            self.registry = Registry(self.db_path)
        return self.registry

    def close(self) -> None:
        if self.registry is not None:
            self.registry.close()
            self.registry = None


def _location(config: dict[str, Any]) -> S3Location | None:
    """Where the run's S3 sink put its checkpoints, when it had one."""
    store = config.get("store") or {}
    if "s3" not in [name.strip() for name in str(store.get("backend") or "").split(",")]:
        return None
    uri = store.get("s3_uri") or (store.get("tracking_uri") if str(store.get("tracking_uri")).startswith("s3://")
                                  else None)
    try:
        return S3Location.parse(uri) if uri else None
    except OptionsError:
        return None


def _node_run_dir(config: dict[str, Any]) -> Path | None:
    """The run's directory on its node, as the trainer there named it (an absolute path only: a
    relative one is relative to a working directory on the node nobody here knows)."""
    store = config.get("store") or {}
    model_dir, run_name = store.get("model_dir"), store.get("run_name")
    if not (isinstance(model_dir, str) and isinstance(run_name, str) and model_dir and run_name):
        return None
    if not Path(model_dir).is_absolute() or Path(run_name).name != run_name or run_name in (".", ".."):
        return None
    return Path(model_dir) / run_name


def _registry_options(config: dict[str, Any]) -> RegistryOptions:
    """The run's own validation rules (the ones its node applied), the defaults where unreadable."""
    try:
        return RegistryOptions.model_validate(config.get("registry") or {})
    except ValueError:
        return RegistryOptions()
