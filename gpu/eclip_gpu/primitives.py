"""Measures the primitives a plan is executed with (schemas/primitives.schema.json).

- partitionCreate: cuGreenCtxCreate + its stream, from a 1-slice descriptor (what kw-ioctl pays at every switch).
- switchEventWait: GPU-side cost of an event record on one partition's stream + a wait on another's, between two
  tiny kernels. The CPU enqueues everything while a sleep kernel holds the GPU, so launch gaps don't hide it.
- switchGraphEdge: the same alternation inside one CUDA graph (graph mode), against a one-partition chain.
- graphLaunch: host time of one CUDAGraph.replay() of a small graph; kernelLaunch: host time of one eager tiny op
  (torch's dispatcher included, which is what an eager PyTorch request pays).
"""

from __future__ import annotations

import statistics
import time

from .cuda import versions
from .partitions import PartitionPool, destroy_partition, make_partition


def _cost(samples_us: list[float]) -> dict:
    s = sorted(samples_us)
    return {
        "medianUs": round(statistics.median(s), 3),
        "p95Us": round(s[min(len(s) - 1, int(0.95 * len(s)))], 3),
        "samples": len(s),
    }


def measure(pool: PartitionPool, reps: int = 20) -> dict:
    import torch  # noqa: PLC0415

    layout = pool.layout
    create = []
    for _ in range(reps):
        t0 = time.perf_counter()
        p = make_partition(layout, (0,))
        create.append((time.perf_counter() - t0) * 1e6)
        destroy_partition(p)

    a, b = pool.create([0]), pool.create([1])
    x = torch.zeros(1, device="cuda")
    n = 200

    def alternate(streams: list) -> None:
        """n tiny kernels alternating over `streams` (an event record + wait at each change), joined back to the
        first stream: eagerly, or inside a capture, where the same calls become graph edges."""
        prev = streams[0]
        for i in range(n):
            s = streams[i % len(streams)]
            if s is not prev:
                ev = torch.cuda.Event()
                ev.record(prev)
                s.wait_event(ev)
                prev = s
            with torch.cuda.stream(s):
                x.add_(1)
        if prev is not streams[0]:
            ev = torch.cuda.Event()
            ev.record(prev)
            streams[0].wait_event(ev)

    def chain(streams: list) -> float:
        """GPU µs for the alternation, enqueued behind a sleep kernel so CPU launch gaps don't show."""
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        with torch.cuda.stream(streams[0]):
            torch.cuda._sleep(50_000_000)
            start.record()
        alternate(streams)
        with torch.cuda.stream(streams[0]):
            end.record()
        end.synchronize()
        return start.elapsed_time(end) * 1e3

    s_a, s_b = a.torch_stream, b.torch_stream
    for _ in range(3):
        chain([s_a, s_b]), chain([s_a])
    switch = []
    for _ in range(reps):
        two, one = chain([s_a, s_b]), chain([s_a])
        switch.append(max(0.0, (two - one) / (n - 1)))

    def graph_of(streams: list):
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g, stream=streams[0]):
            alternate(streams)
        return g

    with torch.cuda.stream(s_a):
        x.add_(1)
    with torch.cuda.stream(s_b):
        x.add_(1)
    torch.cuda.synchronize()
    g2, g1 = graph_of([s_a, s_b]), graph_of([s_a])

    def gpu_time(g, s) -> float:
        st, en = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        with torch.cuda.stream(s):
            st.record()
            g.replay()
            en.record()
        en.synchronize()
        return st.elapsed_time(en) * 1e3

    for _ in range(3):
        gpu_time(g2, s_a), gpu_time(g1, s_a)
    edge = [max(0.0, (gpu_time(g2, s_a) - gpu_time(g1, s_a)) / (n - 1)) for _ in range(reps)]

    small = torch.cuda.CUDAGraph()
    with torch.cuda.graph(small, stream=s_a):
        x.add_(1)
    launch, kernel = [], []
    with torch.cuda.stream(s_a):
        for i in range(300):
            t0 = time.perf_counter()
            small.replay()
            t1 = time.perf_counter()
            x.add_(1)
            t2 = time.perf_counter()
            if i >= 50:
                launch.append((t1 - t0) * 1e6)
                kernel.append((t2 - t1) * 1e6)
            if i % 50 == 0:
                s_a.synchronize()
    torch.cuda.synchronize()
    del g1, g2, small
    v = versions()
    return {
        "format": "eclip.primitives/1",
        "gpu": layout.ref(),
        "partitionCreate": _cost(create),
        "switchEventWait": _cost(switch),
        "switchGraphEdge": _cost(edge),
        "graphLaunch": _cost(launch),
        "kernelLaunch": _cost(kernel),
        "measured": {
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "method": "eclip_gpu.primitives: see the module docstring; switch costs = (alternating − one-partition "
            f"chain)/switches over {n} tiny kernels",
            "tool": "eclip_gpu",
            **v,
        },
    }
