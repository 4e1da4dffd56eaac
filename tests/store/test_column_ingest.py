"""The store's ingest takes metrics records by column (events.columns): it must store exactly what
decoding each line into a record does, and refuse exactly the lines that decoder refuses."""

from __future__ import annotations

import json
import sqlite3

from rlops.events.columns import MetricsColumns, _numbers, decode_lines
from rlops.events.schema import EventError, Metrics, decode
from rlops.store.ingest import ingest_log
from rlops.store.runs import RunStore

TRACE = "ab" * 16


def _line(number: int, **fields: object) -> str:
    data = {"v": 1, "type": "metrics", "run_id": "r1", "trace_id": TRACE, "seq": number, "t": 1000.0 + number,
            "env_steps": number * 10, "opt_steps": number, "wall_time_s": number / 10, "sps": 50.0,
            "loss": number / 3, "reward": number}
    data.update(fields)
    return json.dumps({key: value for key, value in data.items() if value is not ...})


# Each is refused by the schema for one reason; set among good lines of the same keys, the column
# check alone must refuse it.
REFUSED = ({"reward": True}, {"loss": "high"}, {"env_steps": -1}, {"opt_steps": None}, {"opt_steps": 1.5},
           {"seq": -3}, {"seq": 2.0}, {"trace_id": "XYZ"}, {"trace_id": 7}, {"run_id": ""}, {"run_id": 5}, {"v": 2},
           {"hist": list(range(65))}, {"hist": [1, 2.5]}, {"hist": [1, True]}, {"hist": "x"}, {"t": True},
           {"t": None}, {"sps": "fast"}, {"wall_time_s": [1]}, {"env_steps": ...}, {"loss": {"a": 1}})


def _tricky_log() -> list[str]:
    """Metrics runs of every shape beside other records, and lines each check must refuse."""
    lines = ['{"v":1,"type":"meta","run_id":"r1","trace_id":"%s","seq":0,"t":1000.0,"config":{"a":1}}' % TRACE]
    lines += [_line(seq) for seq in range(1, 40)]
    lines += [_line(40, loss="NaN").replace('"NaN"', "NaN")]  # not JSON
    lines += [_line(41, loss=1e999).replace("Infinity", "1e999")]  # JSON, but infinite once read
    seq = 42
    for fields in REFUSED:
        # the neighbours have the same keys: a good histogram, or the same key left out
        same = {key: ... if value is ... else [1, 2] for key, value in fields.items() if value is ... or key == "hist"}
        lines += [_line(seq, **same), _line(seq + 1, **fields), _line(seq + 2, **same)]
        lines += ['{"v":1,"type":"config","run_id":"r1","trace_id":"%s","seq":%d,"t":1.0,"config":{}}' % (TRACE, seq + 3)]
        seq += 4
    lines += [_line(seq, hist=[seq, 1, 2]) for seq in range(200, 210)]  # histograms in every record
    lines += [_line(seq, hist=seq) for seq in range(210, 213)] + [_line(213, hist=[1, 2])]  # mixed in one run
    lines += [_line(seq, opt_steps=..., sps=..., wall_time_s=...) for seq in range(214, 220)]  # defaults
    lines += ["", "   ", "not json", "[1, 2]", _line(220) + "\r", _line(221, extra_key=1.5, **{"return": 3.0})]
    lines += ['{"v":1,"type":"episode","run_id":"r1","trace_id":"%s","seq":222,"t":1.0,"episode":0,"return":2.0,'
              '"length":5,"env_steps":2215}' % TRACE]
    lines += [_line(seq) for seq in range(223, 230)] + [_line(seq) for seq in range(225, 235)]  # a copy overlapping
    lines += [_line(235, run_id="r2"), _line(236, run_id="r2"), _line(237), _line(238, v=1.0), _line(239, v=True)]
    lines += [_line(240, reward=2**70), _line(241, big=1e308), _line(242, big=1e308)]  # a sum that overflows
    lines += [_line(243, run_id=""), _line(244, run_id=""), _line(245, run_id=5), _line(246, run_id=5)]
    lines += [_line(247, a=1), _line(248, b=2), _line(249, b=3), _line(250, a=4.5), _line(251, a=5)]  # as many keys
    return lines


def _dump(db_path) -> dict:
    db = sqlite3.connect(db_path)
    out = {}
    for table, order in (("metric_chunks", "run_id, key, chunk"), ("metric_lists", "run_id, key, seq"),
                         ("episodes", "run_id, seq"), ("events", "run_id, seq")):
        out[table] = db.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
    out["runs"] = db.execute("SELECT run_id, env_steps, opt_steps, sps, episodes, last_return, ingested_seq, "
                             "ingested_bytes, bad_lines, status FROM runs ORDER BY run_id").fetchall()
    db.close()
    return out


def _one_by_one(store: RunStore, lines: list[str]) -> int:
    """The reference: each line decoded into a record, as before columns."""
    records, bad = [], 0
    for line in lines:
        if not line.strip():
            continue
        try:
            records.append(decode(line.rstrip("\r")))
        except EventError:
            bad += 1
    store.register_run("r1")
    store.ingest(records)
    return bad


def test_metrics_taken_by_column_are_stored_as_records_one_by_one_would_be(tmp_path):
    lines = _tricky_log()
    log = tmp_path / "train_log.jsonl"
    log.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    with RunStore(tmp_path / "columns.db") as store:
        result = ingest_log(store, log)
    with RunStore(tmp_path / "records.db") as store:
        bad = _one_by_one(store, lines)
        store.count_bad_lines("r1", bad)
        with store.connection:
            store.connection.execute("UPDATE runs SET ingested_bytes = ? WHERE run_id = 'r1'", (result.offset,))
    assert result.bad_lines == bad == 8 + len(REFUSED) + 2
    got, want = _dump(tmp_path / "columns.db"), _dump(tmp_path / "records.db")
    assert got["metric_chunks"] and got["metric_lists"]
    assert got == want


def test_each_line_refused_by_column_is_refused_by_the_record_decoder_too():
    lines = [line.encode() for line in _tricky_log()]
    decoded = decode_lines(lines)
    assert any(isinstance(item, MetricsColumns) and len(item) > 5 for item in decoded.items)
    expanded = []
    for item in decoded.items:
        if not isinstance(item, MetricsColumns):
            expanded.append(item)
            continue
        for i in range(len(item)):
            expanded.append(Metrics(run_id=item.run_id, trace_id=item.trace_id, seq=item.seq[i], t=item.t[i],
                                    env_steps=item.env_steps[i], opt_steps=item.opt_steps[i],
                                    wall_time_s=item.wall_time_s[i], sps=item.sps[i],
                                    values={key: column[i] for key, column in item.values.items()}))
    reference = []
    for line in lines:
        if line.strip():
            try:
                reference.append(decode(line.rstrip(b"\r")))
            except EventError:
                pass
    assert expanded == reference
    assert decoded.records == len(reference) and decoded.bad == 8 + len(REFUSED) + 2


def test_a_column_of_numbers_is_finite_only_when_each_is():
    # orjson refuses what would read as infinite, so this check guards the decoders that do not
    assert _numbers((1.0, 2, 1e308, 1e308))  # the sum overflows, each is finite
    assert not _numbers((1.0, float("inf"))) and not _numbers((float("nan"), 1.0))
