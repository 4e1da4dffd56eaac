"""The registry end to end: train, evaluate, validate, load the best, promote, verify, prune."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlops.cli.app import main
from rlops.store.registry import Registry
from tests.helpers import train_tiny

DB = "rlruns/rlops.db"


def cli_json(capsys, *args: str) -> tuple[int, object]:
    code = main([*args, "--json"])
    out, _ = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None


@pytest.mark.slow  # a training with checkpoints and evaluations: 42 s at load 12
def test_every_checkpoint_is_registered_and_the_final_eval_lands_on_its_row():
    # min_reward 0: a bar a tiny run clears (unset, CartPole-v1's spec.reward_threshold of 475 applies)
    result = train_tiny("ppo", "--train.checkpoint-freq", "128", "--registry.min-episodes", "2",
                        "--registry.max-std-ratio", "10", "--registry.min-reward", "0", steps=256)
    registry = Registry(DB)
    models = registry.list(run_id=result.run.name)
    assert [m["total_timesteps"] for m in models] == [256, 128]
    final, first = models
    assert final["id"] == result.model_id and final["model_path"] == str(result.checkpoint.path.resolve())
    assert final["mean_reward"] == result.evaluation.mean_reward and final["eval_episodes"] == 2
    assert final["validated"] and result.validation.validated
    assert first["mean_reward"] is None and not first["validated"]
    assert final["sha256"] == result.checkpoint.sha256 and final["hyperparams"]["n_steps"] == 64
    registry.close()


@pytest.mark.slow  # two trainings with checkpoints and the CLI: 83 s at load 12
def test_train_two_validate_one_load_the_best_promote_and_prune(capsys):
    runs = [train_tiny("ppo", "--train.checkpoint-freq", "128", "--store.run-name", name, "--env.seed", seed,
                       "--eval.episodes", "5", steps=256) for name, seed in (("a", "1"), ("b", "2"))]
    # Tiny budgets do not order policies reliably; what the test needs is two different scores.
    weak, strong = sorted(runs, key=lambda r: r.evaluation.mean_reward)
    weak_id, strong_id = weak.model_id, strong.model_id
    assert strong.evaluation.mean_reward > weak.evaluation.mean_reward
    threshold = (strong.evaluation.mean_reward + weak.evaluation.mean_reward) / 2
    rules = ["--registry.min-reward", str(threshold), "--registry.min-episodes", "5", "--registry.max-std-ratio", "10"]

    # Evaluating by registry id writes the score back onto the row and applies the rules.
    for model_id in (weak_id, strong_id):
        code, report = cli_json(capsys, "eval", "--model-id", str(model_id), "--eval.episodes", "5", *rules)
        assert code == 0 and report["model_id"] == model_id
    code, outcome = cli_json(capsys, "registry", "validate", str(weak_id), *rules)
    assert code == 1 and not outcome["validated"]
    assert [r["rule"] for r in outcome["rules"] if not r["passed"]] == ["min_reward"]
    assert "min_reward" in outcome["failed"][0]
    code, outcome = cli_json(capsys, "registry", "validate", str(strong_id), *rules)
    assert code == 0 and outcome["validated"]

    code, listed = cli_json(capsys, "registry", "list", "--validated")
    assert [m["id"] for m in listed] == [strong_id]
    code, _ = cli_json(capsys, "infer", "--load-best", "--env", "CartPole-v1")
    assert code == 0
    assert main(["infer", "--load-best", "--env", "CartPole-v1", "--json"]) == 0
    assert capsys.readouterr()[0].strip()
    assert main(["infer", "--model-id", str(weak_id)]) == 2  # not validated
    assert "not validated" in capsys.readouterr()[1]
    assert main(["infer", "--model-id", str(weak_id), "--allow-unvalidated"]) == 0
    capsys.readouterr()

    # One production model per env: promoting another archives the previous one.
    assert cli_json(capsys, "registry", "promote", str(weak_id), "--to", "production")[1]["archived"] == []
    assert cli_json(capsys, "registry", "promote", str(strong_id), "--to", "production")[1]["archived"] == [weak_id]
    code, production = cli_json(capsys, "registry", "list", "--status", "production")
    assert [m["id"] for m in production] == [strong_id]

    # Prune: the dry run lists, --apply removes exactly those rows and files.
    before = {m["id"]: Path(m["model_path"]) for m in cli_json(capsys, "registry", "list")[1]}
    assert len(before) == 4  # each run: its 128-step and 256-step checkpoints
    code, plan = cli_json(capsys, "registry", "prune", "--keep-top-n", "1")
    listed_ids = sorted(m["id"] for m in plan["remove"])
    assert code == 0 and not plan["applied"] and listed_ids == sorted(set(before) - {strong_id})
    assert all(path.is_dir() for path in before.values())  # a dry run touches nothing
    code, applied = cli_json(capsys, "registry", "prune", "--keep-top-n", "1", "--apply")
    assert applied["applied"] and sorted(m["id"] for m in applied["remove"]) == listed_ids
    after = {m["id"] for m in cli_json(capsys, "registry", "list")[1]}
    assert after == {strong_id}
    assert [path.is_dir() for i, path in sorted(before.items())] == [i == strong_id for i in sorted(before)]
    assert (weak.run.path / "train_log.jsonl").is_file() and (weak.run.path / "options.json").is_file()


def test_production_and_live_runs_newest_checkpoint_are_never_pruned(capsys):
    first = train_tiny("a2c", "--store.run-name", "a", steps=100)
    second = train_tiny("a2c", "--store.run-name", "b", steps=100)
    registry = Registry(DB)
    registry.promote(first.model_id, "production")
    registry.close()
    from rlops.store.runs import RunStore

    store = RunStore(DB)
    store.settle("b", "running")
    store.register_run("b", pid=__import__("os").getpid())  # b's process is alive: this one
    store.close()
    code, plan = cli_json(capsys, "registry", "prune", "--max-age-days", "0")
    assert plan["remove"] == []
    assert plan["kept_because"] == {str(first.model_id): "production model",
                                    str(second.model_id): "newest checkpoint of live run b"}


def test_a_damaged_checkpoint_is_reported_refused_and_listing_still_works(capsys):
    rules = ("--registry.min-episodes", "2", "--registry.max-std-ratio", "10", "--registry.min-reward", "0")
    result = train_tiny("ppo", *rules, steps=128)
    other = train_tiny("ppo", *rules, "--store.run-name", "other", steps=128)
    parameters = result.checkpoint.path / "parameters.pt"
    parameters.write_bytes(parameters.read_bytes()[:-10] + b"0123456789")
    code, report = cli_json(capsys, "registry", "verify")
    assert code == 1
    damaged = {r["model_id"]: r for r in report if not r["ok"]}
    assert list(damaged) == [result.model_id]
    assert "parameters.pt does not match its sha256" in damaged[result.model_id]["problems"][0]

    assert main(["infer", "--model-id", str(result.model_id)]) == 1
    assert "is refused" in capsys.readouterr()[1]
    assert main(["registry", "list"]) == 0 and str(result.model_id) in capsys.readouterr()[0]

    import shutil

    shutil.rmtree(other.checkpoint.path)
    code, report = cli_json(capsys, "registry", "verify", str(other.model_id))
    assert code == 1 and "does not exist" in report[0]["problems"][0]
    assert main(["infer", "--load-best"]) == 1  # the best validated model is damaged: refused, not run
    assert "is refused" in capsys.readouterr()[1]


def test_import_copies_into_managed_storage_and_add_registers_in_place(capsys, tmp_path):
    result = train_tiny("a2c", "--registry.enable", "false", steps=100)
    assert not Path(DB).exists() or Registry(DB).list() == []
    code, imported = cli_json(capsys, "registry", "import", str(result.run.path))
    managed = Path(imported["model_path"])
    assert code == 0 and managed.parent == Path("rlruns/registry").resolve()
    assert imported["sha256"] == result.checkpoint.sha256 and imported["tags"]["imported_from"]
    assert (managed / "manifest.json").is_file()
    code, added = cli_json(capsys, "registry", "add", str(result.checkpoint.path), "--env", "CartPole-v1")
    assert code == 0 and added["id"] != imported["id"]
    assert main(["registry", "add", str(result.checkpoint.path), "--env", "Pendulum-v1"]) == 2
    assert "does not match the checkpoint's env" in capsys.readouterr()[1]
    assert main(["registry", "show", "999"]) == 2
    assert "no model with id 999" in capsys.readouterr()[1]


@pytest.mark.slow  # four trainings: 65 s at load 12
def test_a_warm_started_run_points_at_its_parent(capsys):
    parent = train_tiny("ppo", "--store.run-name", "parent", steps=128)
    child = train_tiny("ppo", "--store.run-name", "child", "--train.init-from", str(parent.run.path), steps=128)
    grandchild = train_tiny("ppo", "--store.run-name", "grandchild", "--train.init-from", str(child.model_id),
                            steps=128)
    code, shown = cli_json(capsys, "registry", "show", str(grandchild.model_id))
    assert shown["lineage"] == [grandchild.model_id, child.model_id, parent.model_id]
    resumed = train_tiny("ppo", "--store.run-name", "child", "--train.resume", steps=256)
    assert Registry(DB).get(resumed.model_id)["parent_model_id"] == parent.model_id  # lineage survives a resume

    assert main(["train", "--store.run-name", "misfit", "--train.init-from", str(parent.run.path),
                 "--agent.net-arch", "[8]", "--train.total-timesteps", "64"]) == 2
    err = capsys.readouterr()[1]
    assert "does not fit this run's network" in err and "agent.net_arch [16]" in err
    assert not Path("rlruns/misfit").exists()  # refused before anything was written
