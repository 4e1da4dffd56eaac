"""Registry operations that touch checkpoint files: register, score and validate, import, verify,
resolve for inference, prune. The SQL is ``store.registry``'s; the rules are ``store.model_rules``.

A model's ``sha256`` is its checkpoint's hash (the hash of the manifest's file table, which holds
the sha256 of every file), so ``verify`` recomputes every file's hash and compares both.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rlops.errors import (AlreadyRegisteredError, BackendError, CheckpointCorruptError, CheckpointError, UsageError,
                          WorkError)
from rlops.options.schema import Options, RegistryOptions
from rlops.pipeline.checkpoints import Checkpoint, read_checkpoint, verify_files
from rlops.pipeline.evaluate import EvalResult
from rlops.pipeline.loading import open_checkpoint
from rlops.pipeline.qtable import FORMAT as QTABLE_FORMAT
from rlops.pipeline.qtable import is_qtable, qtable_problems
from rlops.services.model_fetch import fetch_model, is_remote, local_copy, verify_remote
from rlops.services.reconcile import reconcile_lost_runs
from rlops.pipeline.run_meta import git_commit
from rlops.pipeline.safe_files import check_loadable
from rlops.store.model_rules import Rules, check
from rlops.store.registry import Registry
from rlops.store.run_status import LIVE
from rlops.store.runs import RunStore

log = logging.getLogger(__name__)


def rules_from(options: RegistryOptions) -> Rules:
    return Rules(min_reward=options.min_reward, min_episodes=options.min_episodes,
                 max_std_ratio=options.max_std_ratio, env_threshold=reward_threshold)


def reward_threshold(env_id: str) -> float | None:
    """The env's solved threshold from its Gymnasium registration (None when it has none)."""
    import gymnasium

    try:
        threshold = gymnasium.spec(env_id).reward_threshold
    except Exception:  # noqa: BLE001 - a module:callable env or an unregistered id: no threshold to take
        return None
    return float(threshold) if threshold is not None else None


def register_checkpoint(registry: Registry, checkpoint: Checkpoint, run_id: str | None = None,
                        parent_model_id: int | None = None, tags: dict[str, Any] | None = None) -> int:
    return register_model(registry, Path(checkpoint.path).resolve(), checkpoint.options, checkpoint.env_steps,
                          checkpoint.sha256, run_id=run_id, parent_model_id=parent_model_id, tags=tags,
                          commit=git_commit())


def register_model(registry: Registry, model_path: str | Path, options: dict[str, Any], env_steps: int, sha256: str,
                   run_id: str | None = None, parent_model_id: int | None = None, tags: dict[str, Any] | None = None,
                   commit: str | None = None) -> int:
    """A row for a checkpoint wherever it lies (a directory here, an s3:// URL), from the options it
    was trained with (its manifest's, or its run's ``meta`` record's: the same snapshot)."""
    hyperparams = {"learning_rate": options.get("train", {}).get("learning_rate"),
                   "batch_size": options.get("train", {}).get("batch_size"),
                   "gamma": options.get("train", {}).get("gamma"),
                   "net_arch": options.get("agent", {}).get("net_arch"),
                   **options.get("agent", {}).get("hyperparams", {})}
    return registry.add(model_path, options["agent"]["algorithm"], options["env"]["env_id"], total_timesteps=env_steps,
                        hyperparams=hyperparams, git_commit=commit, run_id=run_id, sha256=sha256, tags=tags,
                        parent_model_id=parent_model_id)


@dataclass
class Validation:
    model_id: int
    validated: bool
    rules: list[dict[str, Any]]

    @property
    def failed(self) -> list[str]:
        return [rule["message"] for rule in self.rules if not rule["passed"]]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "failed": self.failed}


def validate(registry: Registry, model_id: int, rules: Rules) -> Validation:
    results = [r.to_dict() for r in check(registry.get(model_id), rules)]
    validated = all(r["passed"] for r in results)
    registry.set_validation(model_id, validated, results)
    return Validation(model_id, validated, results)


