"""Complete lines from a byte offset: the one reader of a growing log (the ingest, the record and
log-text streams, the supervisor's follower, a worker's pipe).

A line is complete when its newline is written; the rest (a line still being written, or torn by a
kill) waits for the next read, so a reader never acts on half a record, and the offset it keeps
(the byte after its last complete line) is where any later reader, in any process, goes on. Lines
come without their newline.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

READ_BLOCK = 1 << 20


class LineBuffer:
    """Blocks in, complete lines out. The pieces of an unended line are kept as a list, so a line
    of many blocks (a 10 MB record) is joined once, when its newline comes."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.held = 0  # bytes of the unended line

    def feed(self, block: bytes) -> list[bytes]:
        if b"\n" not in block:
            self.pieces.append(block)
            self.held += len(block)
            return []
        lines = block.split(b"\n")
        lines[0] = b"".join(self.pieces) + lines[0]
        rest = lines.pop()
        self.pieces, self.held = [rest] if rest else [], len(rest)
        return lines

    def rest(self) -> bytes:
        """The unended last line, taken out (the writer is done: it is a line all the same)."""
        rest = b"".join(self.pieces)
        self.pieces, self.held = [], 0
        return rest


class LineReader:
    """The complete lines of the file at ``path`` after byte ``offset``, read as it grows: each call
    of ``lines`` goes on where the last one stopped (an unended line is not read again)."""

    def __init__(self, path: str | Path, offset: int = 0) -> None:
        self.path = Path(path)
        self.offset = offset  # the byte after the last complete line returned
        self.buffer = LineBuffer()

    @property
    def read_to(self) -> int:
        """The bytes of the file read so far, an unended line's included."""
        return self.offset + self.buffer.held

    def lines(self, final: bool = False) -> Iterator[tuple[int, bytes]]:
        """``(offset after the line, line)`` for each complete line written since the last call; a
        missing file has none yet. ``final``: the writer is done, so an unended last line is
        returned too."""
        for fed in self._fed():
            for line in fed:
                self.offset += len(line) + 1
                yield self.offset, line
        if final and self.buffer.held:
            rest = self.buffer.rest()
            self.offset += len(rest)
            yield self.offset, rest

    def blocks(self) -> Iterator[tuple[int, list[bytes]]]:
        """``lines`` a read block at a time: ``(offset after the block's last complete line, its
        complete lines)``, for a reader that handles thousands of lines a block (the store's ingest)."""
        for lines in self._fed():
            if lines:
                self.offset += sum(map(len, lines)) + len(lines)
                yield self.offset, lines

    def _fed(self) -> Iterator[list[bytes]]:
        """The complete lines of each block read from where the last read stopped (none for a
        missing file); a block is read only once the previous one's lines were taken."""
        try:
            handle = open(self.path, "rb")
        except FileNotFoundError:
            return
        with handle:
            handle.seek(self.offset + self.buffer.held)
            while block := handle.read(READ_BLOCK):
                yield self.buffer.feed(block)
