"""Where a co-located worker's time goes, kernel by kernel: each plan's workers in the bench's closed loop, then traced.

The simulator's per-worker error (a worker's co-located rate) is what a plan's floors hinge on; a closed-loop run
gives only each worker's requests. This runs the plans given (same mix and batch: one arm each; `eclip plan` makes
them, or a recorded series' plans/), every worker captured as the bench's runner captures it, and per arm:
  1. the closed loop without the profiler (the bench's own loop, one thread per worker): each worker's req/s;
  2. after every arm's unprofiled window (CUPTI stays attached once torch.profiler ran, and graph launches slow: the
     profiler's docs/design.md §8 hazard), the same loop under torch.profiler for a short window: every kernel's
     start and end, matched to its worker through the graph launch it came from (its host thread).
Per worker and kernel index it writes the median and mean duration and idle time before the kernel (from the end of
the request's previous kernel in start order; 0 for the first): the first is what sharing SMs and memory does to a
kernel, the second what waiting for SMs (and the launch) adds. Where branches of a graph run side by side
(resnext101) their order changes from request to request and the idle times mean nothing. One request's kernels as
they ran (start, duration, stream) are kept per worker. Each worker alone on the whole GPU is traced too, as the
same kernel's reference.

    python3 gpu/scripts/kernel-trace.py --plans a.plan.json,b.plan.json [--window-s 2] [--trace-s 0.25] --out DIR
        (GPU machine; writes DIR/MIX.bB.trace.json)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eclip_gpu.execute import closed_loop, kernel_partitions, prepare_worker  # noqa: E402
from eclip_gpu.gemm_target import plan_gemm_target  # noqa: E402
from eclip_gpu.identity import check_plan_gpu  # noqa: E402
from eclip_gpu.runner import Runner  # noqa: E402


def log(msg: str) -> None:
    print(f"[kernel-trace {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2] if s else float("nan")


def capture(runner: Runner, plan: dict, arm: str) -> list:
    """The plan's workers captured as Runner.run captures them (each worker its own streams, tagged by arm)."""
    parts = {p["id"]: runner.pool.create(p["slices"], p["id"]) for p in plan["pool"]["partitions"]}
    out = []
    for w in plan["workers"]:
        groups = None if plan["policy"] == "baseline" else [dict(g) for g in w["groups"]]
        mode = "whole" if plan["policy"] in ("baseline", "model-wise") else "graph"
        level = w.get("streamPriority", "normal")
        tag = f"{w['name']}@{arm}"
        wparts = {pid: runner.pool.for_worker(part, tag, level)
                  for pid, part in kernel_partitions(w["name"], groups, parts).items()}
        out.append(prepare_worker(w["name"], runner._built(w), mode, groups, wparts, runner._origin(tag, level),
                                  w["fingerprint"], layout=runner.layout, **plan_gemm_target(w)))
    return out


def rates(raw: dict) -> list[float]:
    """Requests per second of each worker over the window (requests completed inside it)."""
    w0, w1 = raw["windowStartNs"], raw["windowEndNs"]
    return [sum(1 for e in w["endsNs"] if w0 <= e <= w1) / ((w1 - w0) / 1e9) for w in raw["workers"]]


