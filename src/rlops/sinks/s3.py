"""The S3 backend: a run's checkpoints, artifacts, options and event log on any S3-compatible store.

Checkpoints go up as they are saved (every one, or every ``store.checkpoint_freq`` env steps,
the last one always), each followed by the event log so far; artifacts (plots, GIFs, receipts)
as they are recorded. A checkpoint's ``manifest.json`` goes up after every other file of it, so
a checkpoint counts on the store only once it is whole: an upload cut short by a kill leaves
files without a manifest, which a resume skips, the same rule as on disk. A run resumes from the
store with ``--train.resume`` on a machine that lacks the checkpoint (``services.remote_resume``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from rlops.events.schema import Artifact, Checkpoint, End, Meta, Record
from rlops.sinks.base import RunContext
from rlops.sinks.push_cadence import PushCadence
from rlops.sinks.s3_objects import RunObjects, s3_client, s3_location
from rlops.store.run_dir import inside_run_dir

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"  # the checkpoint format's (pipeline.checkpoints): uploaded last


class S3Sink:
    name = "s3"
    lost = 0  # it delivers within export (Sink.lost)

    def __init__(self, objects: RunObjects, run_dir: Path, log_path: Path, push_every: int | None) -> None:
        self.objects = objects
        self.run_dir, self.log_path = Path(run_dir), Path(log_path)
        self.cadence = PushCadence(push_every)
        self.uploaded = 0
        self.finished = False

    @classmethod
    def for_run(cls, context: RunContext) -> S3Sink:
        options = context.options
        location = s3_location(options)
        RunObjects(s3_client(options, probe=True), location, context.run_id).check_bucket()
        objects = RunObjects(s3_client(options), location, context.run_id)
        return cls(objects, context.run_dir, context.log_path, options.store.checkpoint_freq or None)

    def export(self, batch: Sequence[Record]) -> None:
        for record in batch:
            if isinstance(record, Meta):
                self._upload_run_file("options.json")
            elif isinstance(record, Checkpoint):
                self._push(self.cadence.offer(record))
            elif isinstance(record, Artifact) and record.action == "added" and "://" not in record.path:
                path = inside_run_dir(self.run_dir, record.path)
                if path is None:
                    log.warning("s3: %s leaves the run directory, not uploaded", record.path)
                else:
                    self.uploaded += self.objects.upload_tree(path, "artifacts", record.path)
            elif isinstance(record, End):
                self._finish()

    def _push(self, record: Checkpoint | None) -> None:
        if record is None:
            return
        path = inside_run_dir(self.run_dir, record.path)
        if path is None:
            log.warning("s3: checkpoint %s leaves the run directory, not uploaded", record.path)
            return
        files = json.loads((path / MANIFEST).read_text(encoding="utf-8"))["files"]
        for file in files:
            self.objects.upload_file(path / file, "checkpoints", path.name, file)
        self.objects.upload_file(path / MANIFEST, "checkpoints", path.name, MANIFEST)  # last: now it counts
        self.uploaded += len(files) + 1
        self._upload_log()
        log.debug("pushed %s to %s", path.name, self.objects.url("checkpoints", path.name))

    def _upload_run_file(self, name: str) -> None:
        path = self.run_dir / name
        if path.is_file():
            self.objects.upload_file(path, name)
            self.uploaded += 1

    def _upload_log(self) -> None:
        # The producer flushes the log at every checkpoint and at the end (milestones), so the copy
        # taken here holds this checkpoint's record.
        if self.log_path.is_file():
            self.objects.upload_file(self.log_path, self.log_path.name)

    def _finish(self) -> None:
        if self.finished:
            return
        self._push(self.cadence.take())
        self._upload_run_file("eval.json")
        self._upload_log()
        self.finished = True  # only now: a push that failed is tried again at shutdown

    def flush(self) -> None:
        pass  # every upload is complete when export returns

    def shutdown(self) -> None:
        self._finish()  # a run replayed or cut off before its end record still gets its last checkpoint up
