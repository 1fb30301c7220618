"""Thin, checked access to the CUDA driver API (cuda-bindings) and version facts.

Every driver call goes through `check`, so a failure names the call and the CUDA error instead of returning a tuple
with a silent error code. A CUDA error that poisons the context (illegal address, launch failure) is fatal: the caller
must let the process die (docs/design.md §8), never retry in-process.
"""

from __future__ import annotations

import math
import os
import platform
from functools import lru_cache

# Green contexts need driver API 12.4+; torch's own GreenContext wrapper splits the whole device on every call, so
# two contexts overlap (docs/design.md §7) — we drive the driver API directly instead.
MIN_DRIVER_VERSION = 12040
MIN_BINDINGS = "cuda-bindings>=12.4 (the `cuda.bindings.driver` module)"


class BackendError(RuntimeError):
    """A problem the user can act on (no GPU, old driver, bad partition): reported as one clear line."""


FATAL_MARKERS = ("illegal memory access", "launch failure", "unspecified launch", "CUDA_ERROR_ILLEGAL", "misaligned",
                 "GPU work is stuck")


def is_fatal(text: str) -> bool:
    """An error that poisons the CUDA context (docs/design.md §8): the process must die and be restarted."""
    return any(m in text for m in FATAL_MARKERS)


def stream_mem_op(d, name: str):
    """A stream memory operation (cuStreamWaitValue32, cuStreamWriteValue32, …) of driver module `d`, under the name
    these bindings give it (plain, or the _v2 the CUDA headers map it to)."""
    return getattr(d, name, None) or getattr(d, f"{name}_v2")


@lru_cache(maxsize=1)
def driver():
    try:
        from cuda.bindings import driver as d  # noqa: PLC0415 - optional dependency, only on GPU machines
    except ImportError as e:
        raise BackendError(f"eclip's GPU backend needs {MIN_BINDINGS}: {e}") from None
    for fn in ("cuGreenCtxCreate", "cuDevSmResourceSplitByCount", "cuGreenCtxStreamCreate"):
        if not hasattr(d, fn):
            raise BackendError(f"cuda-bindings lacks {fn}: green contexts need {MIN_BINDINGS}")
    return d


def check(result, what: str = "CUDA driver call"):
    """Unpacks a cuda-bindings result tuple (err, *values), raising on any error."""
    d = driver()
    err = result[0] if isinstance(result, tuple) else result
    if int(err) != 0:
        _, name = d.cuGetErrorName(err)
        _, text = d.cuGetErrorString(err)
        raise BackendError(f"{what} failed: {name.decode() if name else err} ({text.decode() if text else ''})")
    if not isinstance(result, tuple) or len(result) == 1:
        return None
    return result[1] if len(result) == 2 else result[1:]


def compile_kernel(source: str, name: str):
    """The `extern "C"` kernel `name` of CUDA C++ `source`, NVRTC-compiled for the current device and loaded as a
    context-independent kernel (usable on any green context's stream), as a CUfunction for cuLaunchKernel."""
    import torch  # noqa: PLC0415
    from cuda.bindings import nvrtc  # noqa: PLC0415

    d = driver()
    prog = check(nvrtc.nvrtcCreateProgram(source.encode(), f"{name}.cu".encode(), 0, [], []), "nvrtcCreateProgram")
    major, minor = torch.cuda.get_device_capability()
    opts = [f"--gpu-architecture=sm_{major}{minor}".encode()]
    if int(nvrtc.nvrtcCompileProgram(prog, len(opts), opts)[0]) != 0:
        size = check(nvrtc.nvrtcGetProgramLogSize(prog), "nvrtcGetProgramLogSize")
        log = b" " * size
        nvrtc.nvrtcGetProgramLog(prog, log)
        raise BackendError(f"nvrtc failed on {name}: {log.decode(errors='replace')}")
    size = check(nvrtc.nvrtcGetCUBINSize(prog), "nvrtcGetCUBINSize")
    cubin = b" " * size
    check(nvrtc.nvrtcGetCUBIN(prog, cubin), "nvrtcGetCUBIN")
    lib = check(d.cuLibraryLoadData(cubin, [], [], 0, [], [], 0), "cuLibraryLoadData")
    return d.CUfunction(int(check(d.cuLibraryGetKernel(lib, name.encode()), "cuLibraryGetKernel")))


