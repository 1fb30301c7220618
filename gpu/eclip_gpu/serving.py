"""Serving: the GPU side of `eclip serve --backend gpu` (the TS side is src/serve/gpu-backend.ts).

`load` builds each worker once, creates the plan's partitions once (nothing is created on the request path), and
captures each worker: one graph whose kernels sit on their groups' partitions (graph mode), or the whole request on
one stream for a single-group plan (model-wise) or baseline (an ordinary full-GPU stream). The capture's static input
is the built model's `inputs[0]` and its output `WorkerExec.output`: an `infer` copies the request's bytes into the
first `n` items of that input, zeroes the rest (the graph always runs the whole captured batch), replays the graph
and answers with the first `n` items of the output.

Each worker has its own thread and queue, so requests of different workers run concurrently on their partitions, as
in the bench's closed loop; a worker's own requests run in order (the server sends one at a time per model anyway).
Replies go through frames.send, which queues them in order, so frames of different threads never interleave.

Tensors come and go in the frames' bodies, or, for a worker with a shared-memory ring (shm.py, mapped before `load`),
in its ring: the input read in place, the output copied into the room the request names, the reply carrying offsets.
Or in a client's registered region (regions.py: Triton's system and CUDA shared memory): an `infer` with
`input: {region, offset, bytes}` reads the input there (in place from the mapping, or device-to-device), one with
`output: {region, offset, bytes}` writes the output there, and the reply says where instead of carrying bytes.

The byte/shape bookkeeping (`check_input`, `DATATYPE_BYTES`, `worker_mode`) needs no torch, so it is tested on CPU.
"""

from __future__ import annotations

import collections
import contextlib
import math
import os
import queue
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from typing import Callable

from . import hotpath, zoo
from .cuda import BackendError, check, driver, is_fatal, pinned_empty
from .energy import Energy
from .execute import kernel_partitions, on_every_sm, op_kernel_starts, prepare_worker
from .fastcu import fastcu
from .frames import OUT_FD, use_writer
from .frames import flush as flush_frames
from .gemm_target import plan_gemm_target
from .identity import check_plan_gpu
from .partitions import PartitionPool, ordinary_stream, read_layout
from .regions import CudaRegion, Region, SystemRegion, open_region, pin_mapping
from .shm import Ring, attach
from .steps import step

# KServe datatype -> (torch dtype attribute, element bytes). The server sends raw little-endian bytes of these.
DATATYPES: dict[str, tuple[str, int]] = {
    "BOOL": ("bool", 1),
    "UINT8": ("uint8", 1),
    "INT8": ("int8", 1),
    "INT16": ("int16", 2),
    "INT32": ("int32", 4),
    "INT64": ("int64", 8),
    "FP16": ("float16", 2),
    "BF16": ("bfloat16", 2),
    "FP32": ("float32", 4),
    "FP64": ("float64", 8),
}
DATATYPE_BYTES = {k: v[1] for k, v in DATATYPES.items()}

# Executions a served worker keeps in flight on its stream (GpuExecute): 2 lets the next request's copy and launch
# queue behind the running graph; ECLIP_PIPELINE_DEPTH=1 runs them one after another (for comparisons).
PIPELINE_DEPTH = max(1, int(os.environ.get("ECLIP_PIPELINE_DEPTH", "2")))
# The backend's GIL switch interval while serving (CPython's default is 5 ms); ECLIP_GIL_SWITCH_S overrides it.
GIL_SWITCH_S = float(os.environ.get("ECLIP_GIL_SWITCH_S", "0.0002"))
# Green contexts only where kernels run: a plan's partitions are slice sets (each worker makes its own green context of
# them), and a worker that is serving is captured under a new plan on a second stream of its own green contexts, not
# in new ones. ECLIP_LEAN_LOAD=0 makes them as before (a context per plan partition, and per serving worker's
# capture), for comparisons (gpu/scripts/device-live-control.sh).
LEAN_LOAD = os.environ.get("ECLIP_LEAN_LOAD", "1") != "0"
KSERVE_OF_TORCH = {v[0]: k for k, v in DATATYPES.items()}


def kserve_datatype(torch_dtype) -> str:
    """KServe name of a torch dtype (`torch.float16` -> FP16)."""
    name = str(torch_dtype).removeprefix("torch.")
    if name not in KSERVE_OF_TORCH:
        raise BackendError(f"no KServe datatype for torch dtype {name}")
    return KSERVE_OF_TORCH[name]


def check_input(name: str, n: int, batch: int, item_shape: list[int], datatype: str, nbytes: int) -> int:
    """Validates one `infer`'s input against the captured static input; returns the bytes per item. The server has
    checked the request already: a mismatch here means the two sides disagree about the model, said loudly."""
    if datatype not in DATATYPE_BYTES:
        raise BackendError(f"{name}: unknown datatype {datatype!r}")
    if not isinstance(n, int) or n < 1 or n > batch:
        raise BackendError(f"{name}: {n!r} items, expected 1 … {batch} (the captured batch)")
    per_item = math.prod(item_shape) * DATATYPE_BYTES[datatype]
    if nbytes != n * per_item:
        raise BackendError(
            f"{name}: input body is {nbytes} bytes; {n} × {item_shape} {datatype} is {n * per_item} bytes"
        )
    return per_item


NUMPY_OF = {"BOOL": "bool", "UINT8": "uint8", "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
            "FP16": "float16", "FP32": "float32", "FP64": "float64"}


def check_range(name: str, body, datatype: str, value_range) -> None:
    """Every element of a host input within [lo, hi] (token ids: an id past the vocabulary would fault the embedding
    on the GPU, poisoning the process). The server checks JSON and binary inputs itself; inputs in a client's region
    it never reads, so they are checked here."""
    import numpy  # noqa: PLC0415

    lo, hi = value_range
    values = numpy.frombuffer(body, dtype=NUMPY_OF[datatype])
    if values.size and (values.min() < lo or values.max() > hi):
        bad = int(numpy.flatnonzero((values < lo) | (values > hi))[0])
        raise BackendError(f"{name}: input element {bad}: {values[bad]} is outside [{lo}, {hi}]")


def worker_mode(policy: str | None, groups: list[dict] | None) -> tuple[str, list[dict] | None]:
    """How a served worker is captured: baseline (or no plan) on an ordinary full-GPU stream; one group (model-wise,
    or any plan that gives the worker one partition) as the whole graph on that partition; else graph mode — one
    graph per request with each kernel node on its group's partition (no CPU work per switch; stream mode would
    cost a host launch per group on every request)."""
    if policy in (None, "baseline") or not groups:
        return "whole", None
    if len(groups) == 1:
        return "whole", groups
    return "graph", groups


