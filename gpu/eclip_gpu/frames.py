"""Frames of the TypeScript <-> GPU backend boundary (the TS side is src/execute/gpu/frames.ts); standard library only,
and nothing of this package, so every module may import it.

Frames travel on dedicated pipes (fd 3: TS -> Python, fd 4: Python -> TS), never stdout, so a stray print cannot corrupt
the stream: [u32 total length][u32 header length][JSON header][raw bytes], little-endian; total = 4 + header + body.
The headers' messages: protocol.py (their schemas: schemas/backend-protocol.schema.json).
"""

from __future__ import annotations

import json
import os
import struct
import threading

IN_FD, OUT_FD = 3, 4


def encode(header: dict, body: bytes = b"") -> bytes:
    return b"".join(_frame_parts(header, body))


def _frame_parts(header: dict, body=b"") -> list:
    h = json.dumps(header, separators=(",", ":")).encode()
    n = memoryview(body).nbytes
    return [struct.pack("<II", 4 + len(h) + n, len(h)) + h, body] if n else [struct.pack("<II", 4 + len(h), len(h)) + h]


def _read_exact(fd: int, n: int) -> bytes:
    chunks = []
    while n:
        b = os.read(fd, n)
        if not b:
            raise EOFError
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)


def _read_into(fd: int, view: memoryview) -> None:
    while view:
        n = os.readv(fd, [view])
        if not n:
            raise EOFError
        view = view[n:]


def read_frame(fd: int = IN_FD) -> tuple[dict, memoryview]:
    """One frame; the body is a view of the frame's one buffer (read in place, never copied; writable)."""
    (total,) = struct.unpack("<I", _read_exact(fd, 4))
    data = bytearray(total)
    _read_into(fd, memoryview(data))
    (hlen,) = struct.unpack_from("<I", data, 0)
    return json.loads(data[4 : 4 + hlen]), memoryview(data)[4 + hlen :]


_SEND_LOCK = threading.Lock()


def bytes_view(data) -> memoryview:
    """A flat byte view of any bytes-like object (a strided one is copied): frame bodies, and shm.py's outputs."""
    v = memoryview(data)
    return v.cast("B") if v.c_contiguous else memoryview(v.tobytes())


def _write_all(fd: int, parts: list) -> None:
    views = [bytes_view(p) for p in parts]
    while views:
        n = os.writev(fd, views)
        while views and n >= len(views[0]):
            n -= len(views[0])
            views.pop(0)
        if views and n:
            views[0] = views[0][n:]


def send(header: dict, body: bytes = b"", fd: int = OUT_FD) -> None:
    """Writes one whole frame: its head, then the body as it is (one writev, not copied into a frame first).
    Serving's worker threads reply concurrently: the lock keeps frames from interleaving."""
    parts = _frame_parts(header, body)
    with _SEND_LOCK:
        _write_all(fd, parts)
