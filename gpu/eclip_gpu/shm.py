"""Shared-memory rings: the Python side of src/serve/shm-ring.ts (standard library only, no torch).

The server creates one file per served worker in /dev/shm and names it in `load` ({name: {path, bytes}}); the
backend maps it, reserves its pages (a full tmpfs fails here, at load, not as a SIGBUS in the middle of a request)
and unlinks it. An `infer` then says where its input lies in the ring (`shm.offset`, `shm.bytes`) and where the
output may go (`shm.outOffset`, `shm.outBytes`); the reply says where the output was put. The server gives a span
back only after its reply, so nothing here has to lock: a span belongs to its one request until it is answered.
"""

from __future__ import annotations

import errno
import mmap
import os

from .frames import bytes_view


class Ring:
    def __init__(self, path: str, nbytes: int):
        if not isinstance(nbytes, int) or nbytes <= 0:
            raise ValueError(f"{path}: ring size {nbytes!r}")
        fd = os.open(path, os.O_RDWR)
        try:
            size = os.fstat(fd).st_size
            if size < nbytes:
                raise ValueError(f"{path} is {size} bytes, the ring {nbytes}")
            try:
                os.posix_fallocate(fd, 0, nbytes)
            except OSError as e:
                if e.errno == errno.ENOSPC:
                    raise
                # a file system without fallocate: the pages come on first touch
            self.mm = mmap.mmap(fd, nbytes)
        finally:
            os.close(fd)
        self.path = path
        self.nbytes = nbytes
        self.view = memoryview(self.mm)
        self.unpin = None  # set where the backend page-locked the mapping (Serving.attach_rings)

    def _check(self, offset, n, what: str) -> None:
        if not (isinstance(offset, int) and isinstance(n, int) and 0 <= offset and 0 <= n
                and offset + n <= self.nbytes):
            raise ValueError(f"{what} [{offset!r}, +{n!r}) is outside the ring ({self.nbytes} bytes)")

    def input(self, shm: dict) -> memoryview:
        """The request's input, in place (valid until the request is answered)."""
        self._check(shm.get("offset"), shm.get("bytes"), "input")
        return self.view[shm["offset"]: shm["offset"] + shm["bytes"]]

    def output_room(self, shm: dict, nbytes: int) -> tuple[memoryview, dict] | None:
        """Where an output of `nbytes` goes in the request's output room, written there in place (by a copy from the
        GPU): (the span, the reply's `shm`), or None if it does not fit."""
        offset, room = shm.get("outOffset"), shm.get("outBytes")
        self._check(offset, room, "output room")
        if nbytes > room:
            return None
        return self.view[offset: offset + nbytes], {"offset": offset, "bytes": nbytes}

    def put_output(self, shm: dict, data) -> dict | None:
        """Copies `data` into the request's output room; returns the reply's `shm`, or None if it does not fit."""
        src = bytes_view(data)
        offset, room = shm.get("outOffset"), shm.get("outBytes")
        self._check(offset, room, "output room")
        if src.nbytes > room:
            return None
        self.view[offset: offset + src.nbytes] = src
        return {"offset": offset, "bytes": src.nbytes}

    def close(self) -> None:
        if self.unpin is not None:
            self.unpin()  # before the unmap: the driver must not keep pages of a mapping that is gone
            self.unpin = None
        try:
            self.view.release()
            self.mm.close()
        except BufferError:  # a request's view still exists (shutdown while serving): the process is ending anyway
            pass


def attach(specs: dict | None) -> tuple[dict[str, Ring], dict[str, object]]:
    """Maps every ring of a `load` and unlinks its file; returns the rings and, per name, True or why not."""
    rings: dict[str, Ring] = {}
    status: dict[str, object] = {}
    for name, spec in (specs or {}).items():
        path = spec.get("path") if isinstance(spec, dict) else None
        try:
            rings[name] = Ring(path, spec.get("bytes"))
            status[name] = True
        except (OSError, ValueError, TypeError) as e:
            status[name] = f"{type(e).__name__}: {e}"
        finally:
            if isinstance(path, str):
                try:
                    os.unlink(path)
                except OSError:
                    pass
    return rings, status
