"""Sweeps through Ray Tune: its schedulers (``--scheduler asha``) and searchers (``--search optuna``)
decide which trials run and which stop early; every trial is an ordinary rlops run.

Ray is imported with this module: it is the ``ray`` extra, and only ``rlops sweep --scheduler``
or ``--search`` imports it. Tune drives, rlops runs. When Tune starts a trial, a callback in the
sweep's own process (Tune's driver) starts the rlops run ``<sweep>-<trial id>`` with the trial's
options, through the trainer service, on the Ray backend: checked, queued, placed by Ray, its
records ingested into the store.
The trial itself (``follow_run``, a light Tune trainable on some node) only follows the run's
actor and reports each ``eval`` record to Tune (``eval_reward``, ``env_steps``). When the
scheduler stops a trial, the callback stops its run, with the reason "stopped early by ASHA at N
env steps"; the run ends ``stopped`` and keeps its records and checkpoints.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune import Callback

from rlops.errors import PreflightError, UsageError
from rlops.events.schema import EventError, Eval, decode
from rlops.options import resolve_options
from rlops.orchestrator.ray_backend import NAMESPACE, actor_name, connect
from rlops.orchestrator.service import TrainerService
from rlops.orchestrator.sweep import Axis, flags_of
from rlops.store.run_dir import EVENTS_FILE

log = logging.getLogger(__name__)

METRIC = "eval_reward"
RUN_ENDED = "run_ended"
SCHEDULERS = ("asha",)
SEARCHES = ("optuna",)
FOLLOW_TIMEOUT_S = 3600.0  # a trial whose run never gets a node (no resources) gives up after this
MAX_ATTEMPTS = 100
GONE_S = 20.0  # longer than a retry takes to name its actor


def param_space(axes: list[Axis], seeds: int, search: str | None) -> dict[str, Any]:
    space: dict[str, Any] = {}
    for axis in axes:
        if axis.range is not None:
            kind, low, high = axis.range
            space[axis.key] = {"uniform": tune.uniform, "loguniform": tune.loguniform}.get(
                kind, lambda a, b: tune.randint(int(a), int(b) + 1))(low, high)
        elif search is None:
            space[axis.key] = tune.grid_search(list(axis.values))
        else:
            space[axis.key] = tune.choice(list(axis.values))  # a searcher draws; it takes no grid
    space["env.seed"] = tune.grid_search(list(range(seeds))) if search is None else tune.choice(list(range(seeds)))
    return space


def trial_run_id(sweep: str, trial_id: str) -> str:
    return f"{sweep}-{trial_id}"


def follow_run(config: dict[str, Any], sweep: str) -> None:
    """A trial: follow the run's actor (the newest attempt's) and report its evaluations to Tune."""
    import ray

    run_id = trial_run_id(sweep, tune.get_context().get_trial_id())
    offset, deadline, handle = 0, time.monotonic() + FOLLOW_TIMEOUT_S, None
    seen, ended, gone_since = False, False, None
    last: dict[str, Any] = {METRIC: float("nan"), "env_steps": 0}
    while time.monotonic() < deadline:
        handle = handle or _newest_actor(ray, run_id)
        if handle is None:
            # The daemon releases a run's actor once it has settled the run: an actor seen and now
            # gone for good (no retry took its place) is a run that ended.
            gone_since = gone_since or time.monotonic()
            if ended or (seen and time.monotonic() - gone_since > GONE_S):
                return
            time.sleep(0.2)
            continue
        seen, gone_since = True, None
        try:
            reply = ray.get(handle.read.remote({EVENTS_FILE: offset}), timeout=60)
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            handle = None  # a retry on another node continues the same log: keep the offset
            continue
        data = reply["data"][EVENTS_FILE]
        offset += len(data)
        for line in data.splitlines():
            try:
                record = decode(line)
            except EventError:
                continue
            if isinstance(record, Eval):
                last = {METRIC: record.mean_reward, "env_steps": record.env_steps}
                tune.report(last)
        ended = reply["exit"] is not None
        if ended and offset >= reply["sizes"][EVENTS_FILE]:
            # Tune marks a trial its scheduler stops "done" too: this says the run itself ended.
            tune.report({**last, RUN_ENDED: True})
            return
        time.sleep(0.2)
    raise TimeoutError(f"run {run_id} never started on the cluster")


def _newest_actor(ray: Any, run_id: str) -> Any:
    found = None
    for attempt in range(MAX_ATTEMPTS):
        try:
            found = ray.get_actor(actor_name(run_id, attempt), namespace=NAMESPACE)
        except ValueError:
            if found is not None or attempt > 3:
                break
    return found


class RunsOfTrials(Callback):
    """In Tune's driver: a trial's start starts its run; its early stop stops it, saying why. The
    daemon supervises the runs meanwhile (ticking here would hold up Tune's own loop)."""

    def __init__(self, service: TrainerService, sweep: str, runner: str, config: Path | None, program: list[str],
                 common: list[str], runs: list[dict[str, Any]]) -> None:
        self.service, self.sweep, self.runner, self.config = service, sweep, runner, config
        self.program, self.common, self.runs = program, common, runs

    def __getstate__(self) -> dict[str, Any]:
        return {}  # Tune saves the experiment's state for a restore; the service stays in this process

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        combo = {key: _text(value) for key, value in trial.config.items() if key != "env.seed"}
        seed = int(trial.config["env.seed"])
        if self.runner == "rlops":
            args = flags_of(self.config, combo, seed, self.common)
        else:
            args = [*self.program, *flags_of(None, combo, seed)]
        run_id = self.service.start(self.runner, args, name=trial_run_id(self.sweep, trial.trial_id))
        self.runs.append({"run": run_id, "seed": seed, **combo})

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if trial.last_result.get(RUN_ENDED):
            return  # it ended with its run
        run_id = trial_run_id(self.sweep, trial.trial_id)
        steps = int(trial.last_result.get("env_steps") or 0)
        try:
            self.service.stop(run_id, reason=f"stopped early by ASHA at {steps:,} env steps")
        except UsageError as exc:  # ended meanwhile
            log.info("trial %s: its run %s: %s", trial.trial_id, run_id, exc.message)


def tune_sweep(service: TrainerService, sweep: str, config: Path | None, axes: list[Axis], seeds: int,
               random_count: int | None, scheduler: str | None, search: str | None, runner: str = "rlops",
               program: list[str] = (), common: list[str] = ()) -> list[dict[str, Any]]:
    """Run the sweep through Tune; the runs it started, as ``sweep.launch`` returns them."""
    options = service.options
    if options.orchestrator.backend != "ray":
        raise UsageError("--scheduler and --search run the sweep through Ray Tune",
                         hint="add --orchestrator.backend ray (and --ray.address of the cluster)")
    for axis in axes:  # one bad value starts nothing
        for value in axis.values or (str(axis.range[1]), str(axis.range[2])):
            resolve_options(config=config if runner == "rlops" else None, args=flags_of(None, {axis.key: value}, 0))
    connect(options)
    from ray.tune.schedulers import ASHAScheduler

    search_alg = None
    if search == "optuna":
        try:
            from ray.tune.search.optuna import OptunaSearch
            search_alg = OptunaSearch(metric=METRIC, mode="max")
        except ImportError:
            raise PreflightError("--search optuna needs optuna", hint="pip install optuna") from None
    runs: list[dict[str, Any]] = []
    trainable = tune.with_resources(tune.with_parameters(follow_run, sweep=sweep), {"cpu": 0.01})
    tuner = tune.Tuner(
        trainable, param_space=param_space(axes, seeds, search),
        tune_config=tune.TuneConfig(
            metric=METRIC, mode="max", num_samples=random_count or 1, search_alg=search_alg,
            scheduler=ASHAScheduler(time_attr="training_iteration", max_t=1000, grace_period=1, reduction_factor=2)
            if scheduler == "asha" else None, max_concurrent_trials=options.orchestrator.max_concurrent),
        run_config=tune.RunConfig(name=sweep, storage_path=str(Path(options.store.model_dir).resolve() / ".tune"),
                                  callbacks=[RunsOfTrials(service, sweep, runner, config, list(program),
                                                          list(common), runs)], verbose=0))
    tuner.fit()
    return runs


def _text(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