@dataclass
class _Job:
    id: object
    n: int
    datatype: str
    body: bytes
    ring: Ring | None = None
    shm: dict | None = None
    # a client's region the input lies in / the output goes to: (region, offset, bytes); the input's value range
    src: tuple | None = None
    dst: tuple | None = None
    value_range: list | None = None
    # a pipelined execution's output room in the ring ({offset, bytes} for the reply), when it went there; the
    # views its execution reads and writes, kept until it is answered
    ring_out: dict | None = None
    views: tuple | None = None
    # the plan (key) to run under: the one for the set of models active when the server sent it; None: the default
    plan: str | None = None
    # a pipelined job queued behind its worker's executions in flight: when it was queued, then how long it waited
    # (µs, answered as waitedUs: the server counts it in the request's queue time)
    queued_at: float | None = None
    waited_us: float = 0.0


@dataclass
class ServedWorker:
    """One captured worker and its request thread. `execute(n, datatype, body)` -> (shape, datatype, bytes, µs)."""

    name: str
    execute: Callable[[int, str, bytes], tuple[list[int], str, object, float]]
    info: dict
    jobs: queue.Queue = field(default_factory=queue.Queue)
    thread: threading.Thread | None = None
    # execute(n, datatype, body, src=, dst=, value_range=) reads a CUDA region's input and writes outputs into a
    # region itself (the GPU execute); otherwise Serving hands it host bytes and copies its output into the region
    direct: bool = False
    # start/finish apart (GpuExecute): the worker keeps `pipeline.depth` executions in flight, started where they
    # arrive (the frame reader) or, when the pipeline is full, by the worker's thread once a slot frees; that thread
    # answers them in order (Serving._submit, Serving._finish_loop)
    pipeline: object = None
    pending: object = None  # jobs waiting for a slot, in arrival order (deque)
    inflight: int = 0
    started: object = None  # (job, slot) in start order, for the finisher (queue.Queue)
    lock: object = None  # guards pending and inflight
    start_lock: object = None  # one start at a time: slots and the stream are taken in start order
    # the native request path's worker (NativeWorker), where it serves this one: infers it can take go there
    native: object = None


@dataclass
class NativeWorker:
    """A worker on the native request path (hotpath.py): its handle, each plan's capture as (graph exec, output
    address) by plan key (None: the default), and what an input must be for C to take it (anything else goes through
    GpuExecute)."""

    handle: int
    plans: dict
    datatype: str
    batch: int
    in_item: int
    out_item: int


def _within(offset, n, size: int) -> bool:
    """[offset, offset + n) is a span of a buffer of `size` bytes (both whole numbers)."""
    return type(offset) is int and type(n) is int and 0 <= offset and 0 <= n and offset + n <= size


def worker_key(name: str, partition: str) -> str:
    """The ServedWorker of model `name` on partition `partition` (paris-elsa: paris_serve.py loads them)."""
    return f"{name}@{partition}"



def _region_views(w: ServedWorker, job: _Job):
    """A job's input (host bytes, or a device view of a client's CUDA region) and where its output goes (a host or
    device view of a client's region, or None: the frame or the ring); a system region's input is range-checked."""
    body, src_dev, dst = job.body, None, None
    if job.src is not None:
        region, offset, n = job.src
        if isinstance(region, SystemRegion):
            body = region.host(offset, n)
            if job.value_range is not None:
                check_range(w.name, body, job.datatype, job.value_range)
        else:
            src_dev = region.device(offset, n)
    if job.dst is not None:
        region, offset, n = job.dst
        dst = region.host(offset, n) if isinstance(region, SystemRegion) else region.device(offset, n)
    return body, src_dev, dst

