"""Offline to online (issue 14.3): registered offline models (DiscreteCQL and DiscreteBC trained by
the offline runner in d3rlpy's interpreter) warm-start online runs where the networks fit: their
weights are the new run's first weights and the run's models have them as parent. Where they
do not fit, the run is refused before it trains, and the message says why.

The same two offline runs (slow to make) also show how an offline run is filed (issue 14.4): the
runs list has its env and algorithm, its run page names its dataset with a link to the Datasets
page, and the retention page counts the dataset's bytes."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from playwright.sync_api import expect

from rlops.datasets.catalog import DatasetCatalog
from rlops.errors import IncompatibleChoiceError
from rlops.options import resolve_options
from rlops.pipeline.checkpoints import read_checkpoint
from rlops.pipeline.loading import load_policy
from rlops.pipeline.torchscript_init import exported_layers
from rlops.services.training import prepare_options, train
from rlops.store.registry import Registry
from rlops.store.runs import RunStore
from tests.datasets.offline_runs import offline_service, output_of, settle
from tests.helpers import tiny_args
from tests.ui.pages import checked_page
from tests.ui.test_dashboard_browser import browser, ui_server  # noqa: F401  (browser is a fixture)

pytestmark = pytest.mark.slow  # two offline runs in d3rlpy's interpreter
OBSERVATIONS = np.array([[0.0, 0.0, 0.05, 0.1], [0.0, 0.0, -0.05, -0.1], [0.1, 0.5, 0.02, -0.3]], np.float32)


@pytest.fixture(scope="module")
def offline_models(trained, tmp_path_factory):
    """{algorithm: (registry id, checkpoint)} of a DiscreteCQL and a DiscreteBC offline run (run ids: their
    algorithms), and the store's options."""
    root = tmp_path_factory.mktemp("offline")  # laid out as `rlops ui` run there finds it (tests/ui)
    db = root / "rlruns" / "rlops.db"
    paths = ["--store.model-dir", str(root / "rlruns"), "--registry.db-path", str(db)]
    catalog = DatasetCatalog(root / "rlruns", db)
    try:
        catalog.record(trained.checkpoint, 10, epsilon=0.1, name="cartpole-10")
    finally:
        catalog.close()
    svc = offline_service(*paths)
    models = {}
    try:
        for algo in ("discrete_cql", "discrete_bc"):
            run_id = svc.start("offline", ["--dataset", "cartpole-10", "--algo", algo, "--steps", "40",
                                           "--steps-per-epoch", "40", "--eval-episodes", "1"], name=algo)
            run = settle(svc, run_id, timeout=300)
            assert run["status"] == "finished", output_of(run)
            registry = Registry(db)
            try:
                row = next(m for m in registry.list() if m["run_id"] == algo)
            finally:
                registry.close()
            models[algo] = (row["id"], read_checkpoint(Path(row["model_path"])))
    finally:
        svc.close()
    return models, paths


def _options(algorithm: str, init: int, paths: list[str], *extra: str):
    return resolve_options(environ={}, args=[*tiny_args(algorithm, steps=64), *paths, "--train.init-from", str(init),
                                             *extra]).options


def _exported_actions(checkpoint) -> np.ndarray:
    with warnings.catch_warnings():  # torch 2.13 deprecates the TorchScript loader it still has
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(checkpoint.file("policy.pt")))
    return module(torch.as_tensor(OBSERVATIONS)).numpy().reshape(-1)


def test_a_discrete_cql_q_network_becomes_a_dqn_q_network(offline_models):
    models, paths = offline_models
    model_id, offline = models["discrete_cql"]
    # learning_starts past the budget: no gradient step, so the run's weights are still the offline ones.
    options = _options("dqn", model_id, paths, "--agent.net-arch", "[256, 256]", "--agent.hyperparams",
                       '{"learning_starts": 1000}', "--eval.episodes", "1")
    result = train(prepare_options(options), progress=False)
    loaded = load_policy(result.checkpoint, device="cpu")
    try:
        q_net = loaded.model.policy.q_net.q_net
        source = exported_layers(offline)
        linears = [module for module in q_net if isinstance(module, torch.nn.Linear)]
        assert all(torch.equal(layer.weight, linear.weight.detach()) for layer, linear in zip(source, linears,
                                                                                              strict=True))
        actions, _ = loaded.model.predict(OBSERVATIONS, deterministic=True)
        assert list(actions) == list(_exported_actions(offline))  # the same greedy actions as the offline policy
    finally:
        loaded.close()
    registry = Registry(paths[3])
    try:
        row = registry.get(result.model_id)
    finally:
        registry.close()
    assert row["parent_model_id"] == model_id


