"""The per-kernel profiler: every kernel's solo time at every partition size, and the primitives.

Method: for each partition size (1 … n regular slices, then the whole GPU) the request is captured as one CUDA graph
on that partition's stream (a graph captured on a green stream keeps its partition), replayed `repeats` times under
torch.profiler (CUDA activity records, no CPU launch gaps inside a graph), and each kernel's time is the median over
the replays. The request latency at each size is the median of CUDA-event-timed replays, timed before torch.profiler
first runs in the process: once it has run, CUPTI stays attached (PyTorch leaves it so where CUDA graphs are used) and
every later graph launch of the process is slower, so latencies timed after it describe the profiler, not the model
(docs/profile.md). `retime_profile` re-times an existing profile's request latencies the same way.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import tempfile
import time
from typing import NamedTuple

from . import zoo
from .capture import capture_one, warm_up
from .conv_target import LANES
from .cuda import BackendError, versions
from .gemm_target import targeted
from .partitions import PartitionPool


LATENCY_METHOD = (
    "request latency = median of {iters} CUDA-event-timed replays, timed before the profiler ran in the process"
)


def ladder(pool: PartitionPool) -> list:
    """Partitions of 1 … n regular slices (anchored at slice 0) and the whole GPU."""
    n_reg = len(pool.layout.groups)
    parts = [pool.create(range(k)) for k in range(1, n_reg + 1)]
    whole = pool.whole()
    if whole.sms != parts[-1].sms:
        parts.append(whole)
    return parts


# Whether torch.profiler has run in this process (request latencies are no longer clean after it: the top of this file).
_profiler_ran = False


def kernel_times_us(graph, stream, repeats: int) -> tuple[list[list[float]], list, list[list[float]]]:
    """Replays the graph `repeats` times under the profiler; returns per replay the kernel durations in order, the
    first replay's (name, grid, block) per kernel, and per replay each kernel's start (µs, the profiler's clock)."""
    import torch  # noqa: PLC0415
    from torch.profiler import ProfilerActivity, profile  # noqa: PLC0415

    global _profiler_ran
    _profiler_ran = True

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
    ev = graph_kernel_events(trace)
    if len(ev) % repeats:
        raise BackendError(f"profiler saw {len(ev)} kernels in {repeats} replays: not a whole number per replay")
    n = len(ev) // repeats
    return (
        [[float(e["dur"]) for e in ev[r * n : (r + 1) * n]] for r in range(repeats)],
        [(e["name"], e.get("args", {}).get("grid"), e.get("args", {}).get("block")) for e in ev[:n]],
        [[float(e["ts"]) for e in ev[r * n : (r + 1) * n]] for r in range(repeats)],
    )


_MEMSET = re.compile(r"memset\d*")


def graph_kernel_events(trace: dict) -> list[dict]:
    """A chrome trace's kernel events in time order, less the graph's memset nodes: CUPTI reports those as kernels
    named `memset32` and the like, but they are no kernel nodes of the graph (a capture's kernel list leaves them
    out), so counted they would shift every kernel's time onto its neighbour. cuDNN adds them for some engines'
    workspaces (resnext101 at batch 8 in some processes)."""
    ev = [e for e in trace.get("traceEvents", [])
          if e.get("cat") == "kernel" and not _MEMSET.fullmatch(e.get("name", ""))]
    return sorted(ev, key=lambda e: e["ts"])


def op_spans_us(durations: list[float], starts: list[float], op_starts: list[int]) -> list[float]:
    """Each op's span in one replay: from its first kernel's start to its last kernel's end (kernels by position,
    ops by `op_starts`, ascending from 0; an op without kernels spans 0). Less than the op's kernel durations added up
    where its kernels ran side by side."""
    bounds = [*op_starts, len(durations)]
    return [max(starts[k] + durations[k] for k in range(a, b)) - min(starts[k] for k in range(a, b)) if b > a else 0.0
            for a, b in zip(bounds, bounds[1:])]


def _by_op(by_size: list[list[float]]) -> list[list[float]]:
    """Per-size rows of per-op values as the profile stores them: per op, its value at each size (µs, rounded)."""
    return [[round(row[o], 3) for row in by_size] for o in range(len(by_size[0]))]


def request_latency_us(graph, stream, iters: int) -> float:
    """Median of `iters` CUDA-event-timed replays of the graph, each waited for; refused once the profiler has run."""
    if _profiler_ran:
        raise BackendError(
            "request latencies must be timed before torch.profiler runs in this process: after it CUPTI stays "
            "attached and every graph launch is slower (docs/profile.md)"
        )
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


def _capture_targeted(built, part, total: int, track_ops: bool = False, conv_target: bool = False,
                      seen: dict | None = None):
    """A capture of the model on `part`'s stream with its GEMMs picked for `part`'s SMs (warmed up so first: cuBLASLt
    sets up per-stream state at its first call) and, `conv_target`, its convolutions by `part`'s conv lane
    (conv_target.py, benchmarked on a partition of its size first); `seen`: the lanes mode's counts, updated."""
    lane = LANES.lane(part, built) if conv_target else None
    with targeted(part.sms, total):
        warm_up(built, [part.torch_stream], iters=1)
        return capture_one(built, part.torch_stream, track_ops=track_ops, lane=lane, seen=seen)


def op_segments(default_per_op: list[int], n: int, targeted_per_op: list[int], nt: int) -> list[list[int]] | None:
    """The default capture's ops matched to a targeted capture's, as [d0, d1, t0, t1]: default kernels [d0, d1) and
    targeted kernels [t0, t1) of the same ops, one segment per op with default kernels (the ops of `opStarts`), in
    order, the targeted ranges contiguous from 0 to `nt`. An op with no default kernels (a view) joins the next op that
    has some; targeted kernels of trailing ops without default kernels join the last. `*_per_op`: per op, the kernels
    launched before it (Captured.per_op). None when the captures dispatched another number of ops or none were
    tracked."""
    if not default_per_op or len(default_per_op) != len(targeted_per_op):
        return None
    segments: list[list[int]] = []
    d0 = t0 = 0
    for d1, t1 in [*zip(default_per_op, targeted_per_op), (n, nt)]:
        d1, t1 = min(d1, n), max(min(t1, nt), t0)
        if d1 <= d0:
            continue  # no default kernels since the last anchor: its targeted kernels join the next segment
        segments.append([d0, d1, t0, t1])
        d0, t0 = d1, t1
    if not segments:
        return None
    segments[-1][3] = nt
    return segments


def spread_per_op(default_us: list[float], default_per_op: list[int], targeted_us: list[float],
                  targeted_per_op: list[int]) -> list[float] | None:
    """Kernel times of a capture with the GEMM target laid over the default capture's kernels op by op, for a size
    where the target changed the kernel count (cuBLASLt's choice for fewer SMs may add a split-K reduction): each
    op's targeted time is spread over that op's default kernels in proportion to their default times. The executor
    switches partition only at op starts, so every group's time stays the measured one. An op with no default kernels
    (a view) joins the next op that has some. `*_per_op`: per op, the kernels launched before it (Captured.per_op).
    None when the two captures dispatched another number of ops (no op-by-op match) or none were tracked."""
    n = len(default_us)
    segments = op_segments(default_per_op, n, targeted_per_op, len(targeted_us))
    if segments is None:
        return None
    out = [0.0] * n
    for d0, d1, t0, t1 in segments:
        total = sum(targeted_us[t0:t1])
        w = sum(default_us[d0:d1])
        for i in range(d0, d1):
            out[i] = total * (default_us[i] / w if w > 0 else 1 / (d1 - d0))
    return out


class Latencies(NamedTuple):
    """request_latencies_us's answer."""

    request_us: list[float]
    fingerprint: str  # the kernel sequence's on the whole GPU
    targeted_us: list[float] | None  # with the target (gemm_target), else None
    recounted: list[int] | None  # sizes whose targeted capture has another number of kernels than the whole GPU's
    conv_sms: list[int] | None  # sizes whose convolutions ran on their conv lane (conv_target or given), else None


def request_latencies_us(parts: list, name: str, batch: int, dtype: str, iters: int = 30,
                         gemm_target: bool = False, conv_target: bool = False,
                         conv_sms: list[int] | None = None) -> Latencies:
    """The request latency at every size of the ladder (one capture at a time, freed after), the kernel sequence's
    fingerprint on the whole GPU (the last size) and, `gemm_target`, the request latency at every size with GEMMs
    picked for that size (gemm_target.py) and the sizes whose capture with the target has another number of kernels
    than the whole GPU's. `conv_target`: at each size below the whole GPU the request timed again with its
    convolutions on that size's conv lane (conv_target.py), kept where that is faster; `conv_sms`: those sizes given
    (a profile re-timed), not chosen. To be called before the profiler runs in this process."""
    import torch  # noqa: PLC0415

    built = zoo.build(name, batch, dtype)
    warm_up(built, [p.torch_stream for p in parts], iters=1)
    total = parts[-1].sms
    out: list[float] = []
    targeted_us: list[float] | None = [] if gemm_target else None
    laned: list[int] | None = [] if gemm_target and (conv_target or conv_sms is not None) else None
    fp = ""
    counts = []
    no_convs = False
    for p in parts:
        cap = capture_one(built, p.torch_stream, track_ops=False)
        out.append(request_latency_us(cap.graphs[0], p.torch_stream, iters))
        fp, n = cap.fingerprint, len(cap.kernels)
        del cap
        torch.cuda.synchronize()
        if targeted_us is None:
            continue
        if p.sms >= total:
            targeted_us.append(out[-1])  # the whole GPU: the target is no target
            continue
        cap = _capture_targeted(built, p, total)
        us, count = request_latency_us(cap.graphs[0], p.torch_stream, iters), len(cap.kernels)
        del cap
        torch.cuda.synchronize()
        if laned is not None and (conv_sms is None or p.sms in conv_sms) and not no_convs:
            seen: dict = {}
            cap = _capture_targeted(built, p, total, conv_target=True, seen=seen)
            lane_us = request_latency_us(cap.graphs[0], p.torch_stream, iters)
            # cuDNN's benchmark times each convolution alone; in the graph its pick can be the slower one
            if seen.get("handed") and (conv_sms is not None or lane_us < us):
                us, count = lane_us, len(cap.kernels)
                laned.append(p.sms)
            no_convs = not seen.get("handed")  # a model without convolutions (albert): no lanes at any size
            del cap
            torch.cuda.synchronize()
        counts.append((p.sms, count))
        targeted_us.append(us)
    del built
    torch.cuda.empty_cache()
    # the whole GPU's kernel count is known only after the last size
    recounted = [sms for sms, c in counts if c != n] if targeted_us is not None else None
    return Latencies(out, fp, targeted_us, recounted, laned)


def profile_model(pool: PartitionPool, parts: list, name: str, batch: int, dtype: str, repeats: int = 10,
                  latency_iters: int = 30, request_us: list[float] | None = None, log=print,
                  gemm_target: bool = False, targeted_request_us: list[float] | None = None,
                  conv_target: bool = False, conv_sms: list[int] | None = None) -> dict:
    """One profile in the profile format (schemas/profile.schema.json). `request_us`: the request latency per size,
    timed before any profiling in this process (request_latencies_us); timed here first when not given.
    `gemm_target`: the request and its kernels timed again with GEMMs picked for each size (gemm_target.py), into the
    profile's `gemmTarget`; at a size whose capture with it has another number of kernels, its times are laid over
    the default kernels op by op (`spreadSms`, spread_per_op), or, where even the ops differ, the target stays off
    there (`offSms`, their times the defaults); the notes say which. `targeted_request_us`: those request latencies
    (request_latencies_us(gemm_target=True)), timed here with `request_us`. `conv_sms`: with the GEMM target, the
    sizes whose convolutions run on their conv lane (conv_target.py; `gemmTarget.convSms`), those request latencies'
    (request_latencies_us(conv_target=True)); `conv_target`: chosen here, where the latencies are timed here."""
    import torch  # noqa: PLC0415

    t0 = time.perf_counter()
    if request_us is None:
        request_us, _, targeted_request_us, _, conv_sms = request_latencies_us(parts, name, batch, dtype,
                                                                               latency_iters, gemm_target, conv_target)
    if len(request_us) != len(parts):
        raise BackendError(f"{name}: {len(request_us)} request latencies for {len(parts)} partition sizes")
    built = zoo.build(name, batch, dtype)
    warm_up(built, [p.torch_stream for p in parts], iters=1)
    whole = parts[-1]
    ref = capture_one(built, whole.torch_stream)
    n = len(ref.kernels)
    times_by_size: list[list[float]] = []
    spans_by_size: list[list[float]] = []
    mismatches = []
    order_mismatches = 0
    for p in parts:
        cap = ref if p is whole else capture_one(built, p.torch_stream, track_ops=False)
        if cap.fingerprint != ref.fingerprint:
            mismatches.append(p.sms)
        per_replay, seen, starts = kernel_times_us(cap.graphs[0], p.torch_stream, repeats)
        if len(per_replay[0]) != n:
            raise BackendError(f"{name}: {len(per_replay[0])} profiled kernels at {p.sms} SMs, graph has {n}")
        # times are matched to graph nodes by position: count where the profiler's launch dims disagree
        order_mismatches += sum(
            1 for (_, grid, _), k in zip(seen, cap.kernels) if isinstance(grid, list) and tuple(grid) != tuple(k.grid)
        )
        times_by_size.append([statistics.median(r[i] for r in per_replay) for i in range(n)])
        if ref.op_starts:
            spans = [op_spans_us(d, t, ref.op_starts) for d, t in zip(per_replay, starts)]
            spans_by_size.append([statistics.median(r[o] for r in spans) for o in range(len(ref.op_starts))])
        if cap is not ref:
            del cap
        torch.cuda.synchronize()
    total = whole.sms
    # with the target: each size's kernel times; where it changes the kernel count, spread op by op (`spread`), or
    # the defaults where even the ops differ (`off`)
    targeted_by_size: list[list[float]] | None = [] if gemm_target and targeted_request_us is not None else None
    targeted_spans: list[list[float]] = []  # per size, each default op's span in the targeted capture
    off: list[int] = []
    spread: list[int] = []
    for p, default_times in zip(parts, times_by_size):
        if targeted_by_size is None:
            break
        default_spans = spans_by_size[len(targeted_by_size)] if spans_by_size else None
        if p.sms >= total:
            targeted_by_size.append(default_times)  # the whole GPU: the target is no target
            targeted_spans.append(default_spans or [])
            continue
        cap = _capture_targeted(built, p, total, track_ops=True, conv_target=p.sms in (conv_sms or ()))
        per_replay, _, starts = kernel_times_us(cap.graphs[0], p.torch_stream, repeats)
        per_op, captured = cap.per_op, len(cap.kernels)
        del cap
        torch.cuda.synchronize()
        times = [statistics.median(r[i] for r in per_replay) for i in range(len(per_replay[0]))]
        # each default op's span in this capture: over the targeted kernels of the same op (op_segments)
        segments = op_segments(ref.per_op, n, per_op, len(times)) if len(times) == captured else None
        if default_spans is not None and segments is not None and len(segments) == len(ref.op_starts):
            spans = [op_spans_us(d, t, [t0 for _, _, t0, _ in segments]) for d, t in zip(per_replay, starts)]
            targeted_spans.append([statistics.median(r[o] for r in spans) for o in range(len(segments))])
        else:
            targeted_spans.append(default_spans or [])
        if len(times) == n and per_op == ref.per_op:
            targeted_by_size.append(times)
            continue
        # the profiler's records are matched to the graph's kernels by position: only when it saw each of them
        laid = spread_per_op(default_times, ref.per_op, times, per_op) if len(times) == captured else None
        if laid is None:
            off.append(p.sms)
            targeted_by_size.append(default_times)
        else:
            spread.append(p.sms)
            targeted_by_size.append(laid)
    target_note = ""
    if targeted_by_size is not None and off and len(off) == len(parts) - 1:
        targeted_by_size, target_note = None, "; no GEMM target: with it every size's capture dispatched other ops"
    else:
        if spread:
            target_note += (f"; GEMM target's kernel times at {spread} SMs spread over the default kernels op by op: "
                            "with it their captures had another number of kernels")
        if off:
            target_note += (f"; GEMM target off at {off} SMs: with it their captures dispatched another number of ops "
                            "(or the profiler saw another number of kernels than the graph has)")
    ref_kernels, ref_fp, ref_op_starts = ref.kernels, ref.fingerprint, ref.op_starts
    del ref
    v = versions()
    sizes = [p.sms for p in parts]
    kernels = [
        {"index": i, **k.as_dict(), "timesUs": [round(times_by_size[s][i], 3) for s in range(len(sizes))]}
        for i, k in enumerate(ref_kernels)
    ]
    target = None
    if targeted_by_size is not None and targeted_request_us is not None:
        lanes = [sms for sms in conv_sms or () if sms not in off]
        # at the sizes the target is off, the request is the default one
        t_us = [request_us[s] if sizes[s] in off else t for s, t in enumerate(targeted_request_us)]
        target = {
            "requestUs": [round(x, 3) for x in t_us],
            "kernelSumRatio": [round(sum(targeted_by_size[s]) / t_us[s], 4) for s in range(len(sizes))],
            "timesUs": [[round(targeted_by_size[s][i], 3) for s in range(len(sizes))] for i in range(n)],
            **({"offSms": off} if off else {}),
            **({"spreadSms": spread} if spread else {}),
            **({"convSms": lanes} if lanes else {}),
            **({"opSpanUs": _by_op(targeted_spans)}
               if spans_by_size and all(len(r) == len(ref_op_starts) for r in targeted_spans) else {}),
        }
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
        **({"opSpanUs": _by_op(spans_by_size)} if spans_by_size else {}),
        "requestUs": [round(x, 3) for x in request_us],
        "kernelSumRatio": [round(sum(times_by_size[s]) / request_us[s], 4) for s in range(len(sizes))],
        **({"gemmTarget": target} if target else {}),
        "repeats": repeats,
        "measured": {
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "method": "graph captured on each partition's green-context stream, replayed under torch.profiler "
            f"(CUDA activities), median of {repeats} replays per kernel; {LATENCY_METHOD.format(iters=latency_iters)}",
            "tool": "eclip_gpu",
            **v,
            "notes": f"profiled in {time.perf_counter() - t0:.1f} s"
            + (f"; kernel sequence differed from the whole-GPU capture at {mismatches} SMs" if mismatches else "")
            + target_note
            + (f"; profiler and graph launch dims disagreed at {order_mismatches} kernel positions" if order_mismatches
               else "; profiler records matched the graph's kernels position by position"),
        },
    }
    del built
    torch.cuda.empty_cache()
    return prof