class Serving:
    """The loaded workers of one backend process; `send(header, body)` writes one reply frame (thread-safe)."""

    def __init__(self, send: Callable[..., None], resources: Callable[[], tuple] | None = None,
                 exit_fatal: Callable[[str], None] | None = None, pin=pin_mapping, cuda_opener=None,
                 load_partitions: Callable[..., dict] | None = None, native: bool = False):
        """`resources()` -> (slice layout, partition pool, Energy): the process's one pool (bench runs share it).
        `pin` page-locks a system region's mapping, `cuda_opener` opens a CUDA region (regions.py; tests fake them).
        `load_partitions(serving, msg, progress)` loads a paris-elsa load (one with `partitions`): paris_serve.load,
        which builds on this module, so it is handed in by the protocol loop rather than imported here.
        `native`: a load starts the native request path on the process's reply pipe (the protocol loop's Serving);
        others (the GPU tests) start it themselves on a pipe of theirs (start_hotpath), or serve in Python."""
        self.send = send
        self.load_partitions = load_partitions
        self.resources = resources or _own_resources
        self.exit_fatal = exit_fatal or _exit_fatal
        self.workers: dict[str, ServedWorker] = {}
        # per loaded worker, what capturing it under one more plan needs (build_worker; model_control.py)
        self.sources: dict[str, CaptureSource] = {}
        self.rings: dict[str, Ring] = {}
        self.regions: dict[str, Region] = {}
        self.pin = pin
        self.cuda_opener = cuda_opener
        self.energy_mj0 = None
        # paris-elsa (paris_serve.py): the session that owns the partitions and graphs, and NVML of every GPU
        self.paris = None
        self.energies: list | None = None
        # the native request path (hotpath.py), once a load started it; else why not (None: not tried yet)
        self.hotpath = None
        self.hotpath_note: str | None = None if native else "python"

    # ── requests ────────────────────────────────────────────────────────────────────────────────────────────
    def add_worker(self, w: ServedWorker) -> None:
        """Starts a worker's request thread (load does this for captured workers; tests for fake ones)."""
        if w.name in self.workers:
            raise BackendError(f"worker {w.name!r} is loaded twice")
        if w.pipeline is None:
            w.thread = threading.Thread(target=self._run, args=(w,), name=f"serve-{w.name}", daemon=True)
        else:
            w.pending, w.started = collections.deque(), queue.Queue()
            w.lock, w.start_lock = threading.Lock(), threading.Lock()
            w.thread = threading.Thread(target=self._finish_loop, args=(w,), name=f"serve-{w.name}", daemon=True)
        self.workers[w.name] = w
        w.thread.start()

    def attach_rings(self, specs: dict | None) -> dict[str, object]:
        """Maps the shared-memory rings of a `load` (before the workers are built); per name, True or why not. Each
        ring's mapping is page-locked where the driver can (copies to and from the GPU are then true DMA); where it
        cannot (no GPU: the tests), the ring works from pageable memory."""
        rings, status = attach(specs)
        for ring in rings.values():
            ring.address = _host_address(ring.mm)  # where the native path reads and writes it
            try:
                ring.unpin = self.pin(ring.mm)
            except Exception:  # noqa: BLE001, S110 - pageable still works; the copies are staged by the driver
                pass
        self.rings.update(rings)
        return status

    # ── clients' shared-memory regions (regions.py) ─────────────────────────────────────────────────────────
    def register_region(self, msg: dict) -> dict:
        """`shm-register`: opens the region once; the reply `shm-registered` (with a note if it is not page-locked)."""
        name = msg.get("name")
        if name in self.regions:
            raise BackendError(f"region {name!r} is registered already")
        region = open_region(msg, pin=self.pin, cuda_opener=self.cuda_opener)
        self.regions[name] = region
        if self.hotpath is not None:
            self._native_region(region)
        note = getattr(region, "pin_note", None)
        return {"type": "shm-registered", "name": name, **({"note": note} if note else {})}

    def unregister_region(self, msg: dict) -> dict:
        """`shm-unregister`: closes it now, or once the last request using it is done (never under a request)."""
        name = msg.get("name")
        region = self.regions.pop(name, None)
        if region is None:
            raise BackendError(f"no region {name!r}")
        closed = region.unregister()
        return {"type": "shm-unregistered", "name": name, "closed": closed}

    def _region_span(self, ref, what: str) -> tuple:
        """(region, offset, bytes) of an infer's `input`/`output`, the region held (acquired) for the request."""
        if not isinstance(ref, dict):
            raise BackendError(f"{what}: {ref!r} is not {{region, offset, bytes}}")
        region = self.regions.get(ref.get("region"))
        if region is None:
            raise BackendError(f"{what}: no region {ref.get('region')!r}")
        region.check(ref.get("offset"), ref.get("bytes"), what)
        region.acquire()
        return region, ref["offset"], ref["bytes"]

    def infer(self, msg: dict, body: bytes) -> None:
        """Queues one execution on its worker's thread; the reply (`output` or `error`, with the same id) comes later."""
        name = msg.get("name")
        # paris-elsa: the server names the partition; the model's worker there (the ring stays the model's)
        partition = msg.get("partition")
        w = self.workers.get(name if partition is None else worker_key(name, partition))
        if w is not None and w.native is not None and self._infer_native(w, msg):
            return
        shm = msg.get("shm")
        ring = self.rings.get(name) if shm is not None else None
        problem = None
        src = dst = None
        if w is None:
            problem = f"no loaded worker {name!r}" + ("" if partition is None else f" on partition {partition!r}")
        elif shm is not None and ring is None:
            problem = f"{name}: an infer through shared memory, but the worker has no ring"
        elif ring is not None:
            try:
                body = ring.input(shm)
            except ValueError as e:
                problem = f"{name}: {e}"
        if problem is None and (msg.get("input") is not None or msg.get("output") is not None):
            # held from here (frames are read in order: an unregister sent after this infer finds it held)
            try:
                if msg.get("input") is not None:
                    src = self._region_span(msg["input"], f"{name}: input")
                if msg.get("output") is not None:
                    dst = self._region_span(msg["output"], f"{name}: output")
                if isinstance(src and src[0], CudaRegion) or isinstance(dst and dst[0], CudaRegion):
                    if not w.direct:
                        raise BackendError(f"{name}: this worker cannot use CUDA shared memory")
            except BackendError as e:
                for held in (src, dst):
                    if held is not None:
                        held[0].release()
                problem = str(e)
        if problem is not None:
            self.send({"type": "error", "id": msg.get("id"), "message": problem, "fatal": False})
            return
        value_range = (msg.get("input") or {}).get("range")
        job = _Job(msg.get("id"), msg.get("n"), msg.get("dtype", ""), body, ring, shm, src, dst, value_range)
        job.plan = msg.get("plan")
        if w.pipeline is None:
            if job.plan is not None:
                self._release(job)
                self.send({"type": "error", "id": job.id, "message": f"{w.name}: no capture under plan {job.plan!r}",
                           "fatal": False})
                return
            w.jobs.put(job)
        else:
            self._submit(w, job)

    # ── the native request path (hotpath.py) ───────────────────────────────────────────────────────────────
    def start_hotpath(self, ctx: int | None = None, out_fd: int = OUT_FD, libcuda: str | None = None,
                      route_frames: bool = True) -> str:
        """Starts the native request path once (the first GPU load does); says which path serves and, if Python's,
        why. With `route_frames` every frame of this process's reply pipe is then written through it."""
        if self.hotpath is not None:
            return "native"
        if self.hotpath_note is not None:
            return self.hotpath_note
        try:
            if not hotpath.enabled():
                raise hotpath.NativeUnavailable("ECLIP_NATIVE=0")
            lib = hotpath.build()
            if ctx is None:
                self.resources()  # CUDA initialised, its context current on this thread
                ctx = int(check(driver().cuCtxGetCurrent(), "cuCtxGetCurrent"))
            self.hotpath = hotpath.HotPath(lib, ctx, out_fd, libcuda)
        except (hotpath.NativeUnavailable, OSError, BackendError) as e:
            self.hotpath_note = f"python ({e})"
            return self.hotpath_note
        if route_frames:
            use_writer(self.hotpath.write)
        for region in self.regions.values():
            self._native_region(region)
        return "native"

    def _native_region(self, region: Region) -> None:
        """Counts a client's region on the native path as well, with the address C reads or writes it at."""
        region.native_addr = (_host_address(region.view) if isinstance(region, SystemRegion)
                              else region.tensor.data_ptr())
        self.hotpath.add_region(region)

    def native_worker(self, name: str, pipe: GpuExecute) -> NativeWorker | None:
        """Puts a captured worker on the native path when every capture of it is one graph launch (whole and graph
        mode, driver calls straight from the host: GpuExecute's `fast`); None otherwise."""
        if self.hotpath is None or pipe.cu is None or any(g is None for _, g, _ in pipe.captures.values()):
            return None
        in_item = math.prod(pipe.item_shape) * pipe.static.element_size()
        tail = "".join(f",{d}" for d in pipe.out_shape) + f'],"datatype":"{pipe.out_datatype}","computeUs":'
        handle = self.hotpath.add_worker(name, pipe.stream_handle, pipe.static_ptr, pipe.batch, in_item,
                                         pipe.out_item_bytes, tail, pipe.depth)
        pipe.enqueue_lock = self.hotpath.enqueue_lock(handle)
        return NativeWorker(handle, {k: (g, out) for k, (_, g, out) in pipe.captures.items()}, pipe.in_datatype,
                            pipe.batch, in_item, pipe.out_item_bytes)

    def _infer_native(self, w: ServedWorker, msg: dict) -> bool:
        """Submits an infer to the native path when it can take it: the model's own datatype, the input in the
        worker's ring or a client's region (their memory outlives the request; a frame's body does not), a plan it
        was captured under. False leaves the infer to the Python path, which also says what is wrong with a bad one."""
        nat: NativeWorker = w.native
        capture = nat.plans.get(msg.get("plan"))
        n = msg.get("n")
        if capture is None or msg.get("dtype") != nat.datatype or type(n) is not int or not 1 <= n <= nat.batch:
            return False
        nbytes, out_bytes = n * nat.in_item, n * nat.out_item
        inp, out, shm = msg.get("input"), msg.get("output"), msg.get("shm")
        ring = self.rings.get(msg.get("name")) if shm is not None else None
        src_region = dst_region = -1
        if inp is not None:
            region = self._native_span(inp, nbytes, exact=True)
            if region is None:
                return False
            if inp.get("range") is not None:
                if not isinstance(region, SystemRegion):
                    return False  # checked on the GPU, by torch
                try:
                    check_range(w.name, region.host(inp["offset"], nbytes), msg["dtype"], inp["range"])
                except BackendError:
                    return False
            src_kind = hotpath.SRC_HOST if isinstance(region, SystemRegion) else hotpath.SRC_DEVICE
            src, src_region = region.native_addr + inp["offset"], region.native[1]
        elif ring is not None and shm.get("bytes") == nbytes and _within(shm.get("offset"), nbytes, ring.nbytes):
            src_kind, src = hotpath.SRC_HOST, ring.address + shm["offset"]
        else:
            return False
        reply_offset = 0
        if out is not None:
            region = self._native_span(out, out_bytes, exact=False)
            if region is None:
                return False
            dst_kind = hotpath.DST_REGION_HOST if isinstance(region, SystemRegion) else hotpath.DST_REGION_DEVICE
            dst, dst_region, reply_offset = region.native_addr + out["offset"], region.native[1], out["offset"]
        elif ring is not None and _within(shm.get("outOffset"), shm.get("outBytes"), ring.nbytes) \
                and out_bytes <= shm["outBytes"]:
            dst_kind, dst, reply_offset = hotpath.DST_RING, ring.address + shm["outOffset"], shm["outOffset"]
        else:
            dst_kind, dst = hotpath.DST_FRAME, 0
        if not self.hotpath.submit(nat.handle, msg["id"], n, *capture, src_kind, src_region, src, nbytes, dst_kind,
                                   dst_region, dst, reply_offset):
            self.send({"type": "error", "id": msg["id"], "message": f"{w.name}: the worker is closing",
                       "fatal": False})
        return True

    def _native_span(self, ref, need: int, exact: bool) -> Region | None:
        """The registered region an `input`/`output` span names, when the native path can use it as it stands."""
        region = self.regions.get(ref.get("region")) if isinstance(ref, dict) else None
        if region is None or region.native is None or region.closing:
            return None
        size = ref.get("bytes")
        if not _within(ref.get("offset"), size, region.nbytes) or (size != need if exact else size < need):
            return None
        return region

    def _run(self, w: ServedWorker) -> None:
        while True:
            job = w.jobs.get()
            if job is None:
                return
            try:
                if job.src is not None or job.dst is not None:
                    self._run_regions(w, job)
                    continue
                shape, datatype, data, us = w.execute(job.n, job.datatype, job.body)
                reply = {"type": "output", "id": job.id, "shape": shape, "datatype": datatype,
                         "computeUs": round(us, 1)}
                put = job.ring.put_output(job.shm, data) if job.ring is not None else None
                if put is not None:
                    self.send({**reply, "shm": put})
                else:  # no ring, or an output larger than the room it was given: in the frame
                    # data other than bytes may be lent (the GPU execute's pinned buffer, reused by its next
                    # execution) and `send` may keep the body (tests do): it gets bytes of its own
                    self.send(reply, data if isinstance(data, bytes) else memoryview(data).tobytes())
            except Exception as e:  # noqa: BLE001 - every failure is answered; a poisoning one also ends the process
                text = f"{type(e).__name__}: {e}"
                fatal = is_fatal(text)
                self.send({"type": "error", "id": job.id, "message": f"{w.name}: {text}", "fatal": fatal,
                           "trace": traceback.format_exc(limit=6)})
                if fatal:
                    self.exit_fatal(text)
                    return

    def _run_regions(self, w: ServedWorker, job: _Job) -> None:
        """One execution with its input and/or output in clients' regions; the regions are released when it is
        done (an unregister that came meanwhile closes them then). Errors go to _run's handler."""
        try:
            body, src_dev, dst = _region_views(w, job)
            if w.direct:
                shape, datatype, data, us = w.execute(job.n, job.datatype, body, src=src_dev, dst=dst,
                                                      value_range=job.value_range)
            else:  # host bytes in, host bytes out (workers without a GPU: the tests' fakes)
                shape, datatype, data, us = w.execute(job.n, job.datatype, body)
                if dst is not None:
                    out = memoryview(data).cast("B") if not isinstance(data, (bytes, bytearray)) else memoryview(data)
                    if out.nbytes > len(dst):
                        raise BackendError(f"{w.name}: the output is {out.nbytes} bytes, its region span {len(dst)}")
                    dst[: out.nbytes] = out
                    data = None
            reply = {"type": "output", "id": job.id, "shape": shape, "datatype": datatype, "computeUs": round(us, 1)}
            if job.dst is None:
                self.send(reply, data if isinstance(data, bytes) else memoryview(data).tobytes())
            else:
                written = math.prod(shape) * DATATYPE_BYTES[datatype]
                self.send({**reply, "output": {"region": job.dst[0].name, "offset": job.dst[1], "bytes": written}})
        finally:
            # views of the regions go first: the last release may unmap or close a region (regions.py)
            body = dst = src_dev = job.body = None  # noqa: F841
            for held in (job.src, job.dst):
                if held is not None:
                    held[0].release()

    def _submit(self, w: ServedWorker, job: _Job) -> None:
        """A pipelined worker's job: started here and now (on the frame reader's thread) when a slot is free and none
        waits before it, else queued for the worker's thread to start once a slot frees."""
        with w.lock:
            if w.inflight < w.pipeline.depth and not w.pending:
                w.inflight += 1
            else:
                job.queued_at = time.perf_counter()
                w.pending.append(job)
                return
        self._start(w, job)

    def _start(self, w: ServedWorker, job: _Job) -> None:
        """Starts `job` (it holds a slot: counted in w.inflight) and hands it to the finisher; a job that fails to
        start is answered at once and its slot goes to the next waiting one."""
        while job is not None:
            try:
                with w.start_lock:
                    w.started.put((job, self._start_job(w, job)))
                return
            except Exception as e:  # noqa: BLE001 - answered like _run's failures
                self._release(job)
                if self._answer_error(w, job, e):
                    return
            job = self._next_pending(w)

    @staticmethod
    def _next_pending(w: ServedWorker):
        """Frees a slot: the next waiting job takes it (returned, to be started), else None."""
        with w.lock:
            if w.pending:
                return w.pending.popleft()
            w.inflight -= 1
            return None

    def _start_job(self, w: ServedWorker, job: _Job):
        """Resolves where a job's input lies and its output goes (the frame, the ring, a client's region) and
        enqueues it; the views it made stay on the job until it is answered."""
        pipe = w.pipeline
        if job.queued_at is not None:
            job.waited_us = (time.perf_counter() - job.queued_at) * 1e6
        body, src_dev, dst = _region_views(w, job)
        if job.dst is None and job.ring is not None and isinstance(job.n, int):
            room = job.ring.output_room(job.shm, job.n * pipe.out_item_bytes)
            if room is not None:
                dst, job.ring_out = room
        job.body, job.views = body, (src_dev, dst)
        return pipe.start(job.n, job.datatype, body, src=src_dev, dst=dst, value_range=job.value_range, plan=job.plan)

    def _finish_loop(self, w: ServedWorker) -> None:
        """The worker's thread: answers its executions in start order, each once its GPU work is done, then starts
        the next waiting job in the slot that freed. Closing (None): jobs that never got a slot are answered with an
        error, those started are finished."""
        while True:
            item = w.started.get()
            if item is None:
                with w.lock:
                    left, w.pending = list(w.pending), collections.deque()
                for job in left:
                    self._release(job)
                    self.send({"type": "error", "id": job.id, "message": f"{w.name}: the backend is closing",
                               "fatal": False})
                while True:
                    try:
                        item = w.started.get_nowait()
                    except queue.Empty:
                        return
                    if item is not None and self._answer(w, *item):
                        return
            if self._answer(w, *item):
                return
            nxt = self._next_pending(w)
            if nxt is not None:
                self._start(w, nxt)

    def _answer(self, w: ServedWorker, job: _Job, slot) -> bool:
        """Waits for a started job's execution and answers it; True when its error poisoned the CUDA context."""
        try:
            shape, datatype, data, us = w.pipeline.finish(slot)
            reply = {"type": "output", "id": job.id, "shape": shape, "datatype": datatype, "computeUs": round(us, 1)}
            if job.waited_us >= 1.0:
                reply["waitedUs"] = round(job.waited_us, 1)
            if job.dst is not None:
                written = math.prod(shape) * DATATYPE_BYTES[datatype]
                self.send({**reply, "output": {"region": job.dst[0].name, "offset": job.dst[1], "bytes": written}})
            elif job.ring_out is not None:
                self.send({**reply, "shm": job.ring_out})
            else:  # the slot's buffer is reused once freed: the frame gets bytes of its own
                self.send(reply, memoryview(data).tobytes())
            return False
        except Exception as e:  # noqa: BLE001 - every failure is answered; a poisoning one ends the process
            return self._answer_error(w, job, e)
        finally:
            self._release(job)

    def _answer_error(self, w: ServedWorker, job: _Job, e: Exception) -> bool:
        """Answers a failed job; True when the error poisoned the CUDA context (the process is then ending)."""
        text = f"{type(e).__name__}: {e}"
        fatal = is_fatal(text)
        self.send({"type": "error", "id": job.id, "message": f"{w.name}: {text}", "fatal": fatal,
                   "trace": traceback.format_exc(limit=6)})
        if fatal:
            self.exit_fatal(text)
        return fatal

    @staticmethod
    def _release(job: _Job) -> None:
        """Lets go of a job's views, then of the regions it held (the last release may unmap or close one)."""
        job.body = job.views = None
        for held in (job.src, job.dst):
            if held is not None:
                held[0].release()
        job.src = job.dst = None

    def power(self) -> dict:
        """NVML board power (a ~1-s average on H100) and energy since the load, J: summed over the server's GPUs
        where it has several (paris-elsa)."""
        energies = self.energies or [self.resources()[2]]
        mj = sum(e.read_mj() for e in energies)
        if self.energy_mj0 is None:
            self.energy_mj0 = mj
        return {"type": "power", "powerW": sum(e.power_w() for e in energies), "energyJ": (mj - self.energy_mj0) / 1e3}

    def close(self) -> None:
        for w in self.workers.values():
            if w.native is not None:
                self.hotpath.close_worker(w.native.handle)
                w.native = None
        for w in self.workers.values():
            (w.jobs if w.pipeline is None else w.started).put(None)
        for w in self.workers.values():
            if w.thread is not None:
                w.thread.join(timeout=30)
        self.workers.clear()
        for r in self.rings.values():
            r.close()
        self.rings.clear()
        for region in self.regions.values():
            region.unregister()
        self.regions.clear()
        if self.hotpath is not None:
            self.hotpath.close()
        if self.paris is not None:  # after every worker thread has stopped: graphs, then partitions (docs/design.md §8)
            self.paris.close()
            self.paris = None

    # ── loading (GPU) ───────────────────────────────────────────────────────────────────────────────────────
    def load(self, msg: dict, progress: Callable[[str], None] = lambda m: None) -> dict:
        """Builds, partitions and captures every worker of `msg` ({plan, plans?, workers}); returns the `loaded`
        reply. With `partitions` (policy paris-elsa): every model on every partition, paris_serve.py.

        `plan` is each worker's default capture (null: an ordinary full-GPU stream, as baseline). `plans` ([{key,
        plan}], the plan per set of active models) adds a capture of every worker under every keyed plan that lists
        it; an `infer` naming `plan: key` runs that capture. A worker's captures share its static input, its stream
        and one graph memory pool, so each further plan costs little more than its own output tensor."""
        if msg.get("partitions") is not None:
            if self.load_partitions is None:
                raise BackendError("a load with partitions (paris-elsa) needs Serving(load_partitions=...)")
            return self.load_partitions(self, msg, progress)
        if self.workers:
            raise BackendError("this backend already has loaded workers; start a fresh process to load others")

        # a thread that wakes (a frame read, an execution done) waits for the GIL at most this long, not 5 ms, while
        # other threads run Python: replies and launches are not held up behind another worker's bookkeeping
        sys.setswitchinterval(GIL_SWITCH_S)

        path = self.start_hotpath()
        plan = msg.get("plan")
        keyed = msg.get("plans") or []
        t0 = time.perf_counter()
        # every partition of every plan once, checked before any capture; plans that share slices share the partition.
        # The green contexts kernels run in are the workers' own, made as they are captured (never on the request path)
        parts_of = self.plan_partitions([{"key": None, "plan": plan}, *keyed])
        loaded = []
        for w in msg["workers"]:
            info, pipe = self.build_worker(w, plan, keyed, parts_of)
            self.add_worker(self.served_worker(info, pipe))
            loaded.append(info)
            progress(f"{w['name']}: captured {info['kernels']} kernels ({info['mode']}, {info['switches']} switches)"
                     + (f" and under {len(info['plans'])} plans" if info["plans"] else "")
                     + f", {info['memoryBytes'] / 2**20:.0f} MiB")
        progress(f"loaded {len(loaded)} workers in {time.perf_counter() - t0:.1f} s")
        self.prepare(msg.get("prepare") or [], progress)
        return {"type": "loaded", "workers": loaded, "pipelineDepth": PIPELINE_DEPTH, "requestPath": path}

    @staticmethod
    def prepare(names: list[str], progress: Callable[[str], None]) -> None:
        """Imports the libraries of the models a later load-model may build (eclip-live's repository), before serving:
        importing transformers' model classes takes seconds of the interpreter, which a load while others serve would
        take from the frame reader. ECLIP_PREPARE=0 skips it (comparisons)."""
        if not names or os.environ.get("ECLIP_PREPARE") == "0":
            return
        t0 = time.perf_counter()
        failed = [why for why in (zoo.prepare(n) for n in names) if why]
        progress(f"imported what {len(names)} models of the repository need in {time.perf_counter() - t0:.1f} s"
                 + (f"; not: {'; '.join(failed)}" if failed else ""))

    def plan_partitions(self, keyed: list[dict]) -> dict:
        """{key: {partition id: Partition or SliceSet}} of every plan of `keyed` ([{key, plan}]; a null plan has
        none), each checked against this GPU. Kernels run in the workers' own green contexts of these slices
        (CaptureSource.capture, made there, never on the request path), so a partition the pool lacks is only named
        (PartitionPool.declare; LEAN_LOAD=0: created)."""
        layout, pool, _ = self.resources()
        keys = [k["key"] for k in keyed if k["key"] is not None]
        if any(not isinstance(k, str) or not k for k in keys) or len(set(keys)) != len(keys):
            raise BackendError(f"plans: every plan needs a key of its own (got {keys})")
        parts_of: dict[str | None, dict] = {}
        for k in keyed:
            p = k["plan"]
            if p:
                check_plan_gpu(p["gpu"], layout)
                make = pool.declare if LEAN_LOAD else pool.create
                parts_of[k["key"]] = {q["id"]: make(q["slices"], q["id"]) for q in p["pool"]["partitions"]}
        return parts_of

    def build_worker(self, w: dict, plan: dict | None, keyed: list[dict], parts_of: dict,
                     quiet: bool = False) -> tuple[dict, "GpuExecute"]:
        """Builds one served worker (`w`: a load's worker entry) and captures it under `plan` (its default capture)
        and under every plan of `keyed` that lists it; returns its `loaded` entry and its GpuExecute, its thread not
        started. Keeps what capturing it under further plans needs (self.sources; model control, model_control.py).
        `quiet`: the process's other workers are serving meanwhile (execute.graph_capture)."""
        import torch  # noqa: PLC0415

        name = w["name"]
        mem0 = torch.cuda.memory_reserved()
        model = f"torchscript:{w['source']}" if w.get("source") else w["model"]
        t0 = time.perf_counter()
        with step(f"build {name}"):
            built = zoo.build(model, w["batch"], w["dtype"], input_shape=w.get("inputShape"))
        built_s = time.perf_counter() - t0
        # the default plan's stream priority for every capture of the worker (eclip-rt's priority mechanism: its
        # launch stream and its partitions' streams at high priority; runner.py says why both)
        level = (_plan_worker(plan, w, None) or {}).get("streamPriority", "normal")
        src = CaptureSource(w, built, ordinary_stream(level), torch.cuda.graph_pool_handle(), level, built_s=built_s)
        variants = {k["key"]: src.capture(self, k["plan"], k["key"], parts_of.get(k["key"], {}), quiet)
                    for k in keyed if any(pw["name"] == name for pw in k["plan"]["workers"])}
        # the default plan is often one of the keyed ones (the whole set's): its capture serves both
        same = next((k["key"] for k in keyed if k["key"] in variants and k["plan"] == plan), None)
        execd = variants[same] if same is not None else src.capture(self, plan, None, parts_of.get(None, {}), quiet)
        static = built.inputs[0]
        for e in (execd, *variants.values()):
            if not isinstance(e.output, torch.Tensor):
                raise BackendError(f"{name}: the model's output is {type(e.output).__name__}, not one tensor")
        out = execd.output
        info = {
            "name": name,
            "inputShape": list(static.shape),
            "inputDtype": kserve_datatype(static.dtype),
            "outputShape": list(out.shape),
            "outputDtype": kserve_datatype(out.dtype),
            "fingerprint": execd.fingerprint,
            "mode": execd.mode,
            "streamPriority": level,
            "kernels": execd.kernels,
            "switches": execd.switches,
            "plans": {k: {"mode": e.mode, "switches": e.switches} for k, e in variants.items()},
            # the model's weights, its captures' memory pool and outputs (what torch reserved on the GPU for it)
            "memoryBytes": torch.cuda.memory_reserved() - mem0,
        }
        pipe = GpuExecute(torch, name, static, execd, depth=PIPELINE_DEPTH, variants=variants)
        self.sources[name] = src
        return info, pipe

    def served_worker(self, info: dict, pipe: GpuExecute) -> ServedWorker:
        """A built worker (build_worker's) ready for add_worker, on the native request path where it can be."""
        native = self.native_worker(info["name"], pipe)
        info["requestPath"] = "native" if native is not None else (
            "python" if self.hotpath is None else "python (not one graph launch per request)")
        return ServedWorker(info["name"], pipe.execute, info, direct=True, pipeline=pipe, native=native)

    def stop_worker(self, w: ServedWorker, timeout: float = 30.0) -> None:
        """Stops one worker's thread, as close() stops them all (model control: `w` is out of self.workers already,
        so no job comes to it any more): a plain worker runs the jobs queued before it stops; a pipelined one
        finishes those started and answers any still waiting with an error (on the native path too)."""
        if w.native is not None:
            self.hotpath.close_worker(w.native.handle)
            w.native = None
        (w.jobs if w.pipeline is None else w.started).put(None)
        if w.thread is not None:
            w.thread.join(timeout)


