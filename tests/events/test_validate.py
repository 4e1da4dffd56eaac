"""``rlops log validate``: real logs pass; each way of breaking one is named, on its line, exit 1."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from rlops.cli.app import main
from rlops.events.validate import MAX_ANOMALIES, validate_log
from tests.helpers import train_tiny

Lines = list[bytes]  # a log's lines, each with its newline


@pytest.fixture(scope="module")
def real_log(tmp_path_factory) -> bytes:
    """The log of one tiny real run, made once; each test corrupts its own copy."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path_factory.mktemp("real"))
        result = train_tiny("ppo", steps=256)
        return (result.run.path / "train_log.jsonl").read_bytes()


def validate_json(path: Path, capsys) -> tuple[int, dict]:
    code = main(["log", "validate", str(path), "--json"])
    return code, json.loads(capsys.readouterr().out)


def found(summary: dict) -> list[tuple[int, str]]:
    return [(a["line"], a["kind"]) for a in summary["anomalies"]]


def test_a_real_run_log_is_valid(real_log, tmp_path, capsys):
    path = tmp_path / "train_log.jsonl"
    path.write_bytes(real_log)
    code, summary = validate_json(path, capsys)
    assert code == 0 and summary["ok"] is True and summary["anomalies"] == []
    lines = real_log.splitlines()
    assert summary["records"] == len(lines) == sum(summary["by_type"].values())
    assert summary["by_type"]["meta"] == 1 and summary["by_type"]["end"] == 1 and summary["by_type"]["metrics"] >= 1
    assert summary["first_seq"] == 0 and summary["last_seq"] == len(lines) - 1
    assert summary["last_env_steps"] == 256 and 0 < summary["first_env_steps"] <= 256
    assert summary["runs"] == [json.loads(lines[0])["run_id"]]


