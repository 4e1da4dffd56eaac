"""``rlops serve`` as a user runs it: a real server process on loopback, a client, the registry."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import httpx
import pytest

from rlops.store.registry import Registry
from tests.helpers import train_tiny
from tests.policy_server import policy_server as server  # tests of other formats import it from here too

DB = "rlruns/rlops.db"


def scored(model_id: int, mean: float) -> None:
    """Give a registered model an evaluation and validate it (the numbers are the test's data)."""
    registry = Registry(DB)
    registry.set_evaluation(model_id, mean, 1.0, mean, 10)
    registry.set_validation(model_id, True, [])
    registry.close()


@pytest.fixture(scope="module")
def trained_pair(tmp_path_factory) -> tuple[Path, int, int]:
    """Two tiny PPO models, trained once for the module: their store, and their registry ids."""
    root = tmp_path_factory.mktemp("two-models") / "rlruns"
    paths = ["--store.model-dir", str(root), "--store.db-path", str(root / "rlops.db")]
    first = train_tiny("ppo", "--store.run-name", "first", *paths, steps=128)
    second = train_tiny("ppo", "--store.run-name", "second", "--env.seed", "2", *paths, steps=128)
    return root, first.model_id, second.model_id


@pytest.fixture
def two_models(trained_pair):
    """The pair's store copied into this test's directory (each test changes its registry as it likes);
    the first model is scored and validated, the second not yet."""
    root, first_id, second_id = trained_pair
    shutil.copytree(root, Path(DB).parent)
    scored(first_id, 50.0)
    return first_id, second_id


class Client(threading.Thread):
    """Sends one observation after another until stopped; keeps every outcome."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop = url, threading.Event()
        self.results: list[tuple[float, float, int, int | None]] = []  # start, latency, status, model id

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stop.is_set():
                started = time.perf_counter()
                try:
                    response = client.post("/v1/act", json={"observation": [0.01, -0.02, 0.03, 0.0]})
                    status, model = response.status_code, response.json().get("model_id")
                except httpx.HTTPError:
                    status, model = 0, None
                self.results.append((started, time.perf_counter() - started, status, model))


def test_hotswap_to_a_better_validated_model_without_a_failed_request(two_models):
    first_id, second_id = two_models
    with server("--load-best", "--env", "CartPole-v1", "--serve.poll-interval", "0.2") as url:
        assert httpx.get(f"{url}/v1/model").json()["model_id"] == first_id
        clients = [Client(url) for _ in range(4)]  # a load generator: four connections, back to back
        for client in clients:
            client.start()
        time.sleep(1.5)
        swap_asked = time.perf_counter()
        scored(second_id, 80.0)  # a better validated model appears
        deadline = time.monotonic() + 20
        while httpx.get(f"{url}/v1/model").json()["model_id"] != second_id:
            assert time.monotonic() < deadline, "the server never swapped"
            time.sleep(0.05)
        time.sleep(1.0)
        for client in clients:
            client.stop.set()
            client.join()
        described = httpx.get(f"{url}/v1/model").json()
    results = sorted(result for client in clients for result in client.results)
    assert all(status == 200 for _, _, status, _ in results), {s for _, _, s, _ in results}
    # Throughput is bench_policy_server.py's to measure (a floor here flakes under load); what the
    # test needs is traffic on every connection on both sides of the swap.
    assert all(sum(1 for started, *_ in client.results if started < swap_asked) >= 1 for client in clients)
    for client in clients:  # each connection saw one clean switch, never back
        served = [model for _, _, _, model in client.results]
        switch = served.index(second_id)
        assert set(served[:switch]) == {first_id} and set(served[switch:]) == {second_id}
    before = sorted(latency for started, latency, _, _ in results if started < swap_asked)
    around = [latency for started, latency, _, _ in results if started >= swap_asked]
    p99_before = before[int(len(before) * 0.99)]
    assert max(around) < max(0.25, 20 * p99_before), (max(around), p99_before)  # no request stalls on the swap
    assert described["swaps"] == 1 and described["mean_reward"] == 80.0


def test_a_worse_or_unvalidated_model_is_not_swapped_in_but_production_mode_follows_promotions(two_models):
    first_id, second_id = two_models
    registry = Registry(DB)
    registry.promote(first_id, "production")
    registry.close()
    with server("--status", "production", "--serve.hotswap", "production", "--serve.poll-interval", "0.1") as url:
        assert httpx.get(f"{url}/v1/model").json()["model_id"] == first_id
        registry = Registry(DB)
        registry.set_evaluation(second_id, 10.0, 1.0, 10.0, 10)  # worse, unvalidated: production mode waits
        registry.set_validation(second_id, True, [])
        time.sleep(0.5)
        assert httpx.get(f"{url}/v1/model").json()["model_id"] == first_id
        registry.promote(second_id, "production")  # a promotion is what this mode follows
        registry.close()
        deadline = time.monotonic() + 20
        while httpx.get(f"{url}/v1/model").json()["model_id"] != second_id:
            assert time.monotonic() < deadline, "the server did not follow the promotion"
            time.sleep(0.05)


def test_malformed_observations_get_422_with_the_expected_shape(two_models):
    first_id, _ = two_models
    with server("--model-id", str(first_id)) as url, httpx.Client(base_url=url) as client:
        ok = client.post("/v1/act", json={"observations": [[0.0, 0.0, 0.0, 0.0]] * 256})
        assert ok.status_code == 200 and len(ok.json()["actions"]) == 256
        for body in ({"observation": [1, 2, 3]}, {"observation": "left"}, {"observations": [[1, 2], [3, 4]]},
                     {"observation": [[0, 0, 0, 0]]}, {}, {"observation": [0, 0, 0, "NaN"]},
                     {"observation": [0, 0, 0, 0], "observations": [[0, 0, 0, 0]]}):
            response = client.post("/v1/act", json=body)
            assert response.status_code == 422, body
            assert "[4]" in response.json()["error"]["message"] + str(response.json()["error"]["hint"]), body
        assert client.post("/v1/act", content=b"{not json", headers={"content-type": "application/json"}
                           ).status_code == 422
        assert client.get("/openapi.json").json()["info"]["title"] == "rlops policy server"


def test_a_token_is_required_when_set_and_beyond_loopback(two_models, capsys):
    first_id, _ = two_models
    with server("--model-id", str(first_id), "--serve.token", "s3cret") as url:
        assert httpx.post(f"{url}/v1/act", json={"observation": [0, 0, 0, 0]}).status_code == 401
        authorized = httpx.post(f"{url}/v1/act", json={"observation": [0, 0, 0, 0]},
                                headers={"Authorization": "Bearer s3cret"})
        assert authorized.status_code == 200
    from rlops.cli.app import main

    assert main(["serve", "--model-id", str(first_id), "--serve.host", "0.0.0.0"]) == 2
    assert "serve.token" in capsys.readouterr()[1]
    assert Path(DB).is_file()
