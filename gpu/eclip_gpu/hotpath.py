"""The native request path (native/hotpath.c): built with the machine's C compiler on first use, loaded with ctypes.

serving.py hands it each captured worker whose every capture is one graph launch (`add_worker`); an `infer` whose
input lies in the worker's ring or a client's region then costs the frame-reading thread one call (`submit`), and
C does the rest — copies, launch, the wait, the reply frame, the next waiting request — on threads that never take
the GIL. Everything else (loading, other messages, inputs carried in the frame, datatype conversions) stays Python.

Once it serves, every frame on the reply pipe is written through it (frames.use_writer), so frames never interleave;
and clients' regions are counted on both sides (regions.py's Region.native): a region is closed once neither a
Python nor a C request holds it, a C thread telling a Python one (the reaper) when its last request is done.

ECLIP_NATIVE=0 keeps the Python path (comparisons); ECLIP_LIBCUDA names another driver library (the CPU tests'
fake); CC the compiler; ECLIP_CACHE where the built library is kept (default ~/.cache/eclip).
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "native" / "hotpath.c"

# where an execution's input comes from and its output goes (hotpath.c's SRC_* and DST_*)
SRC_HOST, SRC_DEVICE = 0, 1
DST_FRAME, DST_RING, DST_REGION_HOST, DST_REGION_DEVICE = 0, 1, 2, 3


class NativeUnavailable(RuntimeError):
    """Why the native path cannot be used here (no compiler, a build error, no driver)."""


def build(source: Path = SOURCE, cache: str | None = None) -> Path:
    """The shared library of `source`, compiled once per content into the cache directory."""
    text = source.read_bytes()
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise NativeUnavailable("no C compiler (cc) on this machine")
    root = Path(cache or os.environ.get("ECLIP_CACHE") or Path.home() / ".cache" / "eclip")
    out = root / f"{source.stem}-{hashlib.sha256(text).hexdigest()[:16]}.so"
    if out.exists():
        return out
    root.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=root, suffix=".so")
    os.close(fd)
    cmd = [cc, "-O2", "-std=gnu11", "-shared", "-fPIC", "-pthread", "-o", tmp, str(source), "-ldl"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        os.unlink(tmp)
        raise NativeUnavailable(f"{' '.join(cmd)} failed: {done.stderr.strip()[-800:]}")
    os.replace(tmp, out)  # atomic: another backend building the same source meanwhile is harmless
    return out


def enabled() -> bool:
    return os.environ.get("ECLIP_NATIVE", "1") != "0"


def _watch_python(period_s: float = 0.001, write=None, stop: threading.Event | None = None,
                  every_s: float | None = None) -> None:
    """ECLIP_HOTPATH_TIMING=1: a thread that wakes every millisecond and writes to stderr each time it woke over
    1 ms late (the GIL held by another thread, the frame reader's included, or the process not scheduled), on the
    host's monotonic clock like the streams' pause lines (gpu/scripts/pause-causes.py lines them up); and every
    `every_s` (ECLIP_HOTPATH_TIMING_MS, as the streams' lines) how late its wake-ups were, shorter delays included:
    what any Python thread of the backend, the frame reader's among them, waited to run then."""
    write = write or (lambda s: print(s, file=sys.stderr, flush=True))
    if every_s is None:
        every_s = float(os.environ.get("ECLIP_HOTPATH_TIMING_MS") or 2000) / 1e3
    last = time.monotonic_ns()
    since, n, over, late_sum, late_max = last, 0, 0, 0, 0
    while stop is None or not stop.is_set():
        time.sleep(period_s)
        now = time.monotonic_ns()
        late_ns = max(now - last - int(period_s * 1e9), 0)
        if late_ns > 1_000_000:
            write(f"eclip_gpu: python held at {(last + period_s * 1e9) / 1e6:.3f} ms (monotonic) for {late_ns / 1e3:.0f} µs")
        n, late_sum, late_max = n + 1, late_sum + late_ns, max(late_max, late_ns)
        over += late_ns > 100_000
        last = now
        if now - since >= every_s * 1e9:
            write(f"eclip_gpu: python wake-ups to {now / 1e6:.3f} ms (monotonic): {n}, {over} over 100 µs late, "
                  f"late µs mean {late_sum / n / 1e3:.1f} max {late_max / 1e3:.0f}")
            since, n, over, late_sum, late_max = now, 0, 0, 0, 0


class HotPath:
    """One process's native request path: the driver, the reply pipe, the regions' counts and the workers."""

    def __init__(self, lib_path: Path, ctx: int, out_fd: int, libcuda: str | None = None):
        # the calls that may block (a write to a full pipe, the reaper's wait) release the GIL; submit, which only
        # enqueues, keeps it (a release would hand the GIL to another thread and wait to get it back)
        self._lib = ctypes.CDLL(str(lib_path), use_errno=True)
        self._fast = ctypes.PyDLL(str(lib_path))
        c, u64, vp = ctypes.c_int, ctypes.c_uint64, ctypes.c_void_p
        self._lib.hp_error.restype = ctypes.c_char_p
        self._lib.hp_init.argtypes = [ctypes.c_char_p, vp, c]
        self._lib.hp_write.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        self._lib.hp_region_add.argtypes = [ctypes.c_char_p]
        self._lib.hp_worker_add.restype = vp
        self._lib.hp_worker_add.argtypes = [ctypes.c_char_p, vp, u64, ctypes.c_uint32, u64, u64, ctypes.c_char_p, c]
        self._lib.hp_worker_close.argtypes = [vp]
        self._lib.hp_worker_busy.argtypes = [vp]
        self._lib.hp_worker_waiting.argtypes = [vp]
        self._fast.hp_submit.argtypes = [vp, u64, ctypes.c_uint32, vp, u64, c, c, u64, u64, c, c, u64, u64]
        self._fast.hp_worker_lock.argtypes = [vp]
        self._fast.hp_worker_unlock.argtypes = [vp]
        self._fast.hp_region_close.argtypes = [c]
        self._fast.hp_region_users.argtypes = [c]
        libcuda = libcuda or os.environ.get("ECLIP_LIBCUDA") or ""
        if self._lib.hp_init(libcuda.encode(), ctx, out_fd) != 0:
            raise NativeUnavailable(self._lib.hp_error().decode())
        self.regions: dict[int, object] = {}  # slot -> Region (regions.py)
        self._reaper = threading.Thread(target=self._reap, name="hotpath-reaper", daemon=True)
        self._reaper.start()
        self._stop_watch = threading.Event()
        if os.environ.get("ECLIP_HOTPATH_TIMING") == "1":
            threading.Thread(target=_watch_python, kwargs={"stop": self._stop_watch}, name="hotpath-python-held",
                             daemon=True).start()

    # ── the reply pipe ──────────────────────────────────────────────────────────────────────────────────────
    def write(self, frame: bytes) -> None:
        if self._lib.hp_write(frame, len(frame)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"writing a reply frame: {os.strerror(err) if err else 'failed'}")

    # ── regions ─────────────────────────────────────────────────────────────────────────────────────────────
    def add_region(self, region) -> None:
        """Counts `region`'s requests here too (its `native`: (this, slot)); one that does not fit stays Python's."""
        slot = self._lib.hp_region_add(json.dumps(region.name).encode())
        if slot >= 0:
            self.regions[slot] = region
            region.native = (self, slot)

    def close_region(self, slot: int) -> bool:
        """Marks the slot closing; True when no native request holds it."""
        return bool(self._fast.hp_region_close(slot))

    def region_users(self, slot: int) -> int:
        return self._fast.hp_region_users(slot)

    def free_region(self, slot: int) -> None:
        self.regions.pop(slot, None)
        self._lib.hp_region_free(slot)

    def _reap(self) -> None:
        """Closes regions whose last native request ended after they were unregistered."""
        while True:
            slot = self._lib.hp_wait_drained()
            if slot < 0:
                return
            region = self.regions.get(slot)
            if region is not None:
                region.native_drained()

    # ── workers ─────────────────────────────────────────────────────────────────────────────────────────────
    def add_worker(self, name: str, stream: int, static_ptr: int, batch: int, in_item: int, out_item: int,
                   shape_tail: str, depth: int) -> int:
        """A worker (its handle for `submit`) whose executions run on `stream`, reading `static_ptr`."""
        handle = self._lib.hp_worker_add(json.dumps(name)[1:-1].encode(), stream, static_ptr, batch, in_item, out_item,
                                         shape_tail.encode(), depth)
        if not handle:
            raise NativeUnavailable(self._lib.hp_error().decode())
        return handle

    def submit(self, worker: int, id_: int, n: int, graph: int, out: int, src_kind: int, src_region: int, src: int,
               nbytes: int, dst_kind: int, dst_region: int, dst: int, reply_offset: int) -> bool:
        """Starts or queues one execution of the capture `graph` (its output at `out`); False when the worker is
        closing."""
        return self._fast.hp_submit(worker, id_, n, graph, out, src_kind, src_region, src, nbytes, dst_kind,
                                    dst_region, dst, reply_offset) == 0

    def enqueue_lock(self, worker: int) -> "_EnqueueLock":
        """Held while Python enqueues an execution of this worker on its stream (GpuExecute.start)."""
        return _EnqueueLock(self._fast, worker)

    def busy(self, worker: int) -> int:
        """Requests submitted to the worker and not yet answered."""
        return self._lib.hp_worker_busy(worker)

    def waiting(self, worker: int) -> int:
        """Requests submitted to the worker and not started yet."""
        return self._lib.hp_worker_waiting(worker)

    def close_worker(self, worker: int) -> None:
        """Waiting requests answered with an error, started ones finished; the worker freed."""
        self._lib.hp_worker_close(worker)

    def close(self) -> None:
        self._stop_watch.set()
        self._lib.hp_stop_reaper()
        self._reaper.join(timeout=5)


class _EnqueueLock:
    def __init__(self, lib, worker: int):
        self._lib, self._worker = lib, worker

    def __enter__(self):
        self._lib.hp_worker_lock(self._worker)

    def __exit__(self, *exc):
        self._lib.hp_worker_unlock(self._worker)