@lru_cache(maxsize=None)
def device(index: int = 0):
    """Initialises torch's CUDA (so device `index`'s primary context exists) and returns its CUdevice. Cached per
    index: a process that drives several GPUs (paris.py) asks for each of them."""
    import torch  # noqa: PLC0415

    if not torch.cuda.is_available():
        raise BackendError("no CUDA device: torch.cuda.is_available() is False (eclip's GPU backend needs an NVIDIA GPU)")
    torch.cuda.init()
    torch.zeros(1, device=f"cuda:{index}")  # creates the primary context torch and the driver API share
    d = driver()
    check(d.cuInit(0), "cuInit")
    version = check(d.cuDriverGetVersion(), "cuDriverGetVersion")
    if version < MIN_DRIVER_VERSION:
        raise BackendError(
            f"the CUDA driver supports API {version // 1000}.{version % 1000 // 10}; green contexts need 12.4 or newer"
        )
    return check(d.cuDeviceGet(index), "cuDeviceGet")


def pci_bus_id(index: int = 0) -> str:
    """CUDA device `index`'s PCI bus id ("0000:3B:00.0"): what ties a CUDA ordinal to its NVML handle. NVML numbers
    every GPU of the machine in PCI order, CUDA only the visible ones (CUDA_VISIBLE_DEVICES), by default fastest first:
    the ordinals need not agree."""
    raw = check(driver().cuDeviceGetPCIBusId(32, device(index)), "cuDeviceGetPCIBusId")
    return (raw.decode() if isinstance(raw, bytes) else str(raw)).split("\x00")[0].strip()


def pinned_empty(torch, shape, dtype):
    """A CPU tensor in page-locked memory of eclip's own (host memory registered with the driver, not torch's
    pinned-memory cache), so an asynchronous copy from the GPU into it is a true DMA; unregistered when the last view
    of it goes.

    Why not `torch.empty(pin_memory=True)`: torch's caching host allocator records an event, when such a block is
    freed, on every stream the block was copied on. A served worker's streams belong to green contexts that Serving's
    close destroys; with torch's blocks the backend aborted in that teardown on the H100 (test_paris_serve). Memory
    the allocator does not own is ignored by it (its copy hook finds no block), so nothing refers to those streams."""
    import numpy  # noqa: PLC0415
    import weakref  # noqa: PLC0415

    count = math.prod(shape)
    nbytes = count * torch.empty((), dtype=dtype).element_size()
    mem = numpy.empty(max(1, nbytes), dtype=numpy.uint8)
    d = driver()
    # PORTABLE: pinned for every context of the process (green contexts, several GPUs), not only the current one
    check(d.cuMemHostRegister(mem.ctypes.data, mem.nbytes, d.CU_MEMHOSTREGISTER_PORTABLE),
          f"cuMemHostRegister({mem.nbytes} bytes)")
    # its result is not checked: at process exit the driver may be gone first, and exit unpins everything anyway
    weakref.finalize(mem, d.cuMemHostUnregister, mem.ctypes.data).atexit = False
    return torch.from_numpy(mem)[:nbytes].view(dtype).reshape(tuple(shape))


def versions() -> dict:
    """Versions for provenance fields (formats' `measured`)."""
    import torch  # noqa: PLC0415

    out = {"torch": torch.__version__, "cuda": torch.version.cuda or "", "python": platform.python_version()}
    try:
        import pynvml  # noqa: PLC0415

        pynvml.nvmlInit()
        out["driver"] = pynvml.nvmlSystemGetDriverVersion()
        if isinstance(out["driver"], bytes):
            out["driver"] = out["driver"].decode()
    except Exception as e:  # noqa: BLE001 - NVML is provenance only here
        out["driver"] = f"unknown ({e})"
    out["gpu"] = torch.cuda.get_device_name()
    out["host"] = platform.node()
    out["cudaDeviceMaxConnections"] = os.environ.get("CUDA_DEVICE_MAX_CONNECTIONS", "driver default (8)")
    return out
