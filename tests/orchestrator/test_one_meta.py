"""One run, one meta: a supervised run's log starts with one meta record whatever the timing, and
configuration its program makes known later (a second meta) becomes a config record, merged into
the run's configuration in the store."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rlops.events.validate import validate_log
from rlops.store.ingest import reindex
from rlops.store.runs import RunStore
from tests.orchestrator.test_supervisor import PROGRAMS, records, service, settle

LATE = str(PROGRAMS / "late_hyperparameters.py")


def test_a_cleanrl_scripts_hyperparameters_are_the_runs_meta_even_when_its_event_file_came_first():
    svc = service()
    run = settle(svc, svc.start("cleanrl", [LATE, "table-first"], name="late"))
    assert run["status"] == "finished" and run["exit_code"] == 0
    assert validate_log(Path(run["log_path"])).ok
    logged = records(run)
    assert [r.type for r in logged].count("meta") == 1 and "config" not in [r.type for r in logged]
    meta = logged[0]
    assert meta.type == "meta" and meta.producer == "cleanrl" and meta.config["total_timesteps"] == 64
    assert meta.argv[1:] == [LATE, "table-first"] and meta.seed == 3
    assert [r.type for r in logged[1:]] == ["artifact", "metrics", "end"]  # the artifact waited for it
    assert run["config"]["total_timesteps"] == 64 and run["seed"] == 3
    svc.close()


def test_hyperparameters_written_after_the_first_scalars_merge_into_the_runs_configuration():
    svc = service()
    run = settle(svc, svc.start("cleanrl", [LATE, "scalar-first"], name="later"))
    assert run["status"] == "finished"
    assert validate_log(Path(run["log_path"])).ok
    logged = records(run)
    types = [r.type for r in logged]
    assert types[0] == "meta" and types.count("meta") == 1 and types.count("config") == 1
    assert logged[0].config == {"runner": "cleanrl", "argv": logged[0].argv}
    late = logged[types.index("config")]
    assert late.config["total_timesteps"] == 64 and types.index("config") > types.index("metrics")
    assert run["config"]["total_timesteps"] == 64 and run["config"]["runner"] == "cleanrl" and run["seed"] == 3
    svc.close()


def test_a_command_programs_late_meta_merges_into_the_runs_configuration_and_survives_a_reindex():
    program = ("import json; emit = lambda **r: print(json.dumps(r), flush=True);"
               "emit(type='metrics', env_steps=1, loss=0.5);"
               "emit(type='meta', config={'lr': 0.1, 'env': {'env_id': 'Pendulum-v1'}}, seed=5, producer='late');"
               "emit(type='metrics', env_steps=2, loss=0.25)")
    svc = service()
    run = settle(svc, svc.start("command", [sys.executable, "-c", program], name="meta-late"))
    assert validate_log(Path(run["log_path"])).ok
    assert [r.type for r in records(run)] == ["meta", "metrics", "config", "metrics", "end"]
    expected = {"runner": "command", "argv": [sys.executable, "-c", program], "lr": 0.1,
                "env": {"env_id": "Pendulum-v1"}}
    assert run["config"] == expected and run["seed"] == 5 and run["env_id"] == "Pendulum-v1"
    svc.close()
    store = RunStore("rlruns/rlops.db")
    reindex(store, Path("rlruns"))  # the log alone gives the same configuration
    assert store.get_run("meta-late")["config"] == expected
    assert json.loads(Path(run["log_path"]).read_text().splitlines()[2])["type"] == "config"
    store.close()
