#!/usr/bin/env python3
"""What making a green context costs a model serving beside it (issue #19's load target), in one process.

One model (MODEL at BATCH, captured as one CUDA graph on an ordinary stream) is replayed in a closed loop on a thread
of its own, DEPTH executions in flight, each one's completion time taken on the host. Meanwhile the main thread, after
BEFORE s, makes N green contexts one after another (each over a slice set of the GPU's split, as eclip's partitions
are), SPACING s apart, each with its stream (make_partition), then does the same with streams only (a second stream in
contexts already made, as a serving model's captures get), then nothing for AFTER s. Per phase: the loop's executions
per second against before, its longest gap between completions, and per step made the loop's executions lost while it
ran (the executions the before-rate would have completed in the step's span and the 20 ms after it, minus those that
completed there).

How the loop waits for an execution (--wait): `spin` (an event with default flags: the host thread spins in the
driver), `blocking` (an event made with blocking sync, as the backend's native path waits: the thread sleeps until
the driver wakes it), `poll` (the blocking event asked with cuEventQuery, 20 µs sleeps between). --green captures the
graph on a green context of the whole split instead of an ordinary stream; --split captures it in graph mode over two
green contexts of the loop's own (slices 0–7 and the rest, its kernels alternating between them in ~7 groups), as a
plan's worker runs; --pre N makes N more green contexts before the loop starts (a serving process holds dozens);
--pinned MB allocates that much page-locked host memory for every context (PORTABLE, as the backend's rings and
reply buffers are) before the contexts are made.

Usage: python3 gpu/scripts/green-ctx-stall.py [--model albert] [--batch 8] [--n 12] [--spacing 0.1]
       [--wait spin|blocking|poll] [--green] [--out FILE.json]
Needs a GPU with green contexts (CUDA >= 12.4). Prints a table; --out keeps every completion and step.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eclip_gpu import zoo  # noqa: E402
from eclip_gpu.cuda import check, driver  # noqa: E402
from eclip_gpu.partitions import destroy_partition, make_partition, priority_value, read_layout  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="albert")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--n", type=int, default=12, help="green contexts to make (default 12)")
    ap.add_argument("--spacing", type=float, default=0.1, help="s between two of them (default 0.1)")
    ap.add_argument("--before", type=float, default=1.0)
    ap.add_argument("--after", type=float, default=1.0)
    ap.add_argument("--wait", choices=["spin", "blocking", "poll"], default="spin")
    ap.add_argument("--green", action="store_true", help="the loop's graph on a green context of the whole split")
    ap.add_argument("--split", action="store_true", help="the loop's graph over two green contexts (graph mode)")
    ap.add_argument("--pre", type=int, default=0, help="green contexts made before the loop starts (default 0)")
    ap.add_argument("--pinned", type=int, default=0, help="MB of portable page-locked host memory held (default 0)")
    ap.add_argument("--out")
    a = ap.parse_args()

    import torch  # noqa: PLC0415

    built = zoo.build(a.model, a.batch, "fp16")
    layout = read_layout(0)
    n = layout.n_slices
    held = [make_partition(layout, tuple(range(i % (n - 3), i % (n - 3) + 1 + i % 3))) for i in range(a.pre)]
    d = driver()
    pinned = [check(d.cuMemHostAlloc(64 << 20, d.CU_MEMHOSTALLOC_PORTABLE), "cuMemHostAlloc")
              for _ in range(a.pinned // 64)]
    whole = make_partition(layout, tuple(range(n))) if a.green else None
    own = [make_partition(layout, tuple(range(8))), make_partition(layout, tuple(range(8, n)))] if a.split else []
    stream = whole.torch_stream if whole is not None else torch.cuda.Stream()
    with torch.inference_mode(), torch.cuda.stream(stream):
        for _ in range(3):
            built.forward()
    stream.synchronize()
    if a.split:
        from eclip_gpu.execute import op_kernel_starts, prepare_worker  # noqa: PLC0415

        _, dry = op_kernel_starts(built, stream)
        kernels, step, groups = len(dry.kernels), max(1, len(dry.kernels) // 7), []
        for i, first in enumerate(range(0, kernels, step)):
            groups.append({"first": first, "last": min(kernels - 1, first + step - 1), "partition": i % 2})
        execd = prepare_worker(a.model, built, "graph", groups, {0: own[0], 1: own[1]}, stream, None, layout=layout)
        g = execd.segments[0][0]
    else:
        g = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(g, stream=stream):
            built.forward()
    torch.cuda.synchronize()

    done: list[float] = []
    stop = threading.Event()

    def wait(ev) -> None:
        if a.wait == "poll":
            while not ev.query():
                time.sleep(20e-6)
        else:
            ev.synchronize()

    def loop() -> None:
        events = [torch.cuda.Event(blocking=a.wait != "spin") for _ in range(a.depth)]
        with torch.cuda.stream(stream):
            for i in range(a.depth):
                g.replay()
                events[i].record(stream)
            i = 0
            while not stop.is_set():
                wait(events[i])
                done.append(time.perf_counter())
                g.replay()
                events[i].record(stream)
                i = (i + 1) % a.depth

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    # slice sets like a plan's: contiguous runs of 2-6 slices, spread over the split
    sets = [tuple(range(s % (n - 5), s % (n - 5) + 2 + s % 5)) for s in range(a.n)]
    steps: list[tuple[str, float, float]] = []
    t0 = time.perf_counter()
    time.sleep(a.before)
    made = []
    for sl in sets:
        s0 = time.perf_counter()
        made.append(make_partition(layout, sl))
        steps.append((f"green context {'+'.join(map(str, sl))}", s0, time.perf_counter()))
        time.sleep(a.spacing)
    extra = []
    for p in made:
        s0 = time.perf_counter()
        extra.append(check(d.cuGreenCtxStreamCreate(p.green_ctx, d.CUstream_flags.CU_STREAM_NON_BLOCKING,
                                                     priority_value("normal")), "cuGreenCtxStreamCreate"))
        steps.append(("stream in a context made", s0, time.perf_counter()))
        time.sleep(a.spacing)
    time.sleep(a.after)
    stop.set()
    t.join(5)
    torch.cuda.synchronize()
    for s in extra:
        d.cuStreamDestroy(s)
    for p in made:
        destroy_partition(p)
    del g
    for p in [*held, *own, *([whole] if whole is not None else [])]:
        destroy_partition(p)
    for ptr in pinned:
        d.cuMemFreeHost(ptr)

    base = [x for x in done if t0 + 0.2 <= x < t0 + a.before]
    rate = (len(base) - 1) / (base[-1] - base[0])
    where = ("two green contexts (graph mode)" if a.split else "a green context of the whole split" if a.green
             else "an ordinary stream")
    rows = [f"{a.model} batch {a.batch}, {a.depth} in flight, waited by {a.wait}, on "
            f"{where}"
            f"{f', {a.pre} more contexts held' if a.pre else ''}{f', {a.pinned} MB pinned' if a.pinned else ''}: "
            f"{rate:.1f} executions/s before; {len(sets)} green contexts "
            f"{a.spacing} s apart, then a stream in each (one process, {torch.cuda.get_device_name()})",
            "| step | ms | executions lost (of the before-rate, its span + 20 ms) | longest gap between completions ms |",
            "|---|---:|---:|---:|"]
    lost_by = {}
    for name, s0, s1 in steps:
        hi = s1 + 0.02
        got = sum(1 for x in done if s0 <= x < hi)
        lost = rate * (hi - s0) - got
        inside = [x for x in done if s0 - 0.05 <= x < hi + 0.05]
        gap = max((b - a_) for a_, b in zip(inside, inside[1:])) * 1e3 if len(inside) > 1 else float("nan")
        kind = name.split(" ")[0]
        lost_by.setdefault(kind, []).append(lost)
        rows.append(f"| {name} | {(s1 - s0) * 1e3:.1f} | {lost:.1f} | {gap:.1f} |")
    for kind, xs in lost_by.items():
        rows.append(f"{kind}: executions lost per step, median {statistics.median(xs):.1f} (lowest {min(xs):.1f}, "
                    f"highest {max(xs):.1f}); at {1e3 / rate:.2f} ms each")
    print("\n".join(rows))
    if a.out:
        Path(a.out).write_text(json.dumps({"rate": rate, "done": [x - t0 for x in done],
                                           "steps": [(nm, s0 - t0, s1 - t0) for nm, s0, s1 in steps]}))


if __name__ == "__main__":
    main()
