"""The per-kernel profiler: every kernel's solo time at every partition size, and the primitives.

Method: for each partition size (1 … n regular slices, then the whole GPU) the request is captured as one CUDA graph
on that partition's stream (a graph captured on a green stream keeps its partition), replayed `repeats` times under
torch.profiler (CUDA activity records, no CPU launch gaps inside a graph), and each kernel's time is the median over
the replays. The request latency at each size is the median of CUDA-event-timed replays without the profiler.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time

from . import zoo
from .capture import capture_one, warm_up
from .cuda import BackendError, versions
from .partitions import PartitionPool


def ladder(pool: PartitionPool) -> list:
    """Partitions of 1 … n regular slices (anchored at slice 0) and the whole GPU."""
    n_reg = len(pool.layout.groups)
    parts = [pool.create(range(k)) for k in range(1, n_reg + 1)]
    whole = pool.whole()
    if whole.sms != parts[-1].sms:
        parts.append(whole)
    return parts


def kernel_times_us(graph, stream, repeats: int) -> tuple[list[list[float]], list]:
    """Replays the graph `repeats` times under the profiler; returns per replay the kernel durations in order."""
    import torch  # noqa: PLC0415
    from torch.profiler import ProfilerActivity, profile  # noqa: PLC0415

    with torch.cuda.stream(stream):
        for _ in range(3):
            graph.replay()
    stream.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        with torch.cuda.stream(stream):
            for _ in range(repeats):
                graph.replay()
        stream.synchronize()
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        prof.export_chrome_trace(path)
        with open(path) as f:
            trace = json.load(f)
    finally:
        os.unlink(path)
    ev = sorted((e for e in trace.get("traceEvents", []) if e.get("cat") == "kernel"), key=lambda e: e["ts"])
    if len(ev) % repeats:
        raise BackendError(f"profiler saw {len(ev)} kernels in {repeats} replays: not a whole number per replay")
    n = len(ev) // repeats
    return [[float(e["dur"]) for e in ev[r * n : (r + 1) * n]] for r in range(repeats)], [
        (e["name"], e.get("args", {}).get("grid"), e.get("args", {}).get("block")) for e in ev[:n]
    ]


def request_latency_us(graph, stream, iters: int) -> float:
    import torch  # noqa: PLC0415

    times = []
    with torch.cuda.stream(stream):
        for _ in range(3):
            graph.replay()
        for _ in range(iters):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            graph.replay()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b) * 1e3)
    return statistics.median(times)


def profile_model(pool: PartitionPool, parts: list, name: str, batch: int, dtype: str, repeats: int = 10,
                  latency_iters: int = 30, log=print) -> dict:
    """One profile in the profile format (schemas/profile.schema.json)."""
    import torch  # noqa: PLC0415

    t0 = time.perf_counter()
    built = zoo.build(name, batch, dtype)
    warm_up(built, [p.torch_stream for p in parts], iters=1)
    whole = parts[-1]
    ref = capture_one(built, whole.torch_stream)
    n = len(ref.kernels)
    times_by_size: list[list[float]] = []
    request_us: list[float] = []
    mismatches = []
    order_mismatches = 0
    for p in parts:
        cap = ref if p is whole else capture_one(built, p.torch_stream, track_ops=False)
        if cap.fingerprint != ref.fingerprint:
            mismatches.append(p.sms)
        per_replay, seen = kernel_times_us(cap.graphs[0], p.torch_stream, repeats)
        if len(per_replay[0]) != n:
            raise BackendError(f"{name}: {len(per_replay[0])} profiled kernels at {p.sms} SMs, graph has {n}")
        # times are matched to graph nodes by position: count where the profiler's launch dims disagree
        order_mismatches += sum(
            1 for (_, grid, _), k in zip(seen, cap.kernels) if isinstance(grid, list) and tuple(grid) != tuple(k.grid)
        )
        times_by_size.append([statistics.median(r[i] for r in per_replay) for i in range(n)])
        request_us.append(request_latency_us(cap.graphs[0], p.torch_stream, latency_iters))
        if cap is not ref:
            del cap
        torch.cuda.synchronize()
    ref_kernels, ref_fp, ref_op_starts = ref.kernels, ref.fingerprint, ref.op_starts
    del ref
    v = versions()
    sizes = [p.sms for p in parts]
    kernels = [
        {"index": i, **k.as_dict(), "timesUs": [round(times_by_size[s][i], 3) for s in range(len(sizes))]}
        for i, k in enumerate(ref_kernels)
    ]
    prof = {
        "format": "eclip.profile/1",
        "gpu": pool.layout.ref(),
        "model": name,
        "batch": batch,
        "dtype": dtype,
        "fingerprint": ref_fp,
        "sizes": sizes,
        "kernels": kernels,
        "opStarts": ref_op_starts,
        "requestUs": [round(x, 3) for x in request_us],
        "kernelSumRatio": [round(sum(times_by_size[s]) / request_us[s], 4) for s in range(len(sizes))],
        "repeats": repeats,
        "measured": {
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "method": "graph captured on each partition's green-context stream, replayed under torch.profiler "
            f"(CUDA activities), median of {repeats} replays per kernel; request latency = median of {latency_iters} "
            "CUDA-event-timed replays",
            "tool": "eclip_gpu",
            **v,
            "notes": f"profiled in {time.perf_counter() - t0:.1f} s"
            + (f"; kernel sequence differed from the whole-GPU capture at {mismatches} SMs" if mismatches else "")
            + (f"; profiler and graph launch dims disagreed at {order_mismatches} kernel positions" if order_mismatches
               else "; profiler records matched the graph's kernels position by position"),
        },
    }
    del built
    torch.cuda.empty_cache()
    return prof