@dataclass
class CaptureSource:
    """One served worker's model and what capturing it under a plan needs: the load's worker entry, the built model,
    its stream, the graph memory pool all its captures share, the streams warmed up already and its dry run (kernel
    starts per op, without the dry graph). Kept per worker (Serving.sources), so that a worker that is serving can be
    captured under a plan made after it was loaded (model_control.py).

    Streams are warmed per thread: cuBLAS and cuDNN keep their handles per thread, and a thread's first call on a
    stream sets up state that must not happen inside a capture; model control captures on a thread of its own."""

    spec: dict
    built: object
    origin: object
    graph_pool: object
    level: str = "normal"  # its streams' priority (eclip-rt)
    capture_stream: object = None  # the captures' own while the worker serves (capture)
    warmed_by: dict = field(default_factory=dict)  # thread id -> ids of the streams it has warmed up
    dry: tuple | None = None
    built_s: float = 0.0  # how long building the model took (a load's phases, model_control.py)

    def capture(self, serving: "Serving", plan: dict | None, key: str | None, parts: dict, quiet: bool = False,
                busy: bool = False):
        """The worker captured under `plan` (None: an ordinary full-GPU stream) on `parts` ({partition id:
        Partition}: the plan's, Serving.plan_partitions), on partitions of the worker's own. `quiet`: other workers
        serve meanwhile (execute.graph_capture); `busy`: this worker serves too."""
        layout, pool, _ = serving.resources()
        name = self.spec["name"]
        pw = _plan_worker(plan, self.spec, key)
        mode, groups = worker_mode(plan["policy"] if plan else None, [dict(g) for g in pw["groups"]] if pw else None)
        # green contexts only where the worker's kernels run: the partitions its groups name, none when each of them is
        # the whole GPU (captured as baseline's, execute.on_every_sm). A context made while other workers serve holds
        # up their requests (docs/live.md), and each costs memory
        parts = kernel_partitions(name, groups, parts, f"plan {key!r}" if key else "the plan")
        if on_every_sm(groups, parts, layout):
            mode, groups, parts = "whole", None, {}
        # each worker its own stream on each of those partitions: workers share SMs, never a queue. While it serves,
        # the capture runs on streams of its own that no request is launched on: work another thread enqueues on a
        # stream being captured (this worker's requests, on its stream) would join the capture and break it. Those
        # streams are second streams of the worker's own green contexts (LEAN_LOAD=0: contexts of their own, and
        # for any capture while others serve, as before)
        if quiet and (busy or not LEAN_LOAD):
            if self.capture_stream is None:
                self.capture_stream = ordinary_stream(self.level)
            origin = self.capture_stream
            wparts = {pid: (pool.capture_partition(part, name, self.level) if LEAN_LOAD
                            else pool.for_worker(part, f"{name}:capture", self.level)) for pid, part in parts.items()}
        else:
            origin = self.origin
            wparts = {pid: pool.for_worker(part, name, self.level) for pid, part in parts.items()}
        warmed = self.warmed_by.setdefault(threading.get_ident(), set())
        if self.dry is None:
            per_op, dry = op_kernel_starts(self.built, self.origin, warmed, quiet=quiet)
            self.dry = (per_op, replace(dry, graphs=[], output=None))
        execd = prepare_worker(name, self.built, mode, groups, wparts, origin, pw["fingerprint"] if pw else None,
                               layout=layout, pool=self.graph_pool, warmed=warmed, dry_run=self.dry, quiet=quiet,
                               gate=pw.get("gate") if pw else None,
                               **plan_gemm_target(pw))
        if origin is not self.origin:
            execd.origin = self.origin  # its requests are launched on the worker's own stream (a graph keeps its SMs)
        return execd


