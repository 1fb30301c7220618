"""Clients' shared-memory regions on the backend side (Triton's system and CUDA shared-memory extensions; the
server's registry is src/serve/shm/registry.ts, the user guide docs/serve-shared-memory.md).

The server registers a region once (`shm-register`); the backend opens it once: a system region's file under
/dev/shm is mapped (only the registered span) and, where the driver allows, page-locked (cuMemHostRegister), so an
input's copy to the GPU and an output's copy back are true asynchronous DMA; a CUDA region's IPC handle is opened
(cudaIpcOpenMemHandle) and the memory wrapped as a torch uint8 tensor (via __cuda_array_interface__), so inputs are
copied device-to-device into the graph's static input (an FP32 -> FP16 conversion happens on the GPU) and outputs
device-to-device into the client's buffer. No tensor byte passes through the pipe or through Node.

Lifetime: an `infer` naming a region holds it (acquire, on the frame-reading thread, in frame order) until its
worker is done with it (release). `shm-unregister` closes a region at once when nothing holds it, else when the last
holder releases it — so a region unregistered while a request still uses it is never unmapped under that request.
The server gives each registration its own name (a client may register a name again while the old region drains).

Standard library only at import; torch and cuda-bindings are imported when a CUDA region is opened or a mapping is
page-locked (the openers can be replaced: gpu/tests/test_regions.py runs without a GPU).
"""

from __future__ import annotations

import base64
import mmap
import os
import threading
from typing import Callable

from .cuda import BackendError, check, driver

CUDA_IPC_HANDLE_BYTES = 64


