"""The offline runner end to end, with d3rlpy in its own interpreter: train DiscreteCQL on a
dataset recorded from a trained CartPole policy, check its records, its registry rows (tagged with
the dataset), then evaluate and serve the exported policy from the main environment; train
DiscreteBC on a dataset Minari's DataCollector wrote; import a file d3rlpy's own dump wrote."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from rlops.cli.app import main
from rlops.datasets.catalog import DatasetCatalog
from rlops.errors import PreflightError
from rlops.events.reader import read_records
from rlops.events.validate import validate_log
from rlops.store.registry import Registry
from tests.api.test_policy_server import server
from tests.datasets.offline_python import d3rlpy_python
from tests.datasets.offline_runs import offline_service as service
from tests.datasets.offline_runs import output_of as _output
from tests.datasets.offline_runs import settle
from tests.datasets.test_import import minari_collected

pytestmark = pytest.mark.slow
PROGRAMS = Path(__file__).parent / "programs"


def test_discrete_cql_on_a_recorded_dataset_registered_evaluated_served(trained, capsys):
    catalog = DatasetCatalog("rlruns", "rlruns/rlops.db")
    try:
        dataset = catalog.record(trained.checkpoint, 50, epsilon=0.1, name="cartpole-50")
    finally:
        catalog.close()
    svc = service()
    try:
        run_id = svc.start("offline", ["--dataset", "cartpole-50", "--algo", "discrete_cql", "--steps", "300",
                                       "--steps-per-epoch", "150", "--eval-episodes", "2"], name="cql")
        run = settle(svc, run_id)
    finally:
        svc.close()
    assert run["status"] == "finished" and run["exit_code"] == 0, _output(run)
    report = validate_log(Path(run["log_path"]))
    assert report.ok, report.anomalies
    records = [record for _, record in read_records(Path(run["log_path"]))]
    kinds = [record.type for record in records]
    assert kinds[0] == "meta" and kinds[-1] == "end" and kinds.count("checkpoint") == 2
    metrics = [record for record in records if record.type == "metrics"]
    assert [m.env_steps for m in metrics] == [150, 300]
    assert {"loss", "td_loss", "conservative_loss"} <= set(metrics[-1].values)
    evals = [record for record in records if record.type == "eval"]
    assert evals[-1].checkpoint == "checkpoints/step-000000000300" and evals[-1].episodes == 10  # rlops's own
    registry = Registry("rlruns/rlops.db")
    try:
        models = [m for m in registry.list() if m["run_id"] == "cql"]
    finally:
        registry.close()
    assert sorted(m["total_timesteps"] for m in models) == [150, 300]
    assert all(m["algorithm"] == "discrete_cql" and m["env_id"] == "CartPole-v1" for m in models)
    assert all(m["tags"]["offline_dataset"] == "cartpole-50" and m["tags"]["dataset_sha256"] == dataset["sha256"]
               for m in models)
    last = max(models, key=lambda m: m["total_timesteps"])
    assert last["mean_reward"] == evals[-1].mean_reward  # the score is on the registry row
    capsys.readouterr()
    assert main(["eval", "--model-id", str(last["id"]), "--eval.episodes", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["episodes"] == 2
    with server("--model-id", str(last["id"]), "--infer.allow-unvalidated", "true") as url, \
            httpx.Client(base_url=url, timeout=10) as client:
        answer = client.post("/v1/act", json={"observations": [[0, 0, 0.05, 0.1], [0, 0, -0.05, -0.1]]})
        assert answer.status_code == 200, answer.text
        assert all(action in (0, 1) for action in answer.json()["actions"])
        info = client.get("/v1/model").json()
        assert info["algorithm"] == "discrete_cql"
    # A dataset damaged afterwards stops the next run in pre-flight, naming the file.
    data = Path(dataset["path"]) / "data" / "main_data.hdf5"
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    data.write_bytes(bytes(raw))
    svc = service()
    try:
        with pytest.raises(PreflightError, match="data/main_data.hdf5 does not match its sha256"):
            svc.start("offline", ["--dataset", "cartpole-50"], name="again")
    finally:
        svc.close()


def test_discrete_bc_on_what_minari_and_d3rlpy_wrote(tmp_path):
    path, episodes, steps = minari_collected(tmp_path / "minari", episodes=8)
    dump = tmp_path / "random.h5"
    done = subprocess.run([d3rlpy_python(), str(PROGRAMS / "d3rlpy_dump.py"), str(dump)], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    d3_episodes, d3_steps = map(int, done.stdout.split()[-2:])
    catalog = DatasetCatalog("rlruns", "rlruns/rlops.db")
    try:
        imported = catalog.import_path(path)
        assert (imported["episodes"], imported["steps"]) == (episodes, steps)
        from_d3rlpy = catalog.import_path(dump, name="from-d3rlpy", env_id="CartPole-v1")
        assert (from_d3rlpy["episodes"], from_d3rlpy["steps"]) == (d3_episodes, d3_steps)
    finally:
        catalog.close()
    svc = service()
    try:
        run_id = svc.start("offline", ["--dataset", imported["name"], "--algo", "discrete_bc", "--steps", "200",
                                       "--steps-per-epoch", "200", "--eval-episodes", "2"], name="bc")
        run = settle(svc, run_id)
    finally:
        svc.close()
    assert run["status"] == "finished" and run["exit_code"] == 0, _output(run)
    assert validate_log(Path(run["log_path"])).ok
    assert (Path(run["run_dir"]) / "checkpoints" / "step-000000000200" / "policy.pt").is_file()