def test_a_run_directory_and_a_log_without_its_last_newline_are_accepted(real_log, tmp_path, capsys):
    (tmp_path / "train_log.jsonl").write_bytes(real_log.rstrip(b"\n"))
    assert main(["log", "validate", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{tmp_path / 'train_log.jsonl'}: ok: ")


def test_a_resumed_run_log_is_valid_and_holds_its_resume(tmp_path, capsys):
    first = train_tiny("ppo", "--store.run-name", "x", steps=256)
    train_tiny("ppo", "--store.run-name", "x", "--train.resume", steps=512)
    path = first.run.path / "train_log.jsonl"
    code, summary = validate_json(path, capsys)
    assert code == 0 and summary["anomalies"] == []
    assert summary["by_type"]["resume"] == 1 and summary["by_type"]["meta"] == 2 and summary["by_type"]["end"] == 2
    assert summary["last_env_steps"] == 512 and summary["runs"] == ["x"]

    # A resume resets the counters' baseline: a producer killed after its checkpoint (so that its
    # last records are ahead of the checkpoint it restarts from) still leaves a valid log.
    lines = path.read_bytes().splitlines(keepends=True)
    first_end = next(i for i, line in enumerate(lines) if b'"type":"end"' in line)
    lines[first_end] = re.sub(rb'"env_steps":\d+', b'"env_steps":100000', lines[first_end])
    path.write_bytes(b"".join(lines))
    assert validate_log(path).ok


def index_of(lines: Lines, kind: str, nth: int = 0) -> int:
    return [i for i, line in enumerate(lines) if f'"type":"{kind}"'.encode() in line][nth]


def insert(lines: Lines, at: int, line: bytes) -> tuple[Lines, int]:
    return lines[:at] + [line] + lines[at:], at + 1


def with_field(line: bytes, key: str, value: bytes) -> bytes:
    """The same record with one field's JSON text replaced (or removed when ``value`` is empty)."""
    pattern = rb',"%s":(\[[^\]]*\]|"[^"]*"|[^,}]*)' % key.encode()
    assert re.search(pattern, line), (key, line)
    return re.sub(pattern, b',"%s":%s' % (key.encode(), value) if value else b"", line, count=1)


def metrics_copy(lines: Lines, key: str, value: bytes) -> bytes:
    return with_field(lines[index_of(lines, "metrics")], key, value)


# Each builds a broken log from a valid one: (the lines, the 1-based line the anomaly is on).
# Broken copies are *inserted*, so the valid records keep their seq and only one anomaly is due.
Corruption = Callable[[Lines], tuple[Lines, int]]
BROKEN: dict[str, tuple[str, Corruption, str]] = {
    "garbage line": ("invalid_json", lambda ls: insert(ls, 3, b"this is not json\n"), "not JSON"),
    "invalid UTF-8": ("invalid_json", lambda ls: insert(ls, 2, ls[1].replace(b'"run_id":"', b'"run_id":"\xff\xfe')),
                      "not UTF-8: byte 0xff"),
    "an array": ("not_an_object", lambda ls: insert(ls, 1, b"[1, 2, 3]\n"), "not list"),
    "NaN": ("non_finite", lambda ls: insert(ls, 2, metrics_copy(ls, "reward_mean", b"NaN")), "reward_mean"),
    "-Infinity": ("non_finite", lambda ls: insert(ls, 4, metrics_copy(ls, "sps", b"-Infinity")), "sps"),
    "1e999": ("non_finite", lambda ls: insert(ls, 4, metrics_copy(ls, "done_rate", b"1e999")), "done_rate"),
    "missing trace_id": ("schema", lambda ls: insert(ls, 2, with_field(ls[1], "trace_id", b"")), "lacks 'trace_id'"),
    "missing return": ("schema", lambda ls: insert(ls, 3, with_field(ls[index_of(ls, "episode")], "return", b"")),
                       "episode record lacks 'return'"),
    "env_steps as a string": ("schema", lambda ls: insert(ls, 2, metrics_copy(ls, "env_steps", b'"256"')),
                              "metrics.env_steps has the wrong type"),
    "unknown type": ("schema", lambda ls: insert(ls, 2, ls[1].replace(b'"type":"', b'"type":"x')),
                     "unknown record type"),
    "schema version 2": ("schema", lambda ls: insert(ls, 2, ls[1].replace(b'"v":1', b'"v":2')), "schema version 2"),
    "10,000-item list": ("per_env_vector", lambda ls: insert(ls, 5, metrics_copy(ls, "action_hist",
                                                                                 b"[%s]" % b",".join([b"1"] * 10_000))),
                         "metrics.action_hist holds 10000 items"),
    "10 MB line": ("line_too_long", lambda ls: insert(ls, 2, b'{"pad":"%s"}\n' % (b"x" * 10_000_000)),
                   "a line of 10000010 bytes"),
    "seq gap": ("seq_gap", lambda ls: (ls[:3] + ls[4:], 4), "seq jumps from 2 to 4"),
    "seq backwards": ("seq_backwards", lambda ls: insert(ls, 3, ls[2]), "seq 2 after seq 2"),
    "env_steps backwards": ("counter_backwards", lambda ls: _lowered(ls, "env_steps"), "env_steps went from"),
    "opt_steps backwards": ("counter_backwards", lambda ls: _lowered(ls, "opt_steps"), "opt_steps went from"),
    "no meta first": ("missing_meta", lambda ls: (ls[1:], 1), "not meta"),
    "torn last line": ("torn_last_line", lambda ls: (ls[:-1] + [ls[-1][: len(ls[-1]) // 2]], len(ls)),
                       "train_log.torn"),
    "record after end": ("after_end", lambda ls: _after_end(ls), "after the run's end"),
    "empty file": ("empty_log", lambda ls: ([], 1), "no records"),
    "blank lines only": ("empty_log", lambda ls: ([b"\n", b"  \r\n"], 1), "no records"),
}


def _lowered(lines: Lines, counter: str) -> tuple[Lines, int]:
    at = index_of(lines, "metrics", -1)
    previous = json.loads(lines[index_of(lines, "metrics", -2)])[counter]
    assert previous > 0, "the tiny run should log two metrics records with growing counters"
    lines = list(lines)
    lines[at] = with_field(lines[at], counter, b"0")
    return lines, at + 1


def _after_end(lines: Lines) -> tuple[Lines, int]:
    end = json.loads(lines[-1])
    extra = {**json.loads(lines[index_of(lines, "metrics", -1)]), "seq": end["seq"] + 1, "env_steps": end["env_steps"]}
    return lines + [json.dumps(extra).encode() + b"\n"], len(lines) + 1


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_log_names_the_anomaly_and_its_line(case, real_log, tmp_path, capsys):
    kind, corrupt, message = BROKEN[case]
    lines, line = corrupt(real_log.splitlines(keepends=True))
    path = tmp_path / "train_log.jsonl"
    path.write_bytes(b"".join(lines))
    code, summary = validate_json(path, capsys)
    assert code == 1 and summary["ok"] is False
    assert found(summary) == [(line, kind)], summary["anomalies"]
    assert message in summary["anomalies"][0]["message"]


def test_the_human_summary_lists_each_anomaly_on_its_line(real_log, tmp_path, capsys):
    lines = real_log.splitlines(keepends=True)
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"".join(lines[:2] + [b"{oops\n"] + lines[2:] + [b'{"type":"end"}\n']))
    assert main(["log", "validate", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{path}: 2 anomalies: {len(lines)} records (meta 1, ")
    assert out[1].startswith("line 3: invalid_json: not JSON (Expecting property name")
    assert out[2] == "line %d: schema: unsupported schema version None (this rlops reads v1)" % (len(lines) + 2)


def test_a_garbage_file_gives_a_bounded_report(tmp_path, capsys):
    path = tmp_path / "garbage.jsonl"
    path.write_bytes(b"\x00\xff garbage\n" * (MAX_ANOMALIES + 500))
    code, summary = validate_json(path, capsys)
    assert code == 1 and summary["records"] == 0 and summary["lines"] == MAX_ANOMALIES + 500
    assert summary["anomaly_count"] == MAX_ANOMALIES + 500 and len(summary["anomalies"]) == MAX_ANOMALIES
    assert summary["anomalies"][-1]["line"] == MAX_ANOMALIES


def test_a_missing_file_is_a_usage_error(tmp_path, capsys):
    assert main(["log", "validate", str(tmp_path / "nope.jsonl")]) == 2
    assert main(["log", "validate", str(tmp_path)]) == 2  # a directory without a train_log.jsonl
    err = capsys.readouterr().err
    assert "no event log at" in err and "hint: give a train_log.jsonl" in err