def retime_profile(parts: list, gpu: dict, prof: dict, iters: int = 30) -> dict:
    """`prof` with its request latencies (and kernel-sum ratios) timed again on this GPU (`gpu`: its GpuRef) as
    profile_model now times them, its GEMM-target ones too where it has them (the default ones at its `offSms`; the
    section dropped, and the notes say so, where the target now changes another size's kernel count); its kernels,
    their times and the versions they were measured with are kept. Refused when the profile is another GPU's, or the
    ladder's sizes or the model's kernel sequence are not the profile's (profile it again then). To be called before
    the profiler runs in this process."""
    name = f"{prof['model']} b{prof['batch']} {prof['dtype']}"
    if prof["gpu"] != gpu:
        raise BackendError(f"{name}: the profile is of {prof['gpu']['name']}, this is {gpu['name']}")
    sizes = [p.sms for p in parts]
    if sizes != prof["sizes"]:
        raise BackendError(f"{name}: the profile's partition sizes {prof['sizes']} are not this GPU's ladder {sizes}")
    target = prof.get("gemmTarget")
    request_us, fp, targeted_us, recounted, _ = request_latencies_us(
        parts, prof["model"], prof["batch"], prof["dtype"], iters, gemm_target=target is not None,
        conv_sms=target.get("convSms") if target is not None and "convSms" in target else None)
    if fp != prof["fingerprint"]:
        raise BackendError(
            f"{name}: this build's kernel sequence ({fp}) is not the profile's ({prof['fingerprint']}): profile it again"
        )
    sums = [sum(k["timesUs"][s] for k in prof["kernels"]) for s in range(len(sizes))]
    m = prof["measured"]
    method = m["method"].split("; request latency =")[0]
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    v = versions()
    with_ = ", ".join(f"{k} {v[k]}" for k in ("torch", "cuda", "driver") if k in v)
    out = {k: v for k, v in prof.items() if k != "gemmTarget"}
    note = f"request latencies re-timed {when} with {with_} (eclip profile --retime)"
    if target is not None and targeted_us is not None:
        # the GEMM target's latencies too (plans read those by default); at the sizes it is off, the default ones. A
        # size whose kernels were matched one to one and where it now changes the kernel count has no kernel times to
        # keep (the spread sizes' are matched op by op: any count)
        was_off = set(target.get("offSms", []))
        matched = set(sizes) - was_off - set(target.get("spreadSms", []))
        now_off = [sms for sms in recounted or [] if sms in matched]
        if now_off:
            note += (f"; its GEMM-target section dropped: the target now changes the kernel count at {now_off} SMs "
                     "(profile it again)")
        else:
            t_us = [request_us[s] if sizes[s] in was_off else t for s, t in enumerate(targeted_us)]
            tsums = [sum(row[s] for row in target["timesUs"]) for s in range(len(sizes))]
            out["gemmTarget"] = {
                **target,
                "requestUs": [round(x, 3) for x in t_us],
                "kernelSumRatio": [round(tsums[s] / t_us[s], 4) for s in range(len(sizes))],
            }
    return {
        **out,
        "requestUs": [round(x, 3) for x in request_us],
        "kernelSumRatio": [round(sums[s] / request_us[s], 4) for s in range(len(sizes))],
        "measured": {
            **m,
            "method": f"{method}; {LATENCY_METHOD.format(iters=iters)}",
            "notes": f"{m.get('notes', '')}; {note}".lstrip("; "),
        },
    }