class Region:
    """What every region has: a name (the server's id for the registration), a size, and its holders."""

    kind = "?"

    def __init__(self, name: str, nbytes: int):
        self.name = name
        self.nbytes = nbytes
        self.users = 0
        self.closing = False
        self.closed = False
        self._lock = threading.Lock()
        # (hotpath.HotPath, slot) once the native request path counts this region's requests as well
        self.native = None

    def check(self, offset, n, what: str) -> None:
        if not (isinstance(offset, int) and isinstance(n, int) and 0 <= offset and 0 <= n
                and offset + n <= self.nbytes):
            raise BackendError(f"{what} [{offset!r}, +{n!r}) is outside region {self.name!r} ({self.nbytes} bytes)")

    def acquire(self) -> None:
        with self._lock:
            if self.closing or self.closed:
                raise BackendError(f"region {self.name!r} is unregistered")
            self.users += 1

    def release(self) -> None:
        with self._lock:
            self.users -= 1
            last = self.users == 0 and self.closing
        if last and self._native_idle():
            self._close_once()

    def unregister(self) -> bool:
        """Closes it now if nothing holds it (True), else once the last holder releases it (False)."""
        with self._lock:
            self.closing = True
            idle = self.users == 0
        # the native path's count is marked closing in any case: it takes no new request from here on
        native_idle = self.native is None or self.native[0].close_region(self.native[1])
        if idle and native_idle:
            self._close_once()
        return idle and native_idle

    def native_drained(self) -> None:
        """The native path's last request of this closing region is done: closed if Python holds it no more."""
        with self._lock:
            last = self.closing and self.users == 0
        if last:
            self._close_once()

    def _native_idle(self) -> bool:
        return self.native is None or self.native[0].region_users(self.native[1]) == 0

    def _close_once(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
        self._close()
        if self.native is not None:
            self.native[0].free_region(self.native[1])

    def _close(self) -> None:
        raise NotImplementedError


class SystemRegion(Region):
    """`nbytes` at `offset` of a file under /dev/shm, mapped once; `host(offset, n)` is a writable view, in place."""

    kind = "system"

    def __init__(self, name: str, path: str, offset: int, nbytes: int,
                 pin: Callable[[mmap.mmap], Callable[[], None]] | None = None):
        super().__init__(name, nbytes)
        if not (isinstance(offset, int) and offset >= 0 and isinstance(nbytes, int) and nbytes > 0):
            raise BackendError(f"region {name!r}: offset {offset!r}, bytes {nbytes!r}")
        fd = os.open(path, os.O_RDWR)
        try:
            size = os.fstat(fd).st_size
            if offset + nbytes > size:
                raise BackendError(f"region {name!r}: {path} is {size} bytes; offset {offset} + {nbytes} bytes runs "
                                   f"past its end")
            base = offset - offset % mmap.ALLOCATIONGRANULARITY  # mmap offsets are page multiples
            self.mm = mmap.mmap(fd, offset + nbytes - base, offset=base)
        finally:
            os.close(fd)
        self.path = path
        self.view = memoryview(self.mm)[offset - base: offset - base + nbytes]
        self.unpin = None
        self.pin_note = None
        if pin is not None:
            try:
                self.unpin = pin(self.mm)
            except Exception as e:  # noqa: BLE001 - pageable memory still works, only slower: said, not fatal
                self.pin_note = f"not page-locked ({type(e).__name__}: {e}); copies go through pageable memory"

    def host(self, offset: int, n: int) -> memoryview:
        self.check(offset, n, "tensor")
        return self.view[offset: offset + n]

    def _close(self) -> None:
        if self.unpin is not None:
            self.unpin()  # before the unmap: the driver must not keep pages of a mapping that is gone
        try:
            self.view.release()
            self.mm.close()
        except BufferError:  # a view of it is still alive somewhere: the mapping goes with the last of them
            pass
        self.view = self.mm = None


class CudaRegion(Region):
    """A client's device buffer opened from its IPC handle; `device(offset, n)` is a uint8 tensor view of it."""

    kind = "cuda"

    def __init__(self, name: str, raw_handle: bytes, device_id: int, nbytes: int,
                 opener: Callable[[bytes, int, int], tuple[object, Callable[[], None]]] | None = None):
        super().__init__(name, nbytes)
        if not isinstance(raw_handle, bytes) or len(raw_handle) != CUDA_IPC_HANDLE_BYTES:
            raise BackendError(f"region {name!r}: the IPC handle must be {CUDA_IPC_HANDLE_BYTES} bytes")
        if not isinstance(device_id, int) or device_id < 0:
            raise BackendError(f"region {name!r}: device id {device_id!r}")
        self.device_id = device_id
        self.tensor, self._closer = (opener or open_cuda_ipc)(raw_handle, device_id, nbytes)

    def device(self, offset: int, n: int):
        self.check(offset, n, "tensor")
        return self.tensor[offset: offset + n]

    def _close(self) -> None:
        self.tensor = None
        self._closer()


def open_region(msg: dict, pin=None, cuda_opener=None) -> Region:
    """A region from a `shm-register` message: {name, kind: system|cuda, key+offset (system: path, the file the
    server checked), rawHandle (base64) + deviceId (cuda), bytes}."""
    name, kind, nbytes = msg.get("name"), msg.get("kind"), msg.get("bytes")
    if not isinstance(name, str) or not name:
        raise BackendError("shm-register: no region name")
    if kind == "system":
        path = msg.get("path")
        if not isinstance(path, str):
            raise BackendError(f"region {name!r}: no path")
        return SystemRegion(name, path, msg.get("offset", 0), nbytes, pin=pin)
    if kind == "cuda":
        try:
            raw = base64.b64decode(msg.get("rawHandle") or "", validate=True)
        except ValueError as e:
            raise BackendError(f"region {name!r}: the raw handle is not base64: {e}") from None
        return CudaRegion(name, raw, msg.get("deviceId"), nbytes, opener=cuda_opener)
    raise BackendError(f"region {name!r}: unknown kind {kind!r} (system or cuda)")


def pin_mapping(mm: mmap.mmap) -> Callable[[], None]:
    """Page-locks a mapping with the driver (every context of the process: PORTABLE); returns the undo."""
    import ctypes  # noqa: PLC0415

    d = driver()
    holder = ctypes.c_char.from_buffer(mm)
    addr = ctypes.addressof(holder)
    del holder  # the address is all the driver needs; the export would keep mm from closing
    check(d.cuMemHostRegister(addr, len(mm), d.CU_MEMHOSTREGISTER_PORTABLE), f"cuMemHostRegister({len(mm)} bytes)")
    return lambda: check(d.cuMemHostUnregister(addr), "cuMemHostUnregister")


class _DeviceArray:
    """Just enough of __cuda_array_interface__ for torch.as_tensor to view device memory it does not own."""

    def __init__(self, ptr: int, nbytes: int):
        self.__cuda_array_interface__ = {"shape": (nbytes,), "typestr": "|u1", "data": (ptr, False), "version": 3}


def open_cuda_ipc(raw: bytes, device_id: int, nbytes: int):
    """Opens a client's cudaIpcMemHandle_t on `device_id` (an ordinal of this process); checks the allocation holds
    `nbytes`; returns (uint8 tensor over it, close)."""
    import ctypes  # noqa: PLC0415

    import torch  # noqa: PLC0415
    from cuda.bindings import runtime as cudart  # noqa: PLC0415

    def rt(result, what):
        err = result[0]
        if int(err) != 0:
            cudart.cudaGetLastError()  # not sticky: cleared, or torch's next launch check would report it
            raise BackendError(f"{what} failed: {cudart.cudaGetErrorName(err)[1].decode()}")
        return result[1] if len(result) > 1 else None

    if device_id >= torch.cuda.device_count():
        raise BackendError(f"device {device_id}: the backend sees {torch.cuda.device_count()} GPU(s)")
    handle = cudart.cudaIpcMemHandle_t()
    ctypes.memmove(handle.getPtr(), raw, CUDA_IPC_HANDLE_BYTES)
    with torch.cuda.device(device_id):
        ptr = int(rt(cudart.cudaIpcOpenMemHandle(handle, cudart.cudaIpcMemLazyEnablePeerAccess),
                     "cudaIpcOpenMemHandle"))
        try:
            base, size = check(driver().cuMemGetAddressRange(ptr), "cuMemGetAddressRange")
            room = int(base) + int(size) - ptr
            if nbytes > room:
                raise BackendError(f"the client's allocation holds {room} bytes, the region {nbytes}")
            tensor = torch.as_tensor(_DeviceArray(ptr, nbytes), device=f"cuda:{device_id}")
        except Exception:
            cudart.cudaIpcCloseMemHandle(ptr)
            raise

    def close():
        with torch.cuda.device(device_id):
            torch.cuda.synchronize()  # nothing of ours may still read or write it
            rt(cudart.cudaIpcCloseMemHandle(ptr), "cudaIpcCloseMemHandle")

    return tensor, close