def record_metrics(registry: Registry, model_id: int, metrics_file: Path, rules: Rules) -> Validation:
    """An evaluation made elsewhere (a JSON file like a run's eval.json: mean_reward, std_reward,
    mean_length, episodes) written onto the model's row, then validated: the seed's
    ``rl-registry-add MODEL_PATH METRICS_JSON``."""
    import json

    try:
        metrics = json.loads(Path(metrics_file).read_text())
        mean, std = float(metrics["mean_reward"]), float(metrics.get("std_reward", 0.0))
        length = float(metrics.get("mean_length", metrics.get("mean_episode_length", 0.0)))
        episodes = int(metrics.get("episodes", metrics.get("eval_episodes", len(metrics.get("rewards", [])))))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"cannot read the metrics in {str(metrics_file)!r}: {type(exc).__name__}: {exc}",
                         hint='give a JSON object like a run\'s eval.json: {"mean_reward": 480.5, "std_reward": 12.0, '
                              '"episodes": 10}') from None
    registry.set_evaluation(model_id, mean, std, length, episodes)
    return validate(registry, model_id, rules)


def record_evaluation(registry: Registry, model_id: int, result: EvalResult, rules: Rules) -> Validation:
    """Write an evaluation onto the model's row, then apply the validation rules to it."""
    registry.set_evaluation(model_id, result.mean_reward, result.std_reward, result.mean_length, result.episodes)
    return validate(registry, model_id, rules)


def add_model(registry: Registry, path: Path, env_id: str | None = None, algorithm: str | None = None,
              tags: dict[str, Any] | None = None) -> int:
    """Register a checkpoint where it lies (no copy); env and algorithm must agree with it."""
    checkpoint = open_checkpoint(path)
    _check_agrees(checkpoint, env_id, algorithm)
    check_loadable(checkpoint.path, list(checkpoint.manifest["files"]))
    return register_checkpoint(registry, checkpoint, run_id=checkpoint.manifest.get("run"), tags=tags)


def import_checkpoint(registry: Registry, path: Path, managed_dir: Path, tags: dict[str, Any] | None = None) -> int:
    """Copy a checkpoint into managed storage (hashes verified before and after, every tensor file
    loaded weights-only first), then register the copy. Files the registry holds already (the same
    sha256) are refused, naming the model that has them: a second row would be a model with none
    of the first one's evaluation, validation or stage."""
    source = open_checkpoint(path)
    same = next((row for row in registry.list() if row["sha256"] == source.sha256), None)
    if same is not None:
        raise AlreadyRegisteredError(
            f"{source.path} is registered already as model {same['id']} ({same['env_id']} {same['algorithm']}, "
            f"{same['model_path']}, sha256 {source.sha256[:16]}...): nothing imported", same["id"],
            hint=f"use model {same['id']} (rlops registry show {same['id']}): its score, validation and "
                 f"stage are there")
    # The hashes say the files are the ones the manifest lists, not that they are safe to load: a
    # checkpoint made elsewhere may carry pickled code. Refuse it here, before it gets a registry row.
    check_loadable(source.path, list(source.manifest["files"]))
    destination = Path(managed_dir) / f"{source.sha256[:16]}-{source.path.name}"
    if not destination.exists():
        temp = destination.with_name(f".tmp-{destination.name}-{time.time_ns()}")
        shutil.copytree(source.path, temp)
        temp.rename(destination)
    copied = read_checkpoint(destination)  # every hash again, on the copy
    if copied.sha256 != source.sha256:
        raise CheckpointCorruptError(f"the copy of {source.path} in {destination} does not match the original")
    return register_checkpoint(registry, copied, run_id=source.manifest.get("run"),
                               tags={"imported_from": str(Path(path).resolve()), **(tags or {})})


@dataclass
class Integrity:
    model_id: int
    model_path: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    checked: bool = True  # False: its files could not be read at all (a store that did not answer)


def verify(registry: Registry, model_ids: list[int] | None = None, fetch_remote: bool = False) -> list[Integrity]:
    """Every model's files rehashed against its manifest, and the manifest against the hash on its
    row. A model on S3 is fetched from the store for it with ``fetch_remote`` (``rlops registry
    verify``); without, it passes: its check is the fetch that loads it (the dashboard's badge
    lists many models and downloads none)."""
    models = [registry.get(i) for i in model_ids] if model_ids else registry.list()
    return [_remote_integrity(registry, model) if fetch_remote and is_remote(model) else _integrity(model)
            for model in models]


def _remote_integrity(registry: Registry, model: dict[str, Any]) -> Integrity:
    try:
        problems = verify_remote(registry, model)
    except BackendError as exc:
        return Integrity(model["id"], str(model["model_path"]), False, [exc.message], checked=False)
    return Integrity(model["id"], str(model["model_path"]), not problems, problems)