def traced(workers: list, trace_s: float) -> tuple[dict, list[list[dict]]]:
    """The closed loop under torch.profiler; per worker its requests' kernels [(start µs, end µs, name)] in order."""
    from torch.profiler import ProfilerActivity, profile  # noqa: PLC0415

    import torch  # noqa: PLC0415

    tids: dict[int, int] = {}
    lock = threading.Lock()
    for i, w in enumerate(workers):
        if w.done is None:
            w.request().synchronize()  # makes its events

        def tagged(w=w, i=i):
            # the graph launched through the runtime (CUDAGraph.replay: cudaGraphLaunch, which the trace records with
            # its host thread), not the driver call the request path makes
            if i not in tids.values():
                # the trace names a host thread by its pthread id cut to a signed 32-bit number, shown without its
                # sign (or by its system id: every form kept)
                ident = threading.get_ident()
                low = ident & 0xFFFFFFFF
                signed = low - (1 << 32) if low >> 31 else low
                with lock:
                    for tid in (threading.get_native_id(), ident, low, signed, abs(signed)):
                        tids[tid] = i
            with torch.cuda.stream(w.origin):
                w.segments[0][0].replay()
            w.done.record(w.origin)
            return w.done

        w.request = tagged
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        raw = closed_loop(workers, 0.05, trace_s)
    for w in workers:
        del w.request  # the instance attribute: the class's method again
    fd, path = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        prof.export_chrome_trace(path)
        with open(path) as f:
            ev = json.load(f).get("traceEvents", [])
    finally:
        os.unlink(path)
    launches = [e for e in ev if "GraphLaunch" in e.get("name", "") and "correlation" in e.get("args", {})]
    launch_tid = {e["args"]["correlation"]: e.get("tid") for e in launches}
    by_corr: dict[int, list[dict]] = {}
    for e in ev:
        if e.get("cat") == "kernel":
            by_corr.setdefault(e["args"].get("correlation"), []).append(e)
    # each launch's kernels to its worker: by the launch's host thread where the trace has it, else by signature (the
    # first kernel's name and about the worker's kernel count: the executed graph may hold a few more kernels than the
    # profile's list, which bench/kernel-trace.ts aligns by name); same-model workers of a mix are alike: the one with
    # fewest requests so far
    per: list[list[dict]] = [[] for _ in workers]
    unmatched = by_signature = 0
    first_names: dict[int, str] = {}
    sizes: dict[int, int] = {}
    for ks in by_corr.values():
        # the trace lists a launch's kernels stream by stream: in start order, a request that switches partitions
        # (another stream) or branches is read as it ran
        ks.sort(key=lambda e: e["ts"])
    for corr, ks in sorted(by_corr.items(), key=lambda kv: kv[1][0]["ts"]):
        near = [i for i, x in enumerate(workers) if abs(len(ks) - x.kernels) <= max(2, 0.02 * x.kernels)]
        w = tids.get(launch_tid.get(corr, -1))
        if w is None:
            same = [i for i in near if first_names.get(i, ks[0]["name"]) == ks[0]["name"]]
            w = min(same, key=lambda i: len(per[i])) if same else None
            by_signature += w is not None
        if w is None or w not in near:
            unmatched += len(ks)
            sizes[len(ks)] = sizes.get(len(ks), 0) + 1
            continue
        first_names.setdefault(w, ks[0]["name"])
        per[w].append({"k": [(e["ts"], e["ts"] + e["dur"], e["name"]) for e in ks],
                       "streams": [e["args"].get("stream") for e in ks]})
    for i, reqs in enumerate(per):
        # one kernel count per worker (its most common): a launch cut by the window's edges is dropped
        if reqs:
            counts: dict[int, int] = {}
            for r in reqs:
                counts[len(r["k"])] = counts.get(len(r["k"]), 0) + 1
            mode = max(counts, key=lambda c: counts[c])
            per[i] = [r for r in reqs if len(r["k"]) == mode]
    sample = {"launch": launches[0] if launches else None,
              "kernel": next((e for e in ev if e.get("cat") == "kernel"), None), "tids": sorted(tids)}
    return {"unmatchedKernels": unmatched, "bySignature": by_signature, "requests": [len(p) for p in per],
            # the traced loop's own req/s: CUPTI slows the launches, so the workers ran lighter than unprofiled
            "tracedRps": [round(x, 2) for x in rates(raw)],
            "unmatchedSizes": dict(sorted(sizes.items(), key=lambda kv: -kv[1])[:12]),
            "traced": [len(p[0]["k"]) if p else 0 for p in per],
            "expected": [w.kernels for w in workers], "sample": sample}, per