def _plan_worker(plan: dict | None, w: dict, key: str | None) -> dict | None:
    """The plan's entry for served worker `w` (checked against what the server serves), or None without a plan."""
    if not plan:
        return None
    pw = next((x for x in plan["workers"] if x["name"] == w["name"]), None)
    where = f"plan {key!r}" if key else "the plan"
    if pw is None:
        raise BackendError(f"worker {w['name']!r} is not in {where}")
    if pw["model"] != w["model"] or pw["batch"] != w["batch"] or pw["dtype"] != w["dtype"]:
        raise BackendError(f"{w['name']}: {where} has {pw['model']} batch {pw['batch']} {pw['dtype']}, the "
                           f"server {w['model']} batch {w['batch']} {w['dtype']}")
    return pw


def gpu_execute(torch, name: str, static, execd):
    """A synchronous execute of a captured graph (paris_serve's workers): GpuExecute with one slot, torch copies."""
    return GpuExecute(torch, name, static, execd, depth=1, fast=False).execute


class GpuExecute:
    """Executions of one captured worker, started and finished apart so that a worker keeps `depth` of them in flight
    on its stream: the next request's input copy and launch are queued behind the running graph (stream order makes
    that safe: the copy into the graph's static input runs after the graph that reads it), and the GPU never waits
    for the host between two requests while any is queued. `start` enqueues one execution (input copy, zero padding,
    the launch between two timing events, the output copy to where it goes, a completion event) and returns its slot;
    `finish(slot)` sleeps on that event (GIL released) and returns (shape, datatype, data, µs). Slots are used in
    turn and finished in order, so one is reused only after it was finished (Serving's finisher answers before it
    frees the slot).

    Host cost matters at thousands of requests per second in one Python process whose threads share one GIL: with
    `fast`, copies, padding and events go straight to the driver (cuda-bindings calls release the GIL) instead of
    torch's dispatcher; a request whose datatype differs from the model's (FP32 images for an FP16 model) goes
    through torch, which converts on the GPU. Without `fast` (paris_serve: partitions on several GPUs) every copy is
    torch's, on the worker's stream.

    Outputs go to the request's destination when it has one (a client's region, the server's ring: a host view,
    page-locked or not, or a device tensor), else into the slot's page-locked buffer of eclip's own, whose view
    `finish` returns (valid until the slot is started again)."""

    def __init__(self, torch, name: str, static, execd, depth: int = 2, fast: bool = True,
                 variants: dict | None = None):
        """`execd`: the default capture; `variants`: {plan key: capture} of the same model and static input (one
        per plan it serves under), every one launched on the default's stream so that executions stay in order."""
        self.torch, self.name, self.static, self.execd = torch, name, static, execd
        self.depth = depth
        self.fast = fast
        self.batch = int(static.shape[0])
        self.item_shape = list(static.shape[1:])
        self.in_datatype = kserve_datatype(static.dtype)
        out = execd.output
        self.out_shape = list(out.shape[1:])
        self.out_datatype = kserve_datatype(out.dtype)
        self.out_item_bytes = math.prod(self.out_shape) * out.element_size()
        self.stream = execd.origin
        # the waits through cuda-bindings (GIL released), the enqueueing calls through fastcu (GIL held)
        self.d = driver() if fast else None
        self.cu = fastcu() if fast else None
        self.stream_handle = int(self.stream.cuda_stream)
        self.static_ptr = static.data_ptr()
        # per plan: (capture, its instantiated graph launched straight from here in whole and graph mode — no
        # event of the capture's own; a graph keeps its partitions whatever stream launches it —, its output)
        self.captures = {key: (e, self._graph_exec(e), e.output.data_ptr())
                         for key, e in [(None, execd), *(variants or {}).items()]}
        for e, _, _ in self.captures.values():
            if list(e.output.shape[1:]) != self.out_shape or e.output.dtype != out.dtype:
                raise BackendError(f"{name}: its captures under different plans give different outputs")
        self.slots = []
        for _ in range(depth):
            ev = (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True),
                  torch.cuda.Event(blocking=True))  # blocking: synchronize() sleeps rather than spins
            for e in ev:
                e.record(self.stream)  # torch makes its cudaEvent_t at the first record
            host = pinned_empty(torch, out.shape, out.dtype).view(torch.uint8).reshape(-1)
            self.slots.append(_Slot(*ev, host, host.numpy(), *(e.cuda_event for e in ev)))
        self.stream.synchronize()
        self.next = 0
        # held while an execution is enqueued, where the native path enqueues on the same stream (Serving.native_worker)
        self.enqueue_lock = contextlib.nullcontext()

    def _graph_exec(self, execd):
        if self.cu is None or getattr(execd, "mode", None) not in ("whole", "graph"):
            return None
        return int(execd.segments[0][0].raw_cuda_graph_exec())

    def execute(self, n: int, datatype: str, body, src=None, dst=None, value_range=None, plan=None):
        """One execution, start to finish."""
        return self.finish(self.start(n, datatype, body, src=src, dst=dst, value_range=value_range, plan=plan))

    def start(self, n: int, datatype: str, body, src=None, dst=None, value_range=None, plan=None):
        """Enqueues one execution; returns its slot for `finish`. `src`: the input as a uint8 device tensor (a CUDA
        region's bytes) instead of `body`; `dst`: where the output goes (host memoryview, or a uint8 device tensor);
        `plan`: the key of the plan to run under (None: the default capture)."""
        torch = self.torch
        capture = self.captures.get(plan)
        if capture is None:
            raise BackendError(f"{self.name}: no capture under plan {plan!r} (captured: "
                               f"{sorted(k for k in self.captures if k is not None) or 'the default only'})")
        execd, graph_exec, out_ptr = capture
        slot = self.slots[self.next]
        self.next = (self.next + 1) % self.depth
        nbytes = src.numel() if src is not None else memoryview(body).nbytes
        per_item = check_input(self.name, n, self.batch, self.item_shape, datatype, nbytes)
        out_bytes = n * self.out_item_bytes
        if dst is not None:
            room = dst.numel() if isinstance(dst, torch.Tensor) else memoryview(dst).nbytes
            if out_bytes > room:
                raise BackendError(f"{self.name}: the output is {out_bytes} bytes, its region span {room}")
        if src is not None and value_range is not None:  # on the GPU before the graph could index with it (a sync)
            torch.cuda.set_stream(self.stream)
            lo, hi = value_range
            x = src.view(getattr(torch, DATATYPES[datatype][0]))
            if bool(((x < lo) | (x > hi)).any()):
                raise BackendError(f"{self.name}: an input element is outside [{lo}, {hi}]")
        cu, h = self.cu, self.stream_handle
        with self.enqueue_lock:
            if cu is not None and datatype == self.in_datatype:
                # same bytes as the static input's: one copy, asynchronous from page-locked memory (registered regions
                # and rings) or device memory, staged by the driver from pageable memory; the rest of the batch zeroed
                # (valid for every zoo input: token id 0, a black image; items are independent)
                if src is not None:
                    cu.dtod(self.static_ptr, src.data_ptr(), nbytes, h)
                elif nbytes:
                    cu.htod(self.static_ptr, _host_address(body), nbytes, h)
                if n < self.batch:
                    cu.memset8(self.static_ptr + nbytes, 0, (self.batch - n) * per_item, h)
                cu.record(slot.start_handle, h)
                if graph_exec is not None:
                    cu.launch(graph_exec, h)
                else:
                    execd.request()
                cu.record(slot.end_handle, h)
                if dst is None:
                    cu.dtoh(slot.host_address, out_ptr, out_bytes, h)
                elif isinstance(dst, torch.Tensor):
                    cu.dtod(dst.data_ptr(), out_ptr, out_bytes, h)
                else:
                    cu.dtoh(_host_address(dst), out_ptr, out_bytes, h)
                cu.record(slot.done_handle, h)
            else:
                # torch's copies, and the launch (a torch replay, paris_serve), on the worker's stream
                torch.cuda.set_stream(self.stream)
                src_dtype = getattr(torch, DATATYPES[datatype][0])
                x = (src.view(src_dtype) if src is not None else _host_input(torch, body, src_dtype)).reshape(
                    n, *self.item_shape)
                # host-to-device asynchronous from page-locked memory; the GPU converts the datatype if it differs
                self.static[:n].copy_(x, non_blocking=True)
                if n < self.batch:
                    self.static[n:].zero_()
                slot.start.record(self.stream)
                if graph_exec is not None:
                    self.cu.launch(graph_exec, self.stream_handle)
                else:
                    execd.request()
                slot.end.record(self.stream)
                flat = execd.output[:n].reshape(-1).view(torch.uint8)
                if dst is None:
                    target = slot.host
                else:
                    target = dst if isinstance(dst, torch.Tensor) else torch.frombuffer(dst, dtype=torch.uint8)
                target[:out_bytes].copy_(flat, non_blocking=True)
                slot.done.record(self.stream)
        slot.n, slot.to_dst = n, dst is not None
        return slot

    def finish(self, slot):
        """Waits for `slot`'s execution; (shape, datatype, data or None when it went to its destination, µs)."""
        # a blocking-sync event: the thread sleeps (GIL released) until the copies above are done, the input's
        # source free from then on too
        d = self.d
        if d is not None:
            _ok(d.cuEventSynchronize(slot.done_handle), "cuEventSynchronize")
            us = self.cu.elapsed_ms(slot.start_handle, slot.end_handle) * 1e3
        else:
            slot.done.synchronize()
            us = slot.start.elapsed_time(slot.end) * 1e3
        n = slot.n
        data = None if slot.to_dst else slot.host_bytes[: n * self.out_item_bytes]
        return [n, *self.out_shape], self.out_datatype, data, us