def _integrity(model: dict[str, Any]) -> Integrity:
    if is_remote(model):  # checked file by file when it is fetched (model_fetch), not by listing it
        return Integrity(model["id"], str(model["model_path"]), True)
    problems = checkpoint_problems(Path(model["model_path"]), model["sha256"])
    return Integrity(model["id"], str(model["model_path"]), not problems, problems)


def checkpoint_problems(path: Path, sha256: str | None, hash_from: str = "registered for it") -> list[str]:
    """What is wrong with the checkpoint directory at ``path``, as readable lines (none: every file
    matches its manifest, and the manifest the hash ``sha256`` when one is given)."""
    if is_qtable(path):  # a tabular runtime's checkpoint: its own manifest and hashes
        return qtable_problems(path)
    try:
        checkpoint = read_checkpoint(path, verify=False)
    except CheckpointError as exc:
        return [exc.message]
    problems = verify_files(checkpoint)
    if sha256 and checkpoint.sha256 != sha256:
        problems.append(f"its manifest no longer matches the hash {hash_from}")
    return problems


def resolve_model(registry: Registry, model_id: int | None = None, load_best: bool = False, env_id: str | None = None,
                  status: str | None = None, allow_unvalidated: bool = False) -> tuple[dict[str, Any], Checkpoint]:
    """The registry row and its verified checkpoint for inference; refuses unvalidated or altered models."""
    model = choose_model(registry, model_id, load_best, env_id, status, allow_unvalidated)
    if is_qtable(Path(model["model_path"])):
        raise UsageError(f"model {model['id']} is a Q-table ({QTABLE_FORMAT}), which this command does not load",
                         hint=f"serve it (rlops serve --model-id {model['id']}) or deploy it on the play page")
    return model, read_checkpoint(Path(model["model_path"]), verify=False)


def choose_model(registry: Registry, model_id: int | None = None, load_best: bool = False, env_id: str | None = None,
                 status: str | None = None, allow_unvalidated: bool = False) -> dict[str, Any]:
    """The registry row ``resolve_model`` means, whatever its checkpoint's format, once it is validated
    (unless allowed otherwise) and its files are intact; a model on S3 is fetched first, and its row's
    ``model_path`` is then the local copy (``fetched_from`` the URL)."""
    if model_id is not None:
        model = registry.get(model_id)
    elif status is not None:
        model = registry.production(env_id) if status == "production" else next(
            iter(registry.list(status=status, env_id=env_id, top_n=1)), None)
        if model is None:
            raise UsageError(f"no {status} model{f' for {env_id}' if env_id else ''} in the registry",
                             hint="promote one: rlops registry promote ID --to " + status)
    elif load_best:
        env_id, why = _best_env(registry, env_id)
        model = registry.best(env_id)
        if model is None:
            raise UsageError(f"no validated model{f' for {env_id}' if env_id else ''} in the registry",
                             hint="validate one (rlops registry validate ID), or pass --allow-unvalidated with --model-id")
        model["picked"] = f"the best validated model for {env_id}{why}"
    else:
        raise UsageError("no model chosen", hint="give --model-id ID, --load-best or --status production")
    if not model["validated"] and not allow_unvalidated:
        failed = [r["message"] for r in model["validation"] or [] if not r["passed"]]
        raise UsageError(f"model {model['id']} is not validated" + (f": {'; '.join(failed)}" if failed else ""),
                         hint="validate it (rlops registry validate ID), or pass --allow-unvalidated")
    model = fetch_model(registry, model)  # a remote run's model on S3: here, every hash verified, or an error
    integrity = _integrity(model)
    if not integrity.ok:
        raise CheckpointCorruptError(f"model {model['id']} is refused: {'; '.join(integrity.problems)} "
                                     f"({model['model_path']})",
                                     hint="rlops registry verify lists every damaged model; pick another with --model-id")
    return model


