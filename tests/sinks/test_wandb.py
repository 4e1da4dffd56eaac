"""The W&B backend in offline mode: a training run's ``.wandb`` files, read back by W&B's own
reader (``wandb leet inspect --json``), hold the history of its JSONL log row for row; a resumed
run keeps one run id with steps that only go up; nothing of W&B reaches the console."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rlops.events.reader import read_records
from rlops.events.schema import End, Episode, Eval, Metrics
from tests.helpers import train_tiny


def read_wandb(run_dir: Path) -> list[list[dict]]:
    """The records of each offline W&B run file under the run, in the order the runs started."""
    files = []
    for path in (run_dir / "wandb").glob("offline-run-*/run-*.wandb"):
        out = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(path)],
                             capture_output=True, text=True, check=True, timeout=60).stdout
        files.append([json.loads(line) for line in out.splitlines() if line.strip()])
    return sorted(files, key=lambda records: of_type(records, "run")[0]["start_time"])


def of_type(records: list[dict], kind: str) -> list[dict]:
    return [record[kind] for record in records if record["type"] == kind]


def rows_of_log(log: Path) -> list[dict]:
    """The history rows the log's records must become: step seq, env_steps, the scalars."""
    rows = []
    for _, record in read_records(log):
        if isinstance(record, Metrics):
            values = {"opt_steps": record.opt_steps, "wall_time_s": record.wall_time_s, "sps": record.sps,
                      **record.values}
        elif isinstance(record, Episode):
            values = {"episode/return": record.episode_return, "episode/length": record.length}
        elif isinstance(record, Eval):
            values = {"eval/mean_reward": record.mean_reward, "eval/std_reward": record.std_reward,
                      "eval/mean_length": record.mean_length}
        else:
            continue
        rows.append({"_step": record.seq, "_timestamp": record.t, "env_steps": record.env_steps, **values})
    return rows


def stored_rows(history: list[dict]) -> list[dict]:
    """History items as the log's rows: W&B's own bookkeeping (_runtime) left out, histograms as counts."""
    rows = []
    for item in history:
        row = {key: value for key, value in item["item"].items() if key != "_runtime"}
        for key in [key[:-len("._type")] for key, value in row.items() if value == "histogram"]:
            row[key] = [int(count) for count in row.pop(f"{key}.values")]  # stored flat, as key.values...
            assert row.pop(f"{key}.bins") == [i - 0.5 for i in range(len(row[key]) + 1)]
            del row[f"{key}._type"]
        rows.append(row)
    return rows


def assert_same_rows(stored: list[dict], expected: list[dict]) -> None:
    assert [row["_step"] for row in stored] == [row["_step"] for row in expected]
    for got, want in zip(stored, expected, strict=True):
        assert got.keys() == want.keys(), want["_step"]
        assert got == want, want["_step"]  # floats round-trip exactly through W&B's JSON


def test_an_offline_run_holds_the_history_of_its_log(capfd):
    result = train_tiny("ppo", "--store.backend", "wandb")
    [records] = read_wandb(result.run.path)
    [run] = of_type(records, "run")
    assert (run["run_id"], run["display_name"], run["project"]) == (result.run.name, result.run.name, "default")
    assert run["config"]["update"]["env"]["env_id"] == "CartPole-v1"
    assert run["config"]["update"]["train"]["total_timesteps"] == 256
    log = result.run.events_file
    expected = rows_of_log(log)
    assert_same_rows(stored_rows(of_type(records, "history")), expected)
    assert any("action_hist" in row for row in expected) and any("eval/mean_reward" in row for row in expected)
    # Every series is charted against env_steps.
    assert {"glob_name": "*", "step_metric": "env_steps"}.items() <= of_type(records, "metric")[1].items()
    summary: dict = {}
    for update in of_type(records, "summary"):
        summary.update(update.get("update", {}))
    evals = [r for _, r in read_records(log) if isinstance(r, Eval)]
    assert summary["eval/best_mean_reward"] == max(r.mean_reward for r in evals)
    assert summary["rlops/status"] == "finished"
    [exit_record] = of_type(records, "exit")
    assert exit_record.get("exit_code", 0) == 0  # finished (proto3 JSON may leave a zero out)
    # The event log is saved as a run file, whole.
    saved = [item["path"] for files in of_type(records, "files") for item in files["files"]]
    assert "train_log.jsonl" in saved
    [copy] = (result.run.path / "wandb").glob("offline-run-*/files/train_log.jsonl")
    assert copy.read_bytes() == log.read_bytes()
    end = [r for _, r in read_records(log)][-1]
    assert isinstance(end, End) and end.status == "finished" and "wandb" not in end.dropped
    out, err = capfd.readouterr()
    assert "wandb" not in (out + err).lower(), (out + err)[-2000:]


def test_a_resumed_run_keeps_one_run_id_and_its_steps_only_go_up():
    first = train_tiny("ppo", "--store.backend", "wandb", "--store.run-name", "again", "--train.checkpoint-freq", "128",
                       steps=256)
    second = train_tiny("ppo", "--store.backend", "wandb", "--store.run-name", "again", "--train.resume", steps=384)
    assert second.run.path == first.run.path
    files = read_wandb(second.run.path)
    assert len(files) == 2  # one offline run per process, which `wandb sync` uploads in order
    assert {of_type(records, "run")[0]["run_id"] for records in files} == {"again"}
    assert of_type(files[1], "run")[0]["resume"] is True
    history = [item for records in files for item in of_type(records, "history")]
    steps = [item["item"]["_step"] for item in history]
    assert steps == sorted(set(steps))  # strictly increasing across the resume: W&B drops no row
    assert_same_rows(stored_rows(history), rows_of_log(second.run.events_file))
    env_steps = [item["item"]["env_steps"] for item in history]
    assert env_steps[-1] == 384
    # The resumed process's config says what changed.
    assert of_type(files[1], "run")[0]["config"]["update"]["train"]["total_timesteps"] == 384
