"""PARIS's latency tables measured on the GPU (protocol `paris-table`): for one model at each batch and each partition
size of the slice layout (1 … n regular slices anchored at slice 0, then the whole GPU: profiler.ladder, the sizes
PARIS plans with), one CUDA graph captured on that partition's green-context stream (the graph keeps the partition),
replayed: the median of CUDA-event-timed replays after two untimed ones, as many as fit a small time budget per cell
(at least 5). The model is built once (at batch 1; other batches repeat its input) and warmed up eagerly on every
partition stream before the first capture (docs/design.md §8); each graph dies before the next is captured.
"""

from __future__ import annotations

import gc
import statistics
import time

from .capture import warm_up
from .cuda import versions
from .partitions import PartitionPool
from .profiler import ladder


def measure_table(session, msg: dict, progress) -> dict:
    """One model's latency table (format eclip.latency-table/1) at msg's batches on every ladder size, measured on
    `session`'s first GPU with its models (a paris.ParisSession)."""
    torch = session.torch
    model, dtype = msg["model"], msg.get("dtype", "fp16")
    batches = sorted(int(b) for b in msg["batches"])
    cell_s = float(msg.get("cellMs", 100)) / 1e3
    t0 = time.perf_counter()
    pool = PartitionPool(session.layout)
    parts = ladder(pool)
    rows, reps = [], []
    for b in batches:
        tb = time.perf_counter()
        built = session.built(model, b, dtype, session.layout.device)
        warm_up(built, [p.torch_stream for p in parts], iters=1)
        row = []
        for p in parts:
            g, out = session.capture_graph(built, p.torch_stream)
            us, n = _time_graph(torch, g, p.torch_stream, cell_s)
            del g, out  # each graph dies before the next capture; all before the pool closes (docs/design.md §8)
            row.append(round(us, 2))
            reps.append(n)
        rows.append(row)
        del built
        progress(f"{model} b{b}: {row[0] / 1e3:.2f} ms on {parts[0].sms} SMs … {row[-1] / 1e3:.2f} ms on "
                 f"{parts[-1].sms} ({time.perf_counter() - tb:.1f} s)")
    torch.cuda.synchronize()
    gc.collect()
    # only here, with every graph gone: after an error above the pool stays open (a graph may still use it)
    pool.close()
    session.base = {k: v for k, v in session.base.items() if k[0] != model}  # tables are measured one model at a time
    torch.cuda.empty_cache()
    v = versions()
    table = {
        "format": "eclip.latency-table/1",
        "gpu": session.layout.ref(),
        "model": model,
        "dtype": dtype,
        "batches": batches,
        "sizes": [p.sms for p in parts],
        "latencyUs": rows,
        "repeats": min(reps),
        "measured": {
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "method": "measured: per (batch, partition size) one CUDA graph captured on the partition's "
            "green-context stream (sizes: 1..n slices from slice 0, then the whole GPU), 2 untimed replays, then "
            f"the median of CUDA-event-timed replays (>= 5, up to 50 or {cell_s * 1e3:.0f} ms); model warmed up "
            "eagerly on every partition stream first",
            "tool": "eclip_gpu (paris_table.py)",
            **v,
            "notes": f"{len(batches) * len(parts)} cells in {time.perf_counter() - t0:.1f} s; at least "
            f"{min(reps)} replays per cell",
        },
    }
    # validated on the TypeScript side (parseFormat), which owns the format: no fastjsonschema needed here
    return {"table": table, "wallS": round(time.perf_counter() - t0, 2)}

# -- open-loop replay


def _time_graph(torch, graph, stream, budget_s: float, min_reps: int = 5, max_reps: int = 50) -> tuple[float, int]:
    """Median µs of CUDA-event-timed replays of `graph` on `stream` after 2 untimed ones (the first uploads it)."""
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times: list[float] = []
    with torch.cuda.stream(stream):
        graph.replay()
        graph.replay()
        stream.synchronize()
        end = time.perf_counter() + budget_s
        while len(times) < max_reps and (len(times) < min_reps or time.perf_counter() < end):
            a.record()
            graph.replay()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b) * 1e3)
    return statistics.median(times), len(times)
