"""The serving hot path's asynchronous driver calls, through ctypes with the GIL held.

cuda-bindings releases the GIL around every driver call. That is right for calls that wait (an event synchronize),
wrong for the ones that only enqueue work and return in a microsecond or two (copies, memsets, event records, graph
launches): in a backend whose threads all want the GIL, every release hands it to another thread and the caller
then waits to get it back, so each tiny call costs a GIL handoff. These go through `ctypes.PyDLL` instead, which
keeps the GIL across the call; waits stay with cuda-bindings. Same library (libcuda, already loaded by torch and the
bindings), same process-wide driver state, same handles (plain addresses).
"""

from __future__ import annotations

import ctypes
from functools import lru_cache

from .cuda import BackendError, check


class FastCu:
    """Typed entry points of libcuda for the request path; each returns None or raises BackendError."""

    def __init__(self, lib=None):
        try:
            cu = lib or ctypes.PyDLL("libcuda.so.1")
        except OSError as e:
            raise BackendError(f"cannot load libcuda.so.1 for the serving path: {e}") from None
        u64, size, ptr = ctypes.c_uint64, ctypes.c_size_t, ctypes.c_void_p

        def fn(names, argtypes):
            for name in names:
                f = getattr(cu, name, None)
                if f is not None:
                    f.restype, f.argtypes = ctypes.c_int, argtypes
                    return f
            raise BackendError(f"libcuda has none of {names}")

        self._htod = fn(["cuMemcpyHtoDAsync_v2"], [u64, ptr, size, ptr])
        self._dtoh = fn(["cuMemcpyDtoHAsync_v2"], [ptr, u64, size, ptr])
        self._dtod = fn(["cuMemcpyDtoDAsync_v2"], [u64, u64, size, ptr])
        self._memset = fn(["cuMemsetD8Async"], [u64, ctypes.c_ubyte, size, ptr])
        self._record = fn(["cuEventRecord"], [ptr, ptr])
        self._launch = fn(["cuGraphLaunch"], [ptr, ptr])
        self._elapsed = fn(["cuEventElapsedTime_v2", "cuEventElapsedTime"], [ctypes.POINTER(ctypes.c_float), ptr, ptr])

    @staticmethod
    def _ok(err: int, what: str) -> None:
        if err:
            check((err,), what)  # names the CUDA error (cuda-bindings)

    def htod(self, dst: int, src: int, n: int, stream: int) -> None:
        self._ok(self._htod(dst, src, n, stream), "cuMemcpyHtoDAsync")

    def dtoh(self, dst: int, src: int, n: int, stream: int) -> None:
        self._ok(self._dtoh(dst, src, n, stream), "cuMemcpyDtoHAsync")

    def dtod(self, dst: int, src: int, n: int, stream: int) -> None:
        self._ok(self._dtod(dst, src, n, stream), "cuMemcpyDtoDAsync")

    def memset8(self, dst: int, value: int, n: int, stream: int) -> None:
        self._ok(self._memset(dst, value, n, stream), "cuMemsetD8Async")

    def record(self, event: int, stream: int) -> None:
        self._ok(self._record(event, stream), "cuEventRecord")

    def launch(self, graph_exec: int, stream: int) -> None:
        self._ok(self._launch(graph_exec, stream), "cuGraphLaunch")

    def elapsed_ms(self, start: int, end: int) -> float:
        """Milliseconds between two completed events."""
        ms = ctypes.c_float()
        self._ok(self._elapsed(ctypes.byref(ms), start, end), "cuEventElapsedTime")
        return ms.value


@lru_cache(maxsize=1)
def fastcu() -> FastCu:
    return FastCu()
