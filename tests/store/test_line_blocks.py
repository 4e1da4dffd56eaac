"""LineReader.blocks: complete lines a read block at a time, with the offset after the last one."""

from __future__ import annotations

from rlops.store import lines
from rlops.store.lines import LineReader


def test_blocks_give_complete_lines_and_leave_an_unended_one_for_the_next_read(tmp_path, monkeypatch):
    monkeypatch.setattr(lines, "READ_BLOCK", 4)
    path = tmp_path / "log"
    path.write_bytes(b"one\ntwo\nthr")
    reader = LineReader(path)
    got = list(reader.blocks())
    assert [line for _, block in got for line in block] == [b"one", b"two"]
    assert got[-1][0] == reader.offset == 8
    with open(path, "ab") as handle:
        handle.write(b"ee\nfour\n")
    assert [(end, block) for end, block in reader.blocks()] == [(14, [b"three"]), (19, [b"four"])]
