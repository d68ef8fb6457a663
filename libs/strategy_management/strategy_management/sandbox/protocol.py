"""The pipe protocol between the runner (parent) and the sandbox child.

Each message is a 4-byte big-endian length + UTF-8 JSON header, followed by the frames the header announces,
each an 8-byte length + an Arrow IPC stream. Parent → child: `{"op", "source", "param_sets", "limits",
"python_guards", "landlock", "engine_config"?}` + the bars frame (+ the instruments frame). Child → parent:
the ready byte (`READY`) once it is confined and imported, then `{"ok": true, "result": {...}, "frames": n,
"pid", "waited_s"}` + n target frames (an event-driven strategy's: order streams), or `{"ok": false, "kind",
"message", "traceback", "field"?, "line"?, "column"?, "bar"?}`.
"""

from __future__ import annotations

import json
import struct
from typing import Any

MAX_HEADER_BYTES = 16 * 1024 * 1024
READY = b"R"  # the child's first byte on stdout: confined and imported, it waits for its request


class ProtocolError(ValueError):
    """The other side sent something that is not a valid message."""


def encode(header: dict[str, Any], frames: list[bytes]) -> bytes:
    body = json.dumps(header, ensure_ascii=False).encode()
    parts = [struct.pack(">I", len(body)), body]
    for frame in frames:
        parts += [struct.pack(">Q", len(frame)), frame]
    return b"".join(parts)


def decode(data: bytes, *, count_key: str = "frames") -> tuple[dict[str, Any], list[bytes]]:
    """Split a message into its header and frames, refusing truncated or oversized parts."""
    if len(data) < 4:
        raise ProtocolError("empty message")
    (size,) = struct.unpack(">I", data[:4])
    if size > MAX_HEADER_BYTES or 4 + size > len(data):
        raise ProtocolError("truncated header")
    try:
        header = json.loads(data[4 : 4 + size])
    except ValueError as exc:
        raise ProtocolError("header is not JSON") from exc
    if not isinstance(header, dict):
        raise ProtocolError("header is not an object")
    count = header.get(count_key, 0)
    if not isinstance(count, int) or count < 0:
        raise ProtocolError("bad frame count")
    frames, pos = [], 4 + size
    for _ in range(count):
        if pos + 8 > len(data):
            raise ProtocolError("truncated frame length")
        (length,) = struct.unpack(">Q", data[pos : pos + 8])
        pos += 8
        if pos + length > len(data):
            raise ProtocolError("truncated frame")
        frames.append(data[pos : pos + length])
        pos += length
    if pos != len(data):
        raise ProtocolError("trailing bytes after the message")
    return header, frames
