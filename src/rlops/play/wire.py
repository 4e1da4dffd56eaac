"""The session's socket protocol: each message is a 4-byte big-endian length, one kind byte and
the payload, so a JPEG frame and a JSON control message travel on one stream unambiguously.

The socket is a Unix socket in the run directory (owner-only): nothing but the dashboard's relay,
running as the same user, can drive a session.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

JSON, JPEG = 0, 1
HEADER = struct.Struct(">IB")
MAX_MESSAGE = 1 << 24  # 16 MiB: far beyond any frame or control message; a longer one is a broken peer


def pack(kind: int, payload: bytes) -> bytes:
    return HEADER.pack(len(payload), kind) + payload


def pack_json(message: dict[str, Any]) -> bytes:
    return pack(JSON, json.dumps(message, separators=(",", ":")).encode())


async def read_message(reader: asyncio.StreamReader) -> tuple[int, bytes] | None:
    """The next (kind, payload), or None when the peer has closed."""
    try:
        size, kind = HEADER.unpack(await reader.readexactly(HEADER.size))
        if size > MAX_MESSAGE:
            return None
        return kind, await reader.readexactly(size)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
