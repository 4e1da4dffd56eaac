"""``rlops eval`` of a registered model: the episodes play under a lease on the model, so that no
janitor deletes it meanwhile, and the score is kept even if its registry row goes anyway.

The lease (``Registry.hold``) is what ``rlops gc`` and ``rlops registry prune`` respect; it ends
when the evaluation does, or at once if the evaluating process dies (on this host), or after
``store.registry.LEASE_TTL_S`` (a process on another host). A row can still go (a lease that
expired, a database moved aside): then the result is printed with a message saying why it is on no
row, and written to the run's ``eval.json`` while the run's directory is still there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlops.options.schema import Options
from rlops.pipeline.evaluate import EvalResult, evaluate_policy_of
from rlops.pipeline.loading import LoadedPolicy
from rlops.pipeline.registry_ops import Validation, open_registry, record_evaluation, rules_from
from rlops.store.registry import ModelNotFoundError, Registry
from rlops.store.run_dir import RunDirectory

HOLDER = "rlops eval"


@dataclass
class Score:
    result: EvalResult
    model_id: int | None = None  # the registry row the model had when the evaluation began
    validation: Validation | None = None  # None: no row to record on
    unrecorded: str | None = None  # why the score is on no registry row, when the model had one
    kept_in: str | None = None  # the eval.json that keeps the score then


def score(options: Options, loaded: LoadedPolicy, row: dict[str, Any] | None) -> Score:
    """Evaluate ``loaded`` over ``eval.episodes`` episodes; with its registry ``row``, hold the
    model while the episodes play, then record the score and apply the validation rules."""
    if row is None:
        return Score(_evaluate(options, loaded))
    registry = open_registry(options)
    try:
        lease = _hold(registry, row["id"])
        try:
            result = _evaluate(options, loaded)
            try:
                validation = record_evaluation(registry, row["id"], result, rules_from(options.registry))
            except ModelNotFoundError as exc:
                return _unrecorded(result, row["id"], exc)
            return Score(result, row["id"], validation)
        finally:
            if lease is not None:
                registry.release(lease)
    finally:
        registry.close()


def _evaluate(options: Options, loaded: LoadedPolicy) -> EvalResult:
    return evaluate_policy_of(loaded, options.eval.episodes, options.eval.deterministic)


def _hold(registry: Registry, model_id: int) -> int | None:
    try:
        return registry.hold(model_id, HOLDER)
    except ModelNotFoundError:
        return None  # gone since it was resolved: the policy is loaded, so evaluate it and say so


def _unrecorded(result: EvalResult, model_id: int, exc: ModelNotFoundError) -> Score:
    why = f"model {model_id} left the registry while it was evaluated ({exc.message}), so the score is on no row"
    run = _run_of(result.checkpoint)
    if run is None:
        return Score(result, model_id, unrecorded=why + "; its run directory is gone too: this output is the only copy")
    run.write_json(run.eval_file, result.to_dict())
    return Score(result, model_id, unrecorded=f"{why}; it is kept in {run.eval_file}", kept_in=str(run.eval_file))


def _run_of(checkpoint: str | None) -> RunDirectory | None:
    """The run directory a checkpoint (``<run>/checkpoints/step-N``) belongs to, if it still exists."""
    if checkpoint is None:
        return None
    run = RunDirectory(Path(checkpoint).parent.parent)
    return run if run.options_file.is_file() else None
