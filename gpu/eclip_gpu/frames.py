"""Frames of the TypeScript <-> GPU backend boundary (the TS side is src/execute/gpu/frames.ts); standard library only,
and nothing of this package, so every module may import it.

Frames travel on dedicated pipes (fd 3: TS -> Python, fd 4: Python -> TS), never stdout, so a stray print cannot corrupt
the stream: [u32 total length][u32 header length][JSON header][raw bytes], little-endian; total = 4 + header + body.
The headers' messages: protocol.py (their schemas: schemas/backend-protocol.schema.json).

Several frames per system call both ways, never waiting for more: FrameReader reads whatever has arrived (the TS side
writes the frames written together in one write) and hands the frames out one by one; `send` from several
threads writes the frames queued meanwhile in one writev (the thread that finds the pipe busy leaves its frame to the
one writing). A read or write releases the GIL, and getting it back costs more than the call itself while other
threads run Python, so fewer calls is fewer waits.
"""

from __future__ import annotations

import json
import os
import select
import struct
import threading
import time

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


class FrameReader:
    """Frames from `fd`, as many per read as have arrived. Small frames are cut out of one read buffer (each header
    parsed, each body copied into a buffer of its own: writable, valid after the next read); a frame larger than the
    buffer is read into its own buffer, as read_frame does."""

    def __init__(self, fd: int = IN_FD, size: int = 1 << 16, spin_s: float = 0.0):
        self.fd = fd
        # how long a read with nothing buffered polls the pipe before it sleeps in the kernel: a reader that is awake
        # when the next frame comes spares its writer the wake-up (in a virtual machine an interrupt to another CPU,
        # tens of µs of the writer's time per frame); 0: sleep at once
        self.spin_s = spin_s
        self.buf = bytearray(size)
        self.view = memoryview(self.buf)
        self.start = self.end = 0  # the bytes read and not yet handed out: buf[start:end]

    def buffered(self) -> bool:
        """True when a whole frame is buffered: `next()` will not read."""
        have = self.end - self.start
        if have < 4:
            return False
        (total,) = struct.unpack_from("<I", self.buf, self.start)
        return have >= 4 + total

    def next(self) -> tuple[dict, memoryview]:
        """The next frame, reading only when none is buffered; EOFError at the end of the stream (a frame cut short
        included)."""
        while self.end - self.start < 4:
            self._fill()
        (total,) = struct.unpack_from("<I", self.buf, self.start)
        if 4 + total > len(self.buf):
            return self._large(total)
        while self.end - self.start < 4 + total:
            self._fill()
        at = self.start + 4
        self.start = at + total
        (hlen,) = struct.unpack_from("<I", self.buf, at)
        header = json.loads(self.buf[at + 4 : at + 4 + hlen])
        nbody = total - 4 - hlen
        body = memoryview(bytearray(self.view[at + 4 + hlen : self.start])) if nbody else memoryview(b"")
        return header, body

    def _large(self, total: int) -> tuple[dict, memoryview]:
        data = bytearray(total)
        have = min(self.end - self.start - 4, total)
        data[:have] = self.view[self.start + 4 : self.start + 4 + have]
        self.start += 4 + have
        _read_into(self.fd, memoryview(data)[have:])
        (hlen,) = struct.unpack_from("<I", data, 0)
        return json.loads(data[4 : 4 + hlen]), memoryview(data)[4 + hlen :]

    def _fill(self) -> None:
        """Reads what has arrived (at least one byte) after the buffered bytes, moved to the buffer's start first."""
        if self.start == self.end:
            self.start = self.end = 0
        elif self.end == len(self.buf):
            n = self.end - self.start
            self.buf[:n] = self.view[self.start : self.end]
            self.start, self.end = 0, n
        if self.spin_s > 0:
            self._spin()
        got = os.readv(self.fd, [self.view[self.end :]])
        if not got:
            raise EOFError
        self.end += got

    def _spin(self) -> None:
        """Polls the pipe until something can be read or spin_s has passed."""
        deadline = time.perf_counter() + self.spin_s
        fds = [self.fd]
        while not select.select(fds, (), (), 0)[0]:
            if time.perf_counter() > deadline:
                return


class _Out:
    """One fd's frames queued while another thread writes (its writer drains them)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.done = threading.Condition(self.lock)
        self.pending: list = []
        self.writing = False


_OUTS: dict[int, _Out] = {}
_OUTS_LOCK = threading.Lock()


def _out(fd: int) -> _Out:
    out = _OUTS.get(fd)
    if out is None:
        with _OUTS_LOCK:
            out = _OUTS.setdefault(fd, _Out())
    return out


def bytes_view(data) -> memoryview:
    """A flat byte view of any bytes-like object (a strided one is copied): frame bodies, and shm.py's outputs."""
    v = memoryview(data)
    return v.cast("B") if v.c_contiguous else memoryview(v.tobytes())


_IOV_MAX = 512  # buffers per writev (the system's limit is at least 1024)


def _write_all(fd: int, parts: list) -> None:
    views = [bytes_view(p) for p in parts]
    while views:
        n = os.writev(fd, views[:_IOV_MAX])
        while views and n >= len(views[0]):
            n -= len(views[0])
            views.pop(0)
        if views and n:
            views[0] = views[0][n:]


# A writer that takes one whole frame (bytes) for OUT_FD instead of this module's queue: the native request path
# (hotpath.py), which writes its own replies on that pipe too and keeps every frame whole.
_WRITER = None


def use_writer(write) -> None:
    """From now on the frames for OUT_FD go through `write(frame_bytes)` (None: this module's own writes again)."""
    global _WRITER
    flush()
    _WRITER = write


def send(header: dict, body: bytes = b"", fd: int = OUT_FD) -> None:
    """Sends one whole frame: its head, then the body as it is (not copied into a frame first). Serving's worker
    threads reply concurrently: frames queue in order and never interleave. A thread that finds another one writing
    queues its frame and returns (the writer writes it, with every other queued meanwhile, in its next writev: the
    body must not change after the call); otherwise it writes, then whatever was queued meanwhile, until none is
    left. A write that fails raises in the thread writing (the frames it had taken are lost with the pipe)."""
    parts = _frame_parts(header, body)
    if _WRITER is not None and fd == OUT_FD:
        _WRITER(b"".join(bytes_view(p) for p in parts))
        return
    out = _out(fd)
    with out.lock:
        out.pending.extend(parts)
        if out.writing:
            return
        out.writing = True
    try:
        while True:
            with out.lock:
                parts, out.pending = out.pending, []
                if not parts:
                    out.writing = False
                    out.done.notify_all()
                    return
            _write_all(fd, parts)
    except BaseException:
        with out.lock:
            out.writing = False
            out.done.notify_all()
        raise


def flush(fd: int = OUT_FD, timeout: float = 5.0) -> None:
    """Waits until the frames queued on `fd` are written (before the process exits on a fatal error)."""
    out = _out(fd)
    with out.lock:
        out.done.wait_for(lambda: not out.writing, timeout)
