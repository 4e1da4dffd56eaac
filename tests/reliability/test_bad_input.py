"""Bad-input cases of SPEC §13 that no other module proves: a log of every kind of garbage is
reindexed with its complete records in and its bad lines counted, and an options file that is
not text is a usage error naming it."""

from __future__ import annotations

import json
from pathlib import Path

from rlops.cli.app import main
from rlops.events.schema import Episode, encode
from rlops.store.runs import RunStore
from tests.store.logs import synthetic_log


def test_a_log_of_every_kind_of_garbage_reindexes_its_complete_records_and_counts_the_rest(capsys):
    run_dir = Path("rlruns/garbage")
    run_dir.mkdir(parents=True)
    log = synthetic_log(run_dir / "train_log.jsonl", run_id="garbage", records=50)
    episode = Episode(run_id="garbage", trace_id="ab" * 16, seq=50, t=1050.0, env_steps=500, episode=0,
                      episode_return=3.0, length=3)
    with open(log, "ab") as handle:
        handle.write(b"\xff\xfe not utf-8 \x00\x01\n")  # invalid UTF-8 and NUL bytes
        handle.write(b'{"v": 1, "type": "metrics", "run_id": "garbage", "seq": 60, "env_steps": 1, "x": NaN}\n')
        handle.write(b'{"v": 1, "type": "metrics", "run_id": "garbage", "seq": 61, "env_steps": 1e999}\n')
        handle.write(b'{"type": "' + b"a" * (4 << 20) + b'"}\n')  # a 4 MB line
        handle.write(b"[1, 2, 3]\n{}\nnull\n")
        handle.write(encode(episode).encode() + b"\n")  # a good record after the garbage
        handle.write(b'{"v": 1, "type": "episode", "run_id": "garb')  # cut mid-line: waits for its end
    assert main(["runs", "reindex", "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert entry["run"] == "garbage" and entry["records"] == 51 and entry["bad_lines"] == 7
    with RunStore("rlruns/rlops.db") as store:
        run = store.get_run("garbage")
        assert run["episodes"] == 1 and run["ingested_seq"] == 50
        assert len(store.metric_series("garbage", "k0")) == 49
    assert b"\xff\xfe not utf-8" in log.read_bytes()  # the log itself is never rewritten


def test_an_options_file_that_is_not_text_is_a_usage_error_naming_it(capsys):
    bad = Path("bad.toml")
    bad.write_bytes(b"\x00\xff[train]\nlearning_rate = \xfe\n")
    assert main(["train", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.toml" in err and "Traceback" not in err
