"""The daemon's registry rows for a run that trained on another machine (a Ray node), made from
the run's records as the daemon ingests them, pointing at the checkpoints on the S3 store.

The trainer on a node registers its checkpoints in the node's own registry, which nobody on the
daemon's side reads. Its records come home (``orchestrator.ray_backend``) and are ingested into
the run store; this book reads the ingested ``meta``, ``checkpoint``, ``eval`` and ``end`` records
of the run and keeps the daemon's registry in step, the same rule as on one machine
(``run_models``): a row exists because a record says the checkpoint exists. A row's
``model_path`` is the checkpoint's ``s3://`` URL, where the run's S3 sink put it (the sink's own
cadence, ``store.checkpoint_freq``, replayed here: a checkpoint the sink did not push gets no row),
and ``rlops infer / eval / serve`` fetch it from there, every hash verified (``model_fetch``).

A run without ``store.backend s3`` keeps its checkpoints on its node only: no row is made for
them here (the daemon cannot reach them), and that is said once. Like a sink, the book never
stops supervision: a registry that cannot be written is reported and tried again next round.
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
from rlops.services.registry_ops import record_evaluation, register_model, rules_from
from rlops.sinks.push_cadence import PushCadence
from rlops.sinks.s3_objects import S3Location
from rlops.store.registry import Registry
from rlops.store.runs import RunStore

log = logging.getLogger(__name__)
TYPES = ("meta", "checkpoint", "eval", "end")


@dataclass
class _Pushed:
    """A checkpoint the run's S3 sink uploaded, and what its row is made of."""

    record: Checkpoint
    config: dict[str, Any]
    git_commit: str | None
    seq: int  # the record that made it due: the checkpoint's own, or the end that pushed it
    url: str = ""
    evaluation: tuple[int, Eval] | None = None  # its newest eval record, with that record's seq


@dataclass
class _Replay:
    """What the run's records say its S3 sink uploaded, read in log order."""

    pushed: dict[str, _Pushed] = field(default_factory=dict)  # checkpoint path -> upload
    evals: dict[str, tuple[int, Eval]] = field(default_factory=dict)  # checkpoint path -> newest eval
    unstored: bool = False  # a process of the run wrote checkpoints that its sink kept off S3

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
                self.unstored = True
            elif isinstance(record, Eval) and record.checkpoint:
                self.evals[record.checkpoint] = (seq, record)
            elif isinstance(record, End) and config is not None and _location(config) is not None:
                self._push(cadence.take(), config, commit, seq)
        for path, upload in self.pushed.items():
            upload.evaluation = self.evals.get(path)
        return self

    def _push(self, record: Checkpoint | None, config: dict[str, Any], commit: str | None, seq: int) -> None:
        if record is not None:
            self.pushed[record.path] = _Pushed(record, config, commit, seq)


class RemoteRunModels:
    """The registry rows of the remote runs one daemon supervises."""

    def __init__(self, store: RunStore, db_path: str | Path, enabled: bool = True) -> None:
        self.store, self.db_path, self.enabled = store, Path(db_path), enabled
        self.seen: dict[str, int] = {}  # run id -> the last record seq taken in (a restart reads the run again)
        self.said: set[str] = set()
        self.registry: Registry | None = None

    def take(self, run_id: str) -> list[int]:
        """Rows for what the run's newly ingested records say is on S3; the model ids written."""
        if not self.enabled:
            return []
        seen = self.seen.get(run_id, -1)
        if not self.store.events(run_id, types=TYPES, after_seq=seen, limit=1):
            return []  # nothing new: one indexed read a round
        events = self.store.events(run_id, types=TYPES)
        replay = _Replay().read([(event["seq"], from_dict(event)) for event in events])
        try:
            written = self._write(run_id, replay, seen)
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
        if replay.unstored and run_id not in self.said:
            self.said.add(run_id)
            log.warning("run %s keeps its checkpoints on its node (no store.backend s3): the registry here gets no "
                        "rows for them; train with --store.backend s3 --store.s3-uri s3://BUCKET/PREFIX", run_id)
        return written

    def _write(self, run_id: str, replay: _Replay, seen: int) -> list[int]:
        written = []
        for upload in replay.pushed.values():
            new_row = upload.seq > seen
            new_eval = upload.evaluation is not None and upload.evaluation[0] > seen
            if not (new_row or new_eval):
                continue
            registry = self._registry()
            location = _location(upload.config)
            assert location is not None  # only uploads to a store are replayed
            url = f"s3://{location.bucket}/{location.key(run_id, upload.record.path)}"
            endpoint = (upload.config.get("store") or {}).get("endpoint_url")
            # A daemon restarted reads the run again: a row scored already (by this record, or by an
            # `rlops eval` since) keeps its score.
            earlier = registry.by_path(url) if seen < 0 else None
            scored = earlier is not None and earlier["eval_episodes"] is not None
            model_id = register_model(registry, url, upload.config, upload.record.env_steps, upload.record.sha256,
                                      run_id=run_id, tags={ENDPOINT_TAG: endpoint} if endpoint else None,
                                      commit=upload.git_commit)
            if upload.evaluation is not None and not scored:
                self._evaluated(registry, model_id, upload)
            written.append(model_id)
            log.info("run %s: model %d is %s", run_id, model_id, url)
        return written

    def _evaluated(self, registry: Registry, model_id: int, upload: _Pushed) -> None:
        assert upload.evaluation is not None
        record = upload.evaluation[1]
        deterministic = bool((upload.config.get("eval") or {}).get("deterministic", True))
        result = EvalResult(record.episodes, record.mean_reward, record.std_reward, record.mean_length, deterministic,
                            checkpoint=record.checkpoint, env_steps=record.env_steps)
        record_evaluation(registry, model_id, result, rules_from(_registry_options(upload.config)))

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


def _registry_options(config: dict[str, Any]) -> RegistryOptions:
    """The run's own validation rules (the ones its node applied), the defaults where unreadable."""
    try:
        return RegistryOptions.model_validate(config.get("registry") or {})
    except ValueError:
        return RegistryOptions()
