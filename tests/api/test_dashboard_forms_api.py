"""The routes behind the start form, the registry page and the serving panel (issue 19, items 13,
16, 17): the form's check refuses what `rlops train` refuses, in the CLI's words; an unevaluated
model can be evaluated over HTTP; a checkpoint registered already is not registered twice; the
serving panel reports the policy server's own hot swap setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlops.api.app import create_app
from rlops.api.policy_server import PolicyHolder
from rlops.api.policy_server import create_app as policy_app
from rlops.cli.app import main
from rlops.options import resolve_options
from rlops.services.policy import ServedPolicy
from rlops.services.registry_ops import resolve_model
from rlops.store.registry import Registry
from tests.api.http_helpers import serving
from tests.helpers import train_tiny

DB = "rlruns/rlops.db"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[object, Path, Path]:
    """One tiny PPO run (checkpoints at 128 and 256 steps, both registered; only the last one
    evaluated) for the registry tests: the result, its runs directory and registry database."""
    root = tmp_path_factory.mktemp("forms-api") / "rlruns"
    db = root / "rlops.db"
    result = train_tiny("ppo", "--train.checkpoint-freq", "128", "--store.model-dir", str(root),
                        "--registry.db-path", str(db), steps=256)
    return result, root, db


def _refused(client, options: dict) -> dict[str, dict]:
    check = client.post("/api/options/check", json={"options": options}).json()
    assert check["ok"] is False, check
    return {error["option"]: error for error in check["errors"]}


def test_the_form_check_refuses_what_rlops_train_refuses_in_its_words(capsys):
    assert main(["train", "--agent.algorithm", "ppoo", "--train.total-timesteps", "8"]) == 2
    cli_message = capsys.readouterr().err.splitlines()[0].split(": ", 1)[1]  # past "error: "
    options = resolve_options(environ={}, args=[]).options
    with serving(create_app(DB, options)) as client:
        fields = {f["option"]: f for s in client.get("/api/options").json()["sections"] for f in s["fields"]}
        assert fields["agent.algorithm"]["choices"] == ["a2c", "dqn", "ppo", "sac", "td3"]  # a select
        assert fields["agent.policy_type"]["choices"][0] == "auto"

        refused = _refused(client, {"agent.algorithm": "ppoo"})
        assert refused["agent.algorithm"]["message"] == cli_message
        assert "did you mean 'ppo'?" in cli_message and "known algorithms" in refused["agent.algorithm"]["hint"]
        assert "did you mean 'CartPole-v1'" in _refused(client, {"env.env_id": "CartPol-v1"})["env.env_id"]["message"]
        # what takes the env's spaces: DQN acts in Discrete spaces only
        dqn = _refused(client, {"agent.algorithm": "dqn", "env.env_id": "Pendulum-v1"})["agent.algorithm"]
        assert "does not support Box action spaces" in dqn["message"] and "sac" in dqn["hint"]
        assert "did you mean 'n_steps'" in _refused(client, {"agent.hyperparams": {"n_stepz": 8}})[
            "agent.hyperparams"]["message"]
        assert "trains ppo and a2c" in _refused(client, {"train.engine": "vector", "agent.algorithm": "sac"})[
            "train.engine"]["message"]
        assert client.post("/api/options/check", json={"options": {"agent.algorithm": "sac", "env.env_id":
                                                                   "Pendulum-v1"}}).json() == {"ok": True, "errors": []}

        started = client.post("/api/runs", json={"options": {"agent.algorithm": "ppoo"}, "name": "typo"})
        assert started.status_code == 422  # refused at once, not queued to fail in its process
        assert [f["option"] for f in started.json()["error"]["fields"]] == ["agent.algorithm"]
        assert client.get("/api/runs").json() == [] and not Path("rlruns/typo").exists()


def test_an_unevaluated_model_is_evaluated_over_http_and_then_validation_can_pass(trained):
    result, _, db = trained
    first = [m for m in Registry(db).list(run_id=result.run.name) if m["total_timesteps"] == 128][0]
    assert first["mean_reward"] is None
    options = resolve_options(environ={}, args=["--eval.episodes", "3", "--registry.min-reward", "0",
                                                "--registry.min-episodes", "3", "--registry.max-std-ratio",
                                                "10"]).options
    with serving(create_app(db, options)) as client:
        before = client.post(f"/api/models/{first['id']}/validate").json()
        assert [r["rule"] for r in before["rules"] if not r["passed"]] == ["evaluated"]
        answer = client.post(f"/api/models/{first['id']}/evaluate")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["eval"]["episodes"] == 3 and body["model"]["mean_reward"] == body["eval"]["mean_reward"]
        assert body["model"]["eval_episodes"] == 3 and body["unrecorded"] is None
        assert body["validation"]["validated"] is True, body["validation"]
        assert client.post(f"/api/models/{first['id']}/validate").json()["validated"] is True
        assert client.post("/api/models/999/evaluate").status_code == 404


def test_importing_a_registered_checkpoint_names_its_model_and_adds_none(capsys, trained):
    result, root, db = trained
    model = Registry(db).get(result.model_id)
    count = len(Registry(db).list())
    store = ["--store.model-dir", str(root), "--registry.db-path", str(db)]
    with serving(create_app(db, resolve_options(environ={}, args=store).options)) as client:
        answer = client.post("/api/models/import", json={"path": str(result.checkpoint.path)})
        assert answer.status_code == 409, answer.text
        error = answer.json()["error"]
        assert f"registered already as model {model['id']}" in error["message"] and model["model_path"] in error[
            "message"]
        assert f"rlops registry show {model['id']}" in error["hint"]
    assert main(["registry", "import", str(result.run.path), *store]) == 2  # the CLI's path: the same refusal
    assert f"registered already as model {model['id']}" in capsys.readouterr().err
    assert len(Registry(db).list()) == count and not list(root.glob("registry/*"))


def test_the_serving_status_is_the_policy_servers_own_hot_swap_setting(trained):
    result, _, db = trained
    registry = Registry(db)
    row, checkpoint = resolve_model(registry, model_id=result.model_id, allow_unvalidated=True)
    registry.close()
    holder = PolicyHolder(ServedPolicy(checkpoint, device="cpu", model_row=row))
    with serving(policy_app(holder, hotswap="production")) as server:
        port = server.base_url.port
        assert server.get("/v1/model").json()["hotswap"] == "production"
        options = resolve_options(environ={}, args=["--serve.port", str(port), "--serve.hotswap", "best"]).options
        with serving(create_app(db, options)) as client:
            status = client.get("/api/serving").json()
    assert status["reachable"] is True and status["serving"]["model_id"] == result.model_id
    assert status["hotswap"] == "production"  # the server's, not this dashboard's "best"
