"""The one reader of complete lines from a byte offset (store.lines): what the ingest, the streams,
the supervisor's follower and a worker's pipe all read a growing log with."""

from __future__ import annotations

from rlops.store.lines import LineBuffer, LineReader


def test_a_growing_file_is_read_by_complete_lines_and_goes_on_where_it_stopped(tmp_path):
    path = tmp_path / "log.jsonl"
    reader = LineReader(path)
    assert list(reader.lines()) == [] and reader.offset == 0  # not written yet
    path.write_bytes(b"one\ntw")
    assert list(reader.lines()) == [(4, b"one")]
    assert (reader.offset, reader.read_to) == (4, 6)  # the unended line is read, not returned
    with open(path, "ab") as handle:
        handle.write(b"o\nthree")
    assert list(reader.lines()) == [(8, b"two")]
    assert list(reader.lines()) == []  # "three" is still being written
    assert list(reader.lines(final=True)) == [(13, b"three")]  # the writer is done: it is a line
    # Another reader, in another process, goes on from the offset a first one kept.
    assert list(LineReader(path, 4).lines()) == [(8, b"two")]


def test_a_line_of_many_blocks_comes_whole_and_once(tmp_path, monkeypatch):
    monkeypatch.setattr("rlops.store.lines.READ_BLOCK", 7)
    path = tmp_path / "log.jsonl"
    long = b"x" * 50
    path.write_bytes(b"a\n" + long + b"\nb\n")
    assert [line for _, line in LineReader(path).lines()] == [b"a", long, b"b"]


def test_a_pipe_fed_in_blocks_gives_complete_lines_and_its_unended_rest():
    buffer = LineBuffer()
    assert buffer.feed(b"rec") == [] and buffer.held == 3
    assert buffer.feed(b"ord\nnext\n") == [b"record", b"next"] and buffer.held == 0
    assert buffer.feed(b"\n\ntail") == [b"", b""]
    assert buffer.rest() == b"tail" and buffer.rest() == b""