@dataclass
class _Slot:
    start: object
    end: object
    done: object
    host: object  # page-locked output buffer (a flat uint8 torch tensor)
    host_bytes: object  # the same memory as a numpy array
    # the events' and the buffer's addresses, read once (the request path passes them to the driver)
    start_handle: int = 0
    end_handle: int = 0
    done_handle: int = 0
    n: int = 0
    to_dst: bool = False

    def __post_init__(self):
        self.host_address = self.host_bytes.ctypes.data


def _ok(result, what: str) -> None:
    """A driver call's result: raises BackendError naming the call on any error (cuda.check, without its unpacking)."""
    err = result[0] if isinstance(result, tuple) else result
    if err:
        check((err,), what)


def _host_address(buf) -> int:
    """The address of a host buffer (bytes, bytearray, memoryview of a mapping), read-only ones included."""
    import numpy  # noqa: PLC0415

    return numpy.frombuffer(buf, dtype=numpy.uint8).ctypes.data


def _host_input(torch, body, dtype):
    """`body` as a flat CPU tensor of `dtype`, in place where it can be: torch.frombuffer needs a writable buffer (the
    ring's mapping and the frame's bytearray are) and wants elements aligned (ring spans are; a frame's body follows
    its header at any offset); otherwise one copy, as before."""
    view = memoryview(body)
    if not view.readonly:
        x = torch.frombuffer(view, dtype=dtype)
        if x.data_ptr() % x.element_size() == 0:
            return x
    return torch.frombuffer(bytearray(view), dtype=dtype)


_OWN: list = []


def _own_resources() -> tuple:
    """Layout, pool and NVML of a Serving used without the protocol's Runner (the GPU tests)."""
    if not _OWN:
        layout = read_layout()
        _OWN.append((layout, PartitionPool(layout), Energy()))
    return _OWN[0]


def _exit_fatal(text: str) -> None:
    flush_frames()  # the error answering the request goes out before the process does
    sys.stderr.write(f"eclip_gpu: fatal CUDA error, exiting so the process can be restarted: {text}\n")
    sys.stderr.flush()
    os._exit(3)
