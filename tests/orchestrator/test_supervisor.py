"""Supervised runs with real processes: the command protocol against a hostile producer, stops
that reach the whole process group, a daemon SIGKILLed with runs in flight, pre-flight."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlops.cli.app import main
from rlops.errors import PreflightError, UsageError
from rlops.events.reader import read_records
from rlops.events.schema import Episode
from rlops.events.validate import validate_log
from rlops.options import resolve_options
from rlops.orchestrator.service import TrainerService
from rlops.store.runs import RunStore
from tests.helpers import tiny_args

PROGRAMS = Path(__file__).parent / "programs"
SETTLED = ("finished", "failed", "stopped", "lost")


def service(*args: str) -> TrainerService:
    return TrainerService(resolve_options(environ={}, args=["--orchestrator.poll-interval", "0.1", *args]).options)


def settle(svc: TrainerService, run_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        svc.tick()
        run = svc.store.get_run(run_id)
        if run["status"] in ("lost", "stopped") or run["status"] in SETTLED and run["exit_code"] is not None:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not settle: {svc.store.get_run(run_id)}")


def records(run: dict) -> list:
    return [record for _, record in read_records(Path(run["log_path"]))]


def test_a_command_run_survives_a_hostile_producer_and_keeps_every_line():
    svc = service()
    run_id = svc.start("command", [sys.executable, str(PROGRAMS / "noisy.py")], name="noisy")
    run = settle(svc, run_id)
    assert run["status"] == "finished" and run["exit_code"] == 0 and run["runner"] == "command"
    logged = records(run)
    assert validate_log(Path(run["log_path"])).ok, validate_log(Path(run["log_path"])).anomalies
    assert [type(r).__name__ for r in logged[:1]] == ["Meta"] and logged[0].producer == "noisy"
    assert logged[-1].type == "end" and logged[-1].status == "finished"
    assert [r.seq for r in logged] == list(range(len(logged)))  # numbered by the worker, gap-free
    assert sum(isinstance(r, Episode) for r in logged) == 20 == run["episodes"]
    assert run["ingested_seq"] == logged[-1].seq  # everything in the store, once
    assert run["bad_lines"] == 4  # invalid UTF-8, NaN, half-written JSON, a 10 MB object with no type
    output = (Path(run["run_dir"]) / "output.log").read_bytes()
    for kept in (b"starting up\n", b"\x00\x01 binary garbage \xfe\xff\n", b"x" * (10 * 1024 * 1024) + b"\n",
                 b'{"type": "metrics", "env_steps": 50, "loss": NaN}\n', b"done, with a warning on stderr\n",
                 b"no newline at the very end"):
        assert kept in output  # byte for byte, never lost
    svc.close()


def test_stopping_a_run_kills_its_whole_process_group():
    svc = service("--orchestrator.stop-grace-s", "1")
    run_id = svc.start("command", [sys.executable, str(PROGRAMS / "stubborn.py")], name="stubborn")
    family_file = Path("rlruns/stubborn/family.json")  # written where RLOPS_RUN_DIR says
    deadline = time.monotonic() + 60
    while not family_file.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    family = json.loads(family_file.read_text())
    assert svc.stop(run_id) == "stopping"
    run = settle(svc, run_id, timeout=60)
    assert run["status"] == "stopped" and run["reason"] == "killed after the stop grace period"
    time.sleep(0.2)
    assert set(family) <= set(members(json.loads((Path(run["run_dir"]) / "worker.json").read_text())["pid"])) | {
        pid for pid in family if not Path(f"/proc/{pid}").exists()}
    worker = json.loads((Path(run["run_dir"]) / "worker.json").read_text())["pid"]
    svc.tick()  # the worker is this test's child: the next round reaps it
    assert living_members(worker) == []
    assert [r.type for r in records(run)] == ["meta", "metrics"]  # what it wrote before the kill, intact
    svc.close()


def members(pgid: int) -> dict[int, str]:
    """pid: state of every process in a group (zombies included: a container's init may never reap them)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            found[int(stat.parent.name)] = fields[0]
    return found


def living_members(pgid: int) -> list[int]:
    return [pid for pid, state in members(pgid).items() if state != "Z"]


def daemon(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rlops", "runs", "daemon", "--orchestrator.poll-interval", "0.2",
                             "--orchestrator.max-concurrent", "8", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_a_sigkilled_daemon_loses_nothing_and_marks_what_died_meanwhile():
    first = daemon()
    svc = service("--orchestrator.max-concurrent", "8")
    steady = [svc.start("command", [sys.executable, str(PROGRAMS / "steady.py"), "200", "6"], name=f"steady{i}")
              for i in range(3)]
    doomed = svc.start("command", [sys.executable, str(PROGRAMS / "steady.py"), "50", "600"], name="doomed")
    time.sleep(2.0)
    first.kill()  # SIGKILL, with four runs in flight
    first.wait()
    doomed_worker = json.loads((Path("rlruns/doomed/worker.json")).read_text())["pid"]
    os.killpg(doomed_worker, signal.SIGKILL)  # a run dies while nobody watches
    deadline = time.monotonic() + 60
    while not all(Path(f"rlruns/{run}/exit.json").exists() for run in steady):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    second = daemon()
    try:
        store = RunStore("rlruns/rlops.db")
        deadline = time.monotonic() + 60
        while any(store.get_run(run)["status"] not in SETTLED for run in [*steady, doomed]):
            assert time.monotonic() < deadline, store.list_runs()
            time.sleep(0.2)
        for run_id in steady:
            run = store.get_run(run_id)
            logged = records(run)
            episodes = [r for r in logged if isinstance(r, Episode)]
            assert run["status"] == "finished" and run["exit_code"] == 0
            assert len(episodes) > 1000 and run["episodes"] == len(episodes)  # each once: none lost, none twice
            assert run["ingested_seq"] == logged[-1].seq
            stored = store.episodes(run_id)
            assert sorted(e["seq"] for e in stored) == [r.seq for r in episodes]
        lost = store.get_run(doomed)
        assert lost["status"] == "lost" and "gone without an exit status" in lost["reason"]
        assert lost["episodes"] == sum(isinstance(r, Episode) for r in records(lost))  # what it wrote is in
    finally:
        second.terminate()
        second.wait(10)
    svc.close()


def test_preflight_failures_say_what_to_do_and_leave_nothing(tmp_path):
    svc = service()
    with pytest.raises(PreflightError, match="needs a GPU"):
        svc.start("rlops", ["--train.device", "cuda"], name="gpu")
    with pytest.raises(PreflightError, match=r"cannot import .*tyro"):
        bare = tmp_path / "bare"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
        service("--orchestrator.python", str(bare / "bin" / "python")).start(
            "cleanrl", [str(Path(__file__).parents[2] / "examples" / "cleanrl_ppo.py")], name="nomodules")
    with pytest.raises(PreflightError, match="GB free"):
        service("--orchestrator.min-free-disk-gb", "1e9").start("command", [sys.executable, "-c", "pass"], name="disk")
    with pytest.raises(PreflightError, match="not found"):
        svc.start("command", ["no-such-program-here"], name="missing")
    with pytest.raises(UsageError, match="needs a program"):
        svc.start("command", [], name="empty")
    assert not [p.name for p in Path("rlruns").iterdir() if p.is_dir()]  # no run directory left behind
    assert svc.store.list_runs() == []
    svc.close()


@pytest.mark.slow  # a training under the daemon from the CLI: 35 s at load 12
def test_the_rlops_runner_from_the_cli(capsys):
    assert main(["runs", "start", "--no-daemon", "--name", "mine", "--json", "--",
                 *tiny_args("ppo", "--train.checkpoint-freq", "128")]) == 0
    assert json.loads(capsys.readouterr().out)["run"] == "mine"
    svc = service()
    run = settle(svc, "mine")
    assert run["status"] == "finished" and run["exit_code"] == 0 and run["env_steps"] == 256
    assert (Path(run["run_dir"]) / "checkpoints").is_dir() and run["runner"] == "rlops"
    assert main(["runs", "logs", "mine"]) == 0
    assert "finished at 256 steps" in capsys.readouterr().out
    svc.close()


@pytest.mark.slow  # an unmodified CleanRL script trains: 151 s at load 12
def test_the_cleanrl_runner_turns_an_unmodified_script_into_a_run():
    example = Path(__file__).resolve().parents[2] / "examples" / "cleanrl_ppo.py"
    svc = service()
    run_id = svc.start("cleanrl", [str(example), "--total-timesteps", "2048", "--num-envs", "2", "--num-steps", "128",
                                   "--capture-video"], name="clean")
    run = settle(svc, run_id, timeout=900)  # 2,048 steps with videos: minutes on a loaded machine
    assert run["status"] == "finished" and run["exit_code"] == 0 and run["runner"] == "cleanrl"
    logged = records(run)
    assert validate_log(Path(run["log_path"])).ok
    # One meta, the script's, first: whichever of its event file and its hyperparameters the worker saw first.
    assert [r.type for r in logged].count("meta") == 1
    assert logged[0].type == "meta" and logged[0].producer == "cleanrl"
    assert logged[0].config["total_timesteps"] == 2048 and logged[0].config["capture_video"] is True
    assert run["episodes"] == sum(isinstance(r, Episode) for r in logged) > 10
    keys = svc.store.metric_keys(run_id)
    assert {"losses/value_loss", "losses/policy_loss", "charts/SPS", "charts/learning_rate"} <= set(keys)
    kinds = {artifact["kind"] for artifact in run["artifacts"]}
    assert {"video", "tensorboard"} <= kinds, run["artifacts"]
    videos = [a["path"] for a in run["artifacts"] if a["kind"] == "video"]
    assert all((Path(run["run_dir"]) / path).stat().st_size > 0 for path in videos)
    assert all(path.startswith("videos/") for path in videos)
    svc.close()


def test_odd_but_valid_records_and_huge_numbers_never_jam_supervision():
    program = ("import json; print(json.dumps({'type': 'meta', 'config': {'env': 'CartPole-v1', 'agent': None}}));"
               "print('{\"type\": \"metrics\", \"env_steps\": 1, \"x\": ' + '9' * 400 + '}');"
               "print(json.dumps({'type': 'episode', 'episode_return': 1.0, 'length': 3, 'env_steps': 3}))")
    svc = service("--orchestrator.max-concurrent", "1")
    first = svc.start("command", [sys.executable, "-c", program], name="odd")
    second = svc.start("command", [sys.executable, "-c", "print('queued behind it')"], name="after")
    assert settle(svc, first)["status"] == "finished"
    run = settle(svc, second)  # the queue moved on
    assert run["status"] == "finished"
    odd = svc.store.get_run(first)
    assert odd["episodes"] == 1 and odd["bad_lines"] == 1 and odd["env_id"] is None
    with pytest.raises(Exception, match="already exists"):
        svc.start("command", [sys.executable, "-c", "pass"], name="odd")  # a name is never reused
    svc.close()
