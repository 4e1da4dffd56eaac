"""``rlops eval`` of a registered model: the episodes play under a lease on the model, so that no
janitor deletes it meanwhile, and the score is kept even if its registry row goes anyway.

The lease (``Registry.hold``) is what ``rlops gc`` and ``rlops registry prune`` respect. A thread
renews it every ``RENEW_EVERY_S`` however long the episodes take; it ends when the evaluation
does, at once if the evaluating process dies (seen from its host), or ``LEASE_TTL_S`` after its last
renewal (seen from another host). A row can still go (a database moved aside, a deletion that
ignores leases): then the result is printed with a message saying why it is on no row, and
written to the run's ``eval.json`` while the run's directory is still there.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlops.errors import RlopsError
from rlops.options.schema import Options
from rlops.pipeline.evaluate import EvalResult, evaluate_policy_of
from rlops.pipeline.loading import LoadedPolicy
from rlops.services.registry_ops import Validation, open_registry, record_evaluation, rules_from
from rlops.store.registry import LEASE_TTL_S, ModelNotFoundError, Registry
from rlops.store.run_dir import RunDirectory

HOLDER = "rlops eval"
RENEW_EVERY_S = 60.0
log = logging.getLogger(__name__)


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
        with _held(registry, row["id"]):
            result = _evaluate(options, loaded)
            try:
                validation = record_evaluation(registry, row["id"], result, rules_from(options.registry))
            except ModelNotFoundError as exc:
                return _unrecorded(result, row["id"], exc)
            return Score(result, row["id"], validation)
    finally:
        registry.close()


def _evaluate(options: Options, loaded: LoadedPolicy) -> EvalResult:
    return evaluate_policy_of(loaded, options.eval.episodes, options.eval.deterministic)


@contextmanager
def _held(registry: Registry, model_id: int) -> Iterator[None]:
    """A lease on the model, renewed in the background until the block ends, then released."""
    try:
        lease = registry.hold(model_id, HOLDER, LEASE_TTL_S)
    except ModelNotFoundError:  # gone since it was resolved: the policy is loaded, so evaluate it and say so
        yield
        return
    done = threading.Event()
    renewer = threading.Thread(target=_renew, args=(registry.path, lease, done), name="rlops-eval-lease", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        done.set()
        renewer.join()
        registry.release(lease)


def _renew(db_path: Path, lease: int, done: threading.Event) -> None:
    while not done.wait(RENEW_EVERY_S):
        try:  # a connection of its own: the evaluation's is not shared across threads
            registry = Registry(db_path)
            try:
                if not registry.renew(lease, LEASE_TTL_S):
                    return  # the model was deleted regardless; the evaluation will say so
            finally:
                registry.close()
        except RlopsError as exc:  # a busy or damaged database: the evaluation goes on unheld, and says why
            log.warning("could not renew the evaluation's lease on its model: %s", exc)


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
