"""The Weights & Biases backend: one rlops run is one W&B run, its id the rlops run id.

Each ``metrics``, ``episode`` and ``eval`` record becomes one history row holding TensorBoard's
series (``sps``, ``train/value_loss``, ``episode/return``, ``eval/mean_reward``...; ``action_hist``
as a histogram) and ``env_steps``, the x axis of every chart; the config is the ``meta`` record's
options; the best evaluation is in the summary; artifacts and, at the end, the event log are saved
as run files. Offline (``store.wandb_mode``, the default) the run is written under
``<run>/wandb/`` for ``wandb sync``; a resumed run writes one more offline directory with the
same id, and ``wandb sync`` uploads them in order into one run.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import wandb

from rlops.errors import BackendError
from rlops.events.schema import Artifact, End, Eval, Meta, Record
from rlops.sinks.base import RunContext
from rlops.sinks.series import series_of
from rlops.store.run_dir import inside_run_dir

log = logging.getLogger(__name__)

STEP = "env_steps"
# Online, wandb.init waits for the server to create the run (90 s by default); it runs on the
# sink's own thread (sinks.opening), so this only bounds how long a run's end can wait for it.
INIT_TIMEOUT_S = 15.0
BEST = "eval/best_mean_reward"


class WandbSink:
    name = "wandb"
    lost = 0  # it delivers within export (Sink.lost)

    def __init__(self, init: dict[str, Any], log_path: Path, run_dir: Path) -> None:
        self.init = init  # wandb.init's arguments, kept to start again after an end record
        self.log_path, self.run_dir = Path(log_path), Path(run_dir)
        self.run: Any = None
        self.best: float | None = None

    @classmethod
    def for_run(cls, context: RunContext) -> WandbSink:
        options = context.options
        init: dict[str, Any] = {
            "project": options.store.experiment_name, "name": options.store.run_name or context.run_id,
            "id": context.run_id, "resume": "allow",
            # absolute: given a relative dir, W&B loses the .wandb file of a run started after a chdir
            "dir": str(Path(context.run_dir).resolve()),
            "config": options.model_dump(mode="json"),
            "reinit": "create_new",  # one W&B run per rlops run, never the process's global run
            # Quiet and lean: training owns the console (a captured console would wrap its
            # stdout), and the meta record already holds the git commit and the options.
            "settings": wandb.Settings(silent=True, console="off", disable_git=True, save_code=False,
                                       disable_code=True, **init_limit()),
        }
        if not os.environ.get("WANDB_MODE"):  # $WANDB_MODE wins over store.wandb_mode
            init["mode"] = options.store.wandb_mode
        sink = cls(init, context.log_path, context.run_dir)
        sink._start()  # here, so that a refusal (no API key online) leaves the sink out at once
        return sink

    def _start(self) -> None:
        try:
            self.run = wandb.init(**self.init)
        except wandb.errors.Error as exc:
            raise BackendError(f"W&B refused the run: {exc}",
                               hint="check that the W&B server ($WANDB_BASE_URL, else api.wandb.ai) answers and "
                                    "`wandb login` (or WANDB_API_KEY), or train with --store.wandb-mode offline and "
                                    "`wandb sync` later") from exc
        # Steps: W&B drops a row whose step is not above the last one, and a resumed run goes back
        # to its checkpoint's env_steps. So the W&B step is the record's seq (strictly increasing
        # over the whole run, across resumes and in a replay alike) and env_steps is a value that
        # every chart uses as its x axis. A killed process's tail past the checkpoint stays in W&B.
        self.run.define_metric(STEP)
        self.run.define_metric("*", step_metric=STEP)
        self.best = self.run.summary.get(BEST)  # an online resume brings the summary back

    def export(self, batch: Sequence[Record]) -> None:
        for record in batch:
            if self.run is None:  # a replayed log goes on after an end record: the run was resumed
                self._start()
            row = row_of(record)
            if row is not None:
                self.run.log(row, step=record.seq)
            if isinstance(record, Meta):
                self.run.config.update(record.config, allow_val_change=True)  # resume may change a few
            elif isinstance(record, Eval) and (self.best is None or record.mean_reward > self.best):
                self.best = record.mean_reward
                self.run.summary[BEST] = record.mean_reward
            elif isinstance(record, Artifact) and record.action == "added" and "://" not in record.path:
                path = inside_run_dir(self.run_dir, record.path)
                if path is None:
                    log.warning("wandb: %s leaves the run directory, not saved", record.path)
                else:
                    self._save(path, str(path.relative_to(self.run_dir.resolve())))
            elif isinstance(record, End):
                self._finish(0 if record.status == "finished" else 1, record)

    def _save(self, source: Path, name: str) -> None:
        """Copy a file or directory into the run's files and save it: a copy is the state at this
        record, and W&B warns on the console about every file it links from elsewhere."""
        files = Path(self.run.dir)
        sources = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
        for path in sources:
            target = files / name / path.relative_to(source) if path != source else files / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            self.run.save(str(target), base_path=str(files), policy="now", glob=False)

    def _finish(self, exit_code: int, end: End | None = None) -> None:
        if end is not None:
            self.run.summary["rlops/status"] = end.status
            if self.log_path.is_file():  # complete here: the producer flushed it, end record included
                self._save(self.log_path, self.log_path.name)
        run, self.run = self.run, None
        run.finish(exit_code=exit_code)

    def flush(self) -> None:
        pass  # W&B's own service writes and uploads in the background

    def shutdown(self) -> None:
        if self.run is not None:  # no end record: the process that wrote the log died
            self._finish(1)


def init_limit() -> dict[str, float]:
    """``init_timeout`` unless the user set ``$WANDB_INIT_TIMEOUT``."""
    return {} if os.environ.get("WANDB_INIT_TIMEOUT") else {"init_timeout": INIT_TIMEOUT_S}


def row_of(record: Record) -> dict[str, Any] | None:
    """The history row of a record, at its own time (so a replay looks like the live run)."""
    points = series_of(record)
    if points is None:
        return None
    row = {key: histogram(value) if isinstance(value, list) else value for key, value in points.items()}
    return {STEP: record.env_steps, "_timestamp": record.t, **row}


def histogram(counts: list[int]) -> wandb.Histogram:
    """Counts per integer bin (``action_hist``): bin i spans [i - 0.5, i + 0.5)."""
    return wandb.Histogram(np_histogram=(counts, [i - 0.5 for i in range(len(counts) + 1)]))