def _best_env(registry: Registry, env_id: str | None) -> tuple[str | None, str]:
    """The env whose best model --load-best means: the one given, or the only one with validated models.

    Rewards on different envs are not comparable (475 on CartPole beside -150 on Pendulum), so
    --load-best never ranks models across envs."""
    if env_id is not None:
        return env_id, ""
    envs = sorted({m["env_id"] for m in registry.list(validated=True)})
    if len(envs) > 1:
        raise UsageError(f"--load-best without an env would rank models of different envs against each other "
                         f"({', '.join(envs)}): their rewards are not comparable",
                         hint=f"choose one: --env {envs[0]} (or --infer.env-id)")
    return (envs[0], " (the only env with validated models; --env chooses another)") if envs else (None, "")


@dataclass
class PrunePlan:
    remove: list[dict[str, Any]]
    kept_because: dict[int, str]
    applied: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"applied": self.applied, "remove": [{"id": m["id"], "model_path": m["model_path"],
                                                     "env_id": m["env_id"], "algorithm": m["algorithm"],
                                                     "mean_reward": m["mean_reward"], "why": m["why"]}
                                                    for m in self.remove],
                "kept_because": {str(k): v for k, v in self.kept_because.items()}}


def plan_prune(registry: Registry, store: RunStore | None, keep_top_n: int | None, max_age_days: float | None,
               now: float | None = None) -> PrunePlan:
    """Which models retention removes: beyond the top N per env and algorithm, or older than the
    maximum age; never a production model, the newest checkpoint of a live run, nor a model an
    evaluation holds."""
    if keep_top_n is None and max_age_days is None:
        raise UsageError("nothing to prune by", hint="give --keep-top-n N and/or --max-age-days D "
                                                     "(or set registry.keep_top_n / registry.max_age_days)")
    now = time.time() if now is None else now
    live = _live_runs(store)
    protected: dict[int, str] = {}
    for run_id in live:
        newest = registry.newest_of_run(run_id)
        if newest is not None:
            protected[newest["id"]] = f"newest checkpoint of live run {run_id}"
    protected.update(registry.holders())  # an evaluation is reading these models' files
    candidates: dict[int, dict[str, Any]] = {}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for model in registry.list():
        groups.setdefault((model["env_id"], model["algorithm"]), []).append(model)
        if model["deployment_status"] == "production":
            protected[model["id"]] = "production model"
        if max_age_days is not None and now - model["created"] > max_age_days * 86400:
            candidates[model["id"]] = {**model, "why": f"older than {max_age_days:g} days"}
    if keep_top_n is not None:
        for (env_id, algorithm), models in groups.items():
            ranked = sorted(models, key=lambda m: (m["mean_reward"] is None, -(m["mean_reward"] or 0.0), -m["id"]))
            for model in ranked[keep_top_n:]:
                candidates.setdefault(model["id"], {**model, "why": f"not in the top {keep_top_n} of {env_id}/{algorithm}"})
    kept = {i: why for i, why in protected.items() if i in candidates}
    remove = [m for i, m in sorted(candidates.items()) if i not in protected]
    return PrunePlan(remove, kept)


def apply_prune(registry: Registry, plan: PrunePlan) -> PrunePlan:
    """Remove the planned models' files, then their rows (a row never points at deleted files
    for long: a crash in between leaves rows whose files are gone, which verify reports)."""
    for model in plan.remove:
        path = local_copy(registry, model) if is_remote(model) else Path(model["model_path"])  # S3 keeps its objects
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    registry.delete([m["id"] for m in plan.remove])
    plan.applied = True
    return plan


def _live_runs(store: RunStore | None) -> list[str]:
    if store is None:
        return []
    reconcile_lost_runs(store)
    return [run["run_id"] for run in store.list_runs() if run["status"] in LIVE]


def _check_agrees(checkpoint: Checkpoint, env_id: str | None, algorithm: str | None) -> None:
    saved_env, saved_algorithm = checkpoint.options["env"]["env_id"], checkpoint.options["agent"]["algorithm"]
    if env_id is not None and env_id != saved_env:
        raise UsageError(f"--env {env_id} does not match the checkpoint's env {saved_env}",
                         hint="leave --env out to take the checkpoint's own")
    if algorithm is not None and algorithm.lower() != saved_algorithm:
        raise UsageError(f"--algo {algorithm} does not match the checkpoint's algorithm {saved_algorithm}",
                         hint="leave --algo out to take the checkpoint's own")


def open_registry(options: Options) -> Registry:
    if not options.registry.enable:
        raise WorkError("the registry is off (registry.enable = false)", hint="set --registry.enable true")
    return Registry(options.store.db_path)