def test_a_discrete_bc_policy_becomes_the_actor_of_ppo_and_of_the_vector_engine(offline_models):
    models, paths = offline_models
    model_id, offline = models["discrete_bc"]
    relu = '{"n_steps": 64, "policy_kwargs": {"activation_fn": "relu"}}'
    options = _options("ppo", model_id, paths, "--agent.net-arch", "[256, 256]", "--agent.hyperparams", relu)
    sb3 = _actor_after(train(prepare_options(options), progress=False), lambda m: [
        *m.policy.mlp_extractor.policy_net, m.policy.action_net])
    vector = _options("ppo", model_id, paths, "--train.engine", "vector", "--agent.net-arch", "[256, 256]",
                      "--agent.hyperparams", '{"activation": "relu", "n_steps": 16}', "--env.n-envs", "4")
    engine = _actor_after(train(prepare_options(vector), progress=False), lambda m: list(m.policy.actor))
    source = exported_layers(offline)
    for actor in (sb3, engine):
        # One short update moves each weight by a few learning rates at most; a fresh actor differs by ~0.1.
        assert all((layer.weight - linear.weight).abs().max() < 0.02 for layer, linear in zip(source, actor,
                                                                                               strict=True))


def _actor_after(result, modules) -> list[torch.nn.Linear]:
    assert result.status == "finished"
    loaded = load_policy(result.checkpoint, device="cpu")
    try:
        return [module for module in modules(loaded.model) if isinstance(module, torch.nn.Linear)]
    finally:
        loaded.close()


@pytest.mark.parametrize(("source", "algorithm", "extra", "message"), [
    ("discrete_cql", "ppo", [], r"offline discrete_cql Q-network outputs action values, so it can't initialise a "
                                r"PPO actor"),
    ("discrete_bc", "dqn", [], r"offline discrete_bc policy outputs action logits, so it can't initialise a DQN "
                               r"Q-network"),
    ("discrete_cql", "dqn", [], r"its network \(4 -> 256 -> 256 -> 2 \(relu\)\) does not fit this run's DQN "
                                r"Q-network \(4 -> 16 -> 2 \(relu\)\): 3 linear layers there, 2 here"),
    ("discrete_bc", "ppo", ["--agent.net-arch", "[256, 256]"],
     r"does not fit this run's PPO actor \(4 -> 256 -> 256 -> 2 \(tanh\)\): layer 1 is followed by relu there, "
     r"tanh here"),
    ("discrete_cql", "dqn", ["--agent.net-arch", "[256, 256]", "--obs.normalize", "obs"],
     r"learnt from raw observations and obs.normalize obs would feed it scaled ones"),
])
def test_a_network_that_does_not_fit_is_refused_before_training(offline_models, source, algorithm, extra, message):
    models, paths = offline_models
    model_id, _ = models[source]
    runs_before = {path for path in Path(paths[1]).iterdir() if path.is_dir()}
    with pytest.raises(IncompatibleChoiceError, match=message) as caught:
        train(prepare_options(_options(algorithm, model_id, paths, *extra)), progress=False)
    assert caught.value.hint  # what to do: the options that make it fit, or the algorithm that can use it
    assert {path for path in Path(paths[1]).iterdir() if path.is_dir()} == runs_before  # refused before a run dir


def test_an_offline_run_is_listed_with_its_env_algorithm_and_dataset(offline_models, browser):  # noqa: F811
    _, paths = offline_models
    store = RunStore(paths[3])
    try:
        run = store.get_run("discrete_cql")
    finally:
        store.close()
    assert (run["env_id"], run["algorithm"], run["runner"]) == ("CartPole-v1", "discrete_cql", "offline")
    catalog = DatasetCatalog(paths[1], paths[3])
    try:
        dataset = catalog.require("cartpole-10")
    finally:
        catalog.close()
    assert run["config"]["offline"]["offline_dataset"] == "cartpole-10"
    assert run["config"]["offline"]["dataset_sha256"] == dataset["sha256"]
    with ui_server(Path(paths[1]).parent) as base:
        with checked_page(browser, 1440) as page:
            page.goto(f"{base}/#/runs")
            row = page.locator("tr", has_text="discrete_cql").first
            expect(row).to_contain_text("CartPole-v1")
            page.goto(f"{base}/#/runs/discrete_cql")
            part = page.locator('[data-testid="run-dataset"]')
            expect(part).to_contain_text("cartpole-10")
            expect(page.locator('[data-testid="run-dataset-sha"]')).to_have_text(dataset["sha256"][:12])
            part.locator("a").click()
            expect(page.locator('tr[data-dataset="cartpole-10"]')).to_have_attribute("aria-current", "true")
            page.goto(f"{base}/#/retention")
            expect(page.locator('[data-testid="dataset-bars"] [data-dataset="cartpole-10"]')).to_be_visible()
            expect(page.locator('[data-testid="datasets-disk-use"]')).not_to_have_text("0 B")
