"""TFRecord framing, as TensorBoard's event files use it: 8-byte length, its masked CRC-32C, the
data, its masked CRC-32C. Parsed here rather than with TensorBoard's loaders, which keep a file
handle open per file, import the whole TensorFlow stub, and retry a corrupt record forever instead
of stepping past it.
"""

from __future__ import annotations

import struct

HEADER = struct.Struct("<QI")  # length, masked CRC of the length
FOOTER_SIZE = 4  # masked CRC of the data


def _crc32c_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE = _crc32c_table()


def masked_crc32c(data: bytes) -> int:
    """TFRecord's checksum: CRC-32C (Castagnoli, not zlib's CRC-32), rotated and offset by a constant."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def split_records(buffer: bytes) -> tuple[list[bytes], int, int]:
    """The complete records at the start of ``buffer``, the bytes they used, and the corrupt bytes skipped.

    An incomplete record at the end is left unconsumed: the writer may not have finished it yet. A record
    whose checksums fail is corruption, not a write in progress, so we step one byte at a time until a
    valid record starts again rather than stalling there for good.
    """
    records: list[bytes] = []
    position = corrupt = 0
    while len(buffer) - position >= HEADER.size:
        length, length_crc = HEADER.unpack_from(buffer, position)
        start = position + HEADER.size
        if masked_crc32c(buffer[position:position + 8]) != length_crc:
            position, corrupt = position + 1, corrupt + 1
            continue
        end = start + length
        if len(buffer) < end + FOOTER_SIZE:
            break
        data = buffer[start:end]
        if masked_crc32c(data) != struct.unpack_from("<I", buffer, end)[0]:
            position, corrupt = position + 1, corrupt + 1
            continue
        records.append(data)
        position = end + FOOTER_SIZE
    return records, position, corrupt