def summarise(workers: list, per: list[list[dict]]) -> list[dict]:
    """Per worker and kernel index: median duration and median idle time before it (µs), over the traced requests
    (the first and last of each worker dropped: the window cuts them)."""
    out = []
    for w, reqs in zip(workers, per):
        reqs = reqs[1:-1] if len(reqs) > 2 else reqs
        n = len(reqs[0]["k"]) if reqs else 0
        dur = [[] for _ in range(n)]
        idle = [[] for _ in range(n)]
        lat = []
        for r in reqs:
            ks = r["k"]
            lat.append(ks[-1][1] - ks[0][0])
            for i, (s, e, _name) in enumerate(ks):
                dur[i].append(e - s)
                if i:
                    idle[i].append(max(0.0, s - ks[i - 1][1]))
        mid = reqs[len(reqs) // 2] if reqs else None
        out.append({
            # one request's kernels as they ran (start offset and duration, µs; stream): where its graph branches
            "raw": [(round(s - mid["k"][0][0], 2), round(e - s, 2), st) for (s, e, _n), st in
                    zip(mid["k"], mid["streams"])] if mid else [],
            "name": w.name,
            "requests": len(reqs),
            "latencyUs": round(median(lat), 2) if lat else None,
            "durUs": [round(median(d), 3) for d in dur],
            "idleUs": [round(median(d), 3) if d else 0.0 for d in idle],
            # means too: under contention a kernel's times are skewed (a few long waits), and the means add up to
            # the request's latency where the medians do not
            "durMeanUs": [round(sum(d) / len(d), 3) if d else 0.0 for d in dur],
            "idleMeanUs": [round(sum(d) / len(d), 3) if d else 0.0 for d in idle],
            "names": [k[2][:80] for k in reqs[0]["k"]] if reqs else [],
        })
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plans", required=True, help="comma-separated plan JSON files of one mix and batch (one arm each)")
    ap.add_argument("--window-s", type=float, default=2.0, help="the unprofiled closed loop's window per arm")
    ap.add_argument("--trace-s", type=float, default=0.25, help="the profiled window per arm")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    plans = [json.loads(Path(p).read_text()) for p in a.plans.split(",")]
    mixes = {(p["mix"], p["workers"][0]["batch"]) for p in plans}
    if len(mixes) != 1:
        sys.exit(f"kernel-trace: the plans are of {sorted(mixes)}: give plans of one mix and batch")
    (mix, batch), = mixes
    runner = Runner()
    for p in plans:
        check_plan_gpu(p["gpu"], runner.layout)
    t0 = time.perf_counter()
    solo_plan = dict(plans[0], policy="baseline")
    arms = {p["policy"] + (f"#{i}" if [q["policy"] for q in plans].count(p["policy"]) > 1 else ""): p
            for i, p in enumerate(plans)}
    captured = {name: capture(runner, p, name) for name, p in arms.items()}
    solo = capture(runner, solo_plan, "solo")
    log(f"{mix} b{batch}: captured {len(arms)} arms + solo in {time.perf_counter() - t0:.1f} s")
    result: dict = {"mix": mix, "batch": batch, "gpu": runner.gpu, "versions": runner.versions,
                    "workers": [w["name"] for w in plans[0]["workers"]], "arms": {}}
    for name, ws in captured.items():
        r = rates(closed_loop(ws, 0.5, a.window_s))
        result["arms"][name] = {"policy": arms[name]["policy"], "rps": [round(x, 2) for x in r]}
        log(f"{name}: req/s {' / '.join(f'{x:.1f}' for x in r)}")
    solo_rps = []
    for w in solo:
        solo_rps.append(round(rates(closed_loop([w], 0.3, a.window_s / 2))[0], 2))
    result["soloRps"] = solo_rps
    log(f"solo req/s {' / '.join(f'{x:.1f}' for x in solo_rps)}")
    # the profiler from here on
    for name, ws in captured.items():
        info, per = traced(ws, a.trace_s)
        result["arms"][name].update(info, workers=summarise(ws, per))
        log(f"{name} traced: requests {info['requests']}, unmatched kernels {info['unmatchedKernels']}")
    result["soloTrace"] = []
    for w in solo:
        info, per = traced([w], a.trace_s / 2)
        result["soloTrace"].append(dict(info, **summarise([w], per)[0]))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{mix}.b{batch}.trace.json"
    path.write_text(json.dumps(result))
    log(f"wrote {path} ({path.stat().st_size // 1024} KiB) in {time.perf_counter() - t0:.1f} s")
    del captured, solo
    runner._release()


if __name__ == "__main__":
    main()
