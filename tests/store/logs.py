"""Synthetic schema-v1 logs, importable without torch (subprocess writers use them)."""

from __future__ import annotations

from pathlib import Path

from rlops.events.schema import Meta, Metrics, encode


def synthetic_log(path: Path, run_id: str = "r1", records: int = 100, keys: int = 3, start_seq: int = 0) -> Path:
    trace = "ab" * 16
    lines = []
    for seq in range(start_seq, start_seq + records):
        if seq == 0:
            record = Meta(config={"env": {"env_id": "Toy-v0"}, "agent": {"algorithm": "ppo"}}, seed=1)
        else:
            record = Metrics(env_steps=seq * 10, opt_steps=seq, wall_time_s=seq / 10, sps=100.0,
                             values={f"k{k}": seq + k / 10 for k in range(keys)})
        record.run_id, record.trace_id, record.seq, record.t = run_id, trace, seq, 1000.0 + seq
        lines.append(encode(record) + "\n")
    with open(path, "a", encoding="utf-8") as handle:
        handle.writelines(lines)
    return path
