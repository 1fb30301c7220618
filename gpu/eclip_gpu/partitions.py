"""SM partitions: the slice layout of the device and the pool of green contexts built from it.

The device's SMs are split ONCE into slices (`cuDevSmResourceSplitByCount` at the minimum partition size); every
partition is a union of slices of that one split, built as one green context with its own stream. Partitions are
created at start-up and reused: creating one costs ~1.8 ms (docs/design.md §7), far too much for the request path.

Streams have a priority (`STREAM_PRIORITIES`): `normal`, CUDA's default and its lowest, and `high`, the device's
highest, whose pending thread blocks the block scheduler dispatches before those of normal streams (a real-time
worker's, plan field `streamPriority`; issue #20). Running blocks are never preempted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from .cuda import BackendError, check, compile_kernel, device, driver, versions
from .steps import step


# a stream's priority by name: `normal` is CUDA's default (the least), `high` the device's greatest
STREAM_PRIORITIES = ("normal", "high")


def priority_value(level: str) -> int:
    """The CUDA stream priority of `level` (lower numbers are served first): 0, CUDA's default, for normal streams;
    the device's greatest for high ones (asked through the runtime API, which makes the device's primary context
    current on this thread where it is not yet)."""
    if level not in STREAM_PRIORITIES:
        raise BackendError(f"unknown stream priority {level!r} (known: {', '.join(STREAM_PRIORITIES)})")
    if level == "normal":
        return 0
    from cuda.bindings import runtime  # noqa: PLC0415

    err, _least, greatest = runtime.cudaDeviceGetStreamPriorityRange()
    if int(err) != 0:
        raise BackendError(f"cudaDeviceGetStreamPriorityRange failed: {err}")
    return int(greatest)


def ordinary_stream(level: str = "normal", device_index: int = 0):
    """A full-GPU stream (no green context) at `level`: torch's own for normal ones (as before priorities), one made
    with cuStreamCreateWithPriority for high ones (torch clamps its priorities to a range of its own). Made once per
    worker and kept: not for the request path."""
    import torch  # noqa: PLC0415

    if level == "normal":
        return torch.cuda.Stream(device=device_index)
    d = driver()
    s = check(d.cuStreamCreateWithPriority(d.CUstream_flags.CU_STREAM_NON_BLOCKING, priority_value(level)),
              "cuStreamCreateWithPriority")
    return torch.cuda.ExternalStream(int(s), device=device_index)


@dataclass
class Partition:
    id: int
    slices: tuple[int, ...]
    sms: int
    green_ctx: object
    cu_stream: object
    torch_stream: object = None
    create_ms: float = 0.0
    # the stream's priority (STREAM_PRIORITIES)
    priority: str = "normal"


@dataclass
class SliceLayout:
    """The one device-wide split: regular slices + an optional remainder, as CUdevResource objects."""

    sm_count: int
    min_size: int
    alignment: int
    groups: list  # CUdevResource per regular slice
    remainder: object | None
    remainder_sms: int
    name: str = ""
    memory_bytes: int = 0
    compute_capability: str = ""
    # the CUDA ordinal the split was read off: its green contexts and streams are made on that device (paris.py
    # drives several GPUs from one process; everything else uses device 0)
    device: int = 0

    @property
    def n_slices(self) -> int:
        return len(self.groups) + (1 if self.remainder_sms > 0 else 0)

    def slice_sms(self, i: int) -> int:
        return self.groups[i].sm.smCount if i < len(self.groups) else self.remainder_sms

    def ref(self) -> dict:
        """Which GPU a profile, table or primitives file belongs to (the formats' GpuRef)."""
        return {"name": self.name, "smCount": self.sm_count, "sliceSize": self.min_size}

    def describe(self, sm_ids: dict[int, list[int]] | None = None) -> dict:
        """The GPU description format (schemas/gpu.schema.json)."""
        v = versions()
        slices = []
        for i in range(self.n_slices):
            s = {"id": i, "sms": self.slice_sms(i), "remainder": i >= len(self.groups)}
            if sm_ids and i in sm_ids:
                s["smIds"] = sorted(sm_ids[i])
            slices.append(s)
        return {
            "format": "eclip.gpu/1",
            "name": self.name,
            "computeCapability": self.compute_capability,
            "smCount": self.sm_count,
            "sliceSize": self.min_size,
            "smCoscheduledAlignment": self.alignment,
            "memoryBytes": self.memory_bytes,
            "slices": slices,
            "measured": {
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "method": "cuDeviceGetDevResource + one cuDevSmResourceSplitByCount at minSmPartitionSize"
                + (" + %smid probe per slice" if sm_ids else ""),
                "tool": "eclip_gpu",
                **v,
            },
        }


def read_layout(index: int = 0) -> SliceLayout:
    import torch  # noqa: PLC0415

    d = driver()
    dev = device(index)
    res = check(d.cuDeviceGetDevResource(dev, d.CUdevResourceType.CU_DEV_RESOURCE_TYPE_SM), "cuDeviceGetDevResource")
    total, min_size, align = res.sm.smCount, res.sm.minSmPartitionSize, res.sm.smCoscheduledAlignment
    groups, n, remainder = check(
        d.cuDevSmResourceSplitByCount(total // min_size, res, 0, min_size), "cuDevSmResourceSplitByCount"
    )
    groups = list(groups)[:n]
    rem_sms = remainder.sm.smCount if remainder is not None else 0
    if sum(g.sm.smCount for g in groups) + rem_sms != total:
        raise BackendError(f"slice split does not cover the device: {[g.sm.smCount for g in groups]} + {rem_sms} != {total}")
    props = torch.cuda.get_device_properties(index)
    return SliceLayout(
        sm_count=total,
        min_size=min_size,
        alignment=align,
        groups=groups,
        remainder=remainder if rem_sms > 0 else None,
        remainder_sms=rem_sms,
        name=torch.cuda.get_device_name(index),
        memory_bytes=int(props.total_memory),
        compute_capability=f"{props.major}.{props.minor}",
        device=index,
    )


@dataclass
class SliceSet:
    """A plan's partition as a slice set only, no green context of its own (PartitionPool.declare): what
    `for_worker` and `capture_partition` make a worker's green contexts from."""

    id: int
    slices: tuple[int, ...]
    sms: int


@dataclass
class PartitionPool:
    """Green-context partitions created once; `get(slices)` returns the one for a slice set. Counts the green contexts
    it has made and how long each took (`made`: a load while others serve reports them)."""

    layout: SliceLayout
    partitions: dict[tuple[int, ...], Partition] = field(default_factory=dict)
    worker_partitions: dict[tuple, Partition] = field(default_factory=dict)
    # a serving worker's capture streams, each in the green context of its partition there (capture_partition)
    capture_partitions: dict[tuple, Partition] = field(default_factory=dict)
    create_ms: list = field(default_factory=list)

    def _key(self, slices) -> tuple[int, ...]:
        key = tuple(sorted(set(int(s) for s in slices)))
        if not key or key[0] < 0 or key[-1] >= self.layout.n_slices:
            raise BackendError(
                f"partition {list(slices)} is not a union of slices 0..{self.layout.n_slices - 1} of this GPU's split"
            )
        return key

    def _make(self, slices: tuple[int, ...], pid: int, priority: str = "normal") -> Partition:
        part = make_partition(self.layout, slices, pid, priority)
        self.create_ms.append(part.create_ms)
        return part

    def made(self, since: int = 0) -> tuple[int, float, float]:
        """Green contexts made after the first `since`: (how many, total ms, the longest ms)."""
        ms = self.create_ms[since:]
        return len(ms), sum(ms), max(ms, default=0.0)

    def create(self, slices, pid: int | None = None) -> Partition:
        key = self._key(slices)
        if key in self.partitions:
            return self.partitions[key]
        part = self._make(key, pid if pid is not None else len(self.partitions))
        self.partitions[key] = part
        return part

    def declare(self, slices, pid: int) -> Partition | SliceSet:
        """A plan's partition where only workers' own green contexts will run kernels (serving): the pool's partition
        if it has one already, else the slice set alone — no green context made for it."""
        key = self._key(slices)
        if key in self.partitions:
            return self.partitions[key]
        return SliceSet(pid, key, sum(self.layout.slice_sms(i) for i in key))

    def whole(self) -> Partition:
        return self.create(range(self.layout.n_slices))

    def get(self, slices) -> Partition:
        key = tuple(sorted(set(int(s) for s in slices)))
        if key not in self.partitions:
            raise BackendError(f"no partition with slices {list(key)} in the pool (pools are built at start-up)")
        return self.partitions[key]

    def for_worker(self, part: Partition, worker: str, priority: str = "normal") -> Partition:
        """`part`'s slices as a green context and stream of `worker`'s own, its stream at `priority`. Workers share
        SMs, never a queue: with one stream per partition their groups queued in one FIFO (stream mode), and with one
        context per partition their graphs' nodes ran in lockstep too (graph mode: on an H200, co-located workers
        completed requests at one common rate or simple ratios of it, e.g. 396/198/405 req/s, where baseline gave
        352/117/1167)."""
        key = (part.slices, worker, priority)
        if key not in self.worker_partitions:
            self.worker_partitions[key] = self._make(part.slices, part.id, priority)
        return self.worker_partitions[key]

    def capture_partition(self, part, worker: str, priority: str = "normal") -> Partition:
        """`worker`'s own partition of `part`'s slices (for_worker: its green context, made if it has none) with a
        second stream of its own: where a worker that is serving is captured under another plan, on a stream none of
        its requests is launched on, its kernels in the green context its other captures use (already set up, its
        kernels loaded there; no context made for the capture where the worker has one)."""
        key = (part.slices, worker, priority)
        if key not in self.capture_partitions:
            own = self.for_worker(part, worker, priority)
            d = driver()
            with step("capture stream"):
                stream = check(d.cuGreenCtxStreamCreate(own.green_ctx, d.CUstream_flags.CU_STREAM_NON_BLOCKING,
                                                        priority_value(priority)), "cuGreenCtxStreamCreate")
            import torch  # noqa: PLC0415

            ts = torch.cuda.ExternalStream(int(stream), device=self.layout.device)
            self.capture_partitions[key] = replace(own, cu_stream=stream, torch_stream=ts, create_ms=0.0)
        return self.capture_partitions[key]

    def close(self) -> None:
        # Streams and green contexts must outlive every graph that uses them (docs/design.md §8): call only after
        # graphs die.
        d = driver()
        for p in self.capture_partitions.values():
            d.cuStreamDestroy(p.cu_stream)  # its green context is its worker partition's, destroyed below
        for p in [*self.worker_partitions.values(), *self.partitions.values()]:
            d.cuStreamDestroy(p.cu_stream)
            d.cuGreenCtxDestroy(p.green_ctx)
        self.capture_partitions.clear()
        self.worker_partitions.clear()
        self.partitions.clear()


def make_partition(layout: SliceLayout, slices: tuple[int, ...], pid: int = 0, priority: str = "normal") -> Partition:
    """One green context over the union of `slices` (+ its non-blocking stream at `priority`) on the layout's device.
    Not for the request path."""
    import torch  # noqa: PLC0415

    d = driver()
    t0 = time.perf_counter()
    resources = [layout.groups[i] if i < len(layout.groups) else layout.remainder for i in slices]
    desc = check(d.cuDevResourceGenerateDesc(resources, len(resources)), f"cuDevResourceGenerateDesc{list(slices)}")
    with step(f"green context {'+'.join(map(str, slices))}"):
        ctx = check(d.cuGreenCtxCreate(desc, device(layout.device), d.CUgreenCtxCreate_flags.CU_GREEN_CTX_DEFAULT_STREAM),
                    "cuGreenCtxCreate")
    with step("green context stream"):
        stream = check(d.cuGreenCtxStreamCreate(ctx, d.CUstream_flags.CU_STREAM_NON_BLOCKING, priority_value(priority)),
                       "cuGreenCtxStreamCreate")
    ms = (time.perf_counter() - t0) * 1e3
    sms = sum(layout.slice_sms(i) for i in slices)
    got = check(d.cuGreenCtxGetDevResource(ctx, d.CUdevResourceType.CU_DEV_RESOURCE_TYPE_SM), "cuGreenCtxGetDevResource")
    if got.sm.smCount != sms:
        raise BackendError(f"green context for slices {list(slices)} has {got.sm.smCount} SMs, expected {sms}")
    # the stream's device, said explicitly: ExternalStream defaults to the current device, and torch switches to the
    # stream's device (and takes its current stream there) whenever the stream is entered or replayed on
    ts = torch.cuda.ExternalStream(int(stream), device=layout.device)
    return Partition(id=pid, slices=slices, sms=sms, green_ctx=ctx, cu_stream=stream, torch_stream=ts, create_ms=ms,
                     priority=priority)


def destroy_partition(p: Partition) -> None:
    d = driver()
    check(d.cuStreamDestroy(p.cu_stream), "cuStreamDestroy")
    check(d.cuGreenCtxDestroy(p.green_ctx), "cuGreenCtxDestroy")


SMID_SRC = r"""
extern "C" __global__ void smid(unsigned int* out, int n) {
  unsigned int id; asm volatile("mov.u32 %0, %%smid;" : "=r"(id));
  // spin a little so blocks spread over every SM the partition has
  long long t0 = clock64(); while (clock64() - t0 < 20000) {}
  if (threadIdx.x == 0 && blockIdx.x < n) out[blockIdx.x] = id;
}
"""


def smid_probe(part: Partition, blocks: int = 2048) -> set[int]:
    """SM ids that a kernel launched on `part`'s stream actually ran on (NVRTC-compiled %smid reader)."""
    import ctypes  # noqa: PLC0415

    import torch  # noqa: PLC0415

    d = driver()
    global _SMID_FUNC
    if _SMID_FUNC is None:
        _SMID_FUNC = compile_kernel(SMID_SRC, "smid")
    out = torch.full((blocks,), -1, dtype=torch.int32, device="cuda")
    torch.cuda.synchronize()
    args = ((out.data_ptr(), blocks), (ctypes.c_void_p, ctypes.c_int))
    check(d.cuLaunchKernel(_SMID_FUNC, blocks, 1, 1, 32, 1, 1, 0, part.cu_stream, args, 0), "cuLaunchKernel(smid)")
    check(d.cuStreamSynchronize(part.cu_stream), "cuStreamSynchronize")
    return set(int(x) for x in out.cpu().tolist() if x >= 0)


_SMID_FUNC = None
