"""Capture: a worker's forward pass as CUDA graph(s), its kernel list in launch order, and its op boundaries.

Kernels are read off the captured graph itself (kernel nodes, in creation order = launch order for a one-stream
capture): name, grid, block, dynamic shared memory. Names are demangled with the CUDA toolkit's cu++filt when present.

Op boundaries: the executor can only change partition *between* PyTorch ops (it switches the capturing stream in a
TorchDispatchMode hook), so each profile records at which kernel indices a new op begins (`opStarts`); a group
boundary inside an op is moved to the op's first kernel.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from dataclasses import dataclass, field

from .conv_target import conv_lanes_mode
from .cuda import BackendError, check, driver
from .fingerprint import fingerprint
from .steps import step


@dataclass
class KernelInfo:
    name: str
    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    shared_mem_bytes: int

    def as_dict(self) -> dict:
        return {"name": self.name, "grid": list(self.grid), "block": list(self.block), "sharedMemBytes": self.shared_mem_bytes}


def _op_hook_mode(before):
    """A TorchDispatchMode calling before(op_index) ahead of every aten op."""
    from torch.utils._python_dispatch import TorchDispatchMode  # noqa: PLC0415

    class OpHook(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            before(self.n)
            self.n += 1
            return func(*args, **(kwargs or {}))

    return OpHook()


def captured_node_count(cu_stream) -> int:
    """Nodes in the graph the stream is capturing into right now."""
    d = driver()
    info = check(d.cuStreamGetCaptureInfo(cu_stream), "cuStreamGetCaptureInfo")
    status, graph = info[0], info[2]
    if status != d.CUstreamCaptureStatus.CU_STREAM_CAPTURE_STATUS_ACTIVE:
        raise BackendError("stream is not capturing")
    return int(check(d.cuGraphGetNodes(graph, 0), "cuGraphGetNodes")[1])


def graph_kernels(raw_graph) -> tuple[list[KernelInfo], list[int]]:
    """Kernel nodes of a graph in creation order, and for each node position the number of kernels before it."""
    d = driver()
    g = d.CUgraph(int(raw_graph))
    n = int(check(d.cuGraphGetNodes(g, 0), "cuGraphGetNodes")[1])
    nodes, _ = check(d.cuGraphGetNodes(g, n), "cuGraphGetNodes")
    kernels: list[KernelInfo] = []
    kernels_before: list[int] = []
    raw_names = []
    for node in nodes:
        kernels_before.append(len(kernels))
        t = check(d.cuGraphNodeGetType(node), "cuGraphNodeGetType")
        if t != d.CUgraphNodeType.CU_GRAPH_NODE_TYPE_KERNEL:
            continue
        p = check(d.cuGraphKernelNodeGetParams(node), "cuGraphKernelNodeGetParams")
        if int(p.func) != 0:
            name = check(d.cuFuncGetName(p.func), "cuFuncGetName")
        else:
            name = check(d.cuKernelGetName(p.kern), "cuKernelGetName")
        raw_names.append(name.decode() if isinstance(name, bytes) else str(name))
        kernels.append(
            KernelInfo("", (p.gridDimX, p.gridDimY, p.gridDimZ), (p.blockDimX, p.blockDimY, p.blockDimZ), int(p.sharedMemBytes))
        )
    kernels_before.append(len(kernels))
    for k, name in zip(kernels, demangle(raw_names)):
        k.name = name
    return kernels, kernels_before


def demangle(names: list[str]) -> list[str]:
    tool = shutil.which("cu++filt") or shutil.which("c++filt")
    if not tool or not names:
        return names
    out = subprocess.run([tool], input="\n".join(names) + "\n", capture_output=True, text=True, check=False).stdout
    lines = out.splitlines()
    return lines if len(lines) == len(names) else names


@dataclass
class Captured:
    """One worker's captured request: graph(s), kernel list, and op starts (kernel indices)."""

    graphs: list  # torch.cuda.CUDAGraph, one per segment (one for whole/graph mode; one per group in stream mode)
    kernels: list[KernelInfo]
    op_starts: list[int]
    output: object
    fingerprint: str
    # for every op in dispatch order, the number of kernels launched before it (track_ops captures only)
    per_op: list[int] = field(default_factory=list)


def warm_up(built, streams, iters: int = 2) -> None:
    """Runs the forward eagerly on every stream that will capture: cuBLAS/cuDNN set up per-stream state on first use,
    and doing that inside a capture invalidates it (docs/design.md §8)."""
    import torch  # noqa: PLC0415

    with torch.inference_mode():
        for s in streams:
            with step(f"warm-up {s.cuda_stream:#x}"), torch.cuda.stream(s):
                for _ in range(iters):
                    built.forward()
                s.synchronize()


def capture_one(built, stream, pool=None, track_ops: bool = True, lane=None, seen: dict | None = None) -> Captured:
    """The whole request as one graph on `stream` (a partition's stream: the graph keeps that partition). `lane`: its
    convolutions run by that conv lane (conv_target.py; the capture then in thread-local mode, so the lane's thread may
    launch into it); `seen`: the lanes mode's counts, updated."""
    import torch  # noqa: PLC0415

    d = driver()
    cu = d.CUstream(int(stream.cuda_stream))
    node_counts: list[int] = []
    g = torch.cuda.CUDAGraph(keep_graph=True)
    hook = _op_hook_mode(lambda i: node_counts.append(captured_node_count(cu))) if track_ops else None
    lanes = (conv_lanes_mode(lambda s: lane if s.cuda_stream == stream.cuda_stream else None, seen)
             if lane is not None else contextlib.nullcontext())
    with torch.inference_mode():
        with torch.cuda.graph(g, stream=stream, pool=pool,
                              capture_error_mode="thread_local" if lane is not None else "global"), lanes:
            if hook is not None:
                with hook:
                    out = built.forward()
            else:
                out = built.forward()
    g.instantiate() if hasattr(g, "instantiate") else None
    kernels, kernels_before = graph_kernels(g.raw_cuda_graph())
    per_op = [kernels_before[min(c, len(kernels_before) - 1)] for c in node_counts]
    op_starts = sorted(set(per_op) | {0})
    op_starts = [k for k in op_starts if k < len(kernels)]
    return Captured([g], kernels, op_starts, out, fingerprint([k.as_dict() for k in kernels]), per_op)


def snap_groups(groups: list[dict], op_starts: list[int]) -> tuple[list[dict], int]:
    """Moves each group boundary that falls inside an op to that op's first kernel; returns (groups, moved)."""
    starts = set(op_starts)
    out: list[dict] = []
    moved = 0
    for g in groups:
        first = g["first"]
        if first != 0 and first not in starts:
            moved += 1
            first = max(s for s in op_starts if s <= first)
        if out and first <= out[-1]["first"]:
            continue  # swallowed by the previous group
        if out:
            out[-1]["last"] = first - 1
        out.append({"first": first, "last": g["last"], "partition": g["partition"]})
    if out:
        out[-1]["last"] = groups[-1]["last"]
    return out, moved
