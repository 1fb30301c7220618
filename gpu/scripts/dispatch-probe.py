"""What holds co-located workers back at batch 1: the SMs, or something every partition shares?

At batch 1 the STP bound from SM-time (docs/design.md §6) says most paper mixes could run every worker near its solo
rate at once, yet under baseline each runs at 0.5–0.7 of it, and no plan found does much better. This probe asks the
GPU directly, every arm in one process, requests launched back to back on each stream (no host gap: the GPU's own
rate, above any closed loop's):

  chains   graphs of N dependent spin kernels (B blocks of 128 threads, each spinning C clock cycles), on S streams at
           once: ordinary full-GPU streams, or S disjoint green-context partitions. Kernels per second in all against
           S × one stream's: whether the GPU runs more dependent-kernel chains at once when the SMs are free
  models   per model (batch 1 unless --batch): its graph alone on the whole GPU, K copies at once on the whole GPU
           (baseline's co-location of K equal workers), one copy alone on a partition of 1/K of the slices, and K
           copies at once on K disjoint such partitions. A copy on its own partition, with no SM shared, that slows
           beside the others shows a bound outside the SMs; one that does not shows the SMs are what is shared.
  mixes    per mix (each worker its own model instance, own weights): every worker alone on the whole GPU, all at once
           on the whole GPU (baseline's placement), every worker alone on its own partition (an equal share of the
           slices), all at once on those disjoint partitions. Rates over the window where every worker is running,
           from an event after each request. Per worker: together ÷ alone on the same partition (what it loses to
           its neighbours with no SM shared) and the mix's STP both ways (solo rates: each alone on the whole GPU).
           `--split` sizes the partitions (slices per worker) instead of equal shares.

    python3 gpu/scripts/dispatch-probe.py [--models albert,densenet201,...] [--copies 3] [--batch 1]
        [--mixes mix1=albert+albert+densenet201,...] [--arm-s 0.4] [--out DIR]                                             (GPU machine; writes DIR/dispatch.json)
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eclip_gpu import zoo  # noqa: E402
from eclip_gpu.cuda import BackendError, check, compile_kernel, driver  # noqa: E402
from eclip_gpu.execute import op_kernel_starts, prepare_worker  # noqa: E402
from eclip_gpu.fastcu import fastcu  # noqa: E402
from eclip_gpu.partitions import PartitionPool, ordinary_stream, read_layout  # noqa: E402

# the paper's seven mixes, as --mixes spells them (the other probes share it)
PAPER_MIXES = ("mix1=albert+albert+densenet201,mix2=albert+densenet201,mix3=albert+densenet201+vgg19,"
               "mix4=alexnet+resnet152+vgg19,mix5=resnext101+shufflenet,mix6=densenet201+densenet201,"
               "mix7=alexnet+alexnet+alexnet")

SPIN_SRC = r"""
extern "C" __global__ void spin(long long cycles, int* sink) {
  long long t0 = clock64();
  while (clock64() - t0 < cycles) {}
  if (cycles < 0 && threadIdx.x == 0) sink[blockIdx.x] = 1;  // never taken: keeps the loop from being dropped
}
"""


def log(msg: str) -> None:
    print(f"[dispatch-probe {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def spin_kernel():
    """The spin kernel, compiled for this GPU (usable on any green context's stream)."""
    return compile_kernel(SPIN_SRC, "spin")


def chain_graph(func, stream, n: int, blocks: int, cycles: int, sink: int):
    """An instantiated graph of `n` spin kernels captured one after another on `stream` (each depends on the last)."""
    d = driver()
    check(d.cuStreamBeginCapture(stream, d.CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED), "cuStreamBeginCapture")
    args = ((cycles, sink), (ctypes.c_longlong, ctypes.c_void_p))
    for _ in range(n):
        check(d.cuLaunchKernel(func, blocks, 1, 1, 128, 1, 1, 0, stream, args, 0), "cuLaunchKernel(spin)")
    graph = check(d.cuStreamEndCapture(stream), "cuStreamEndCapture")
    return check(d.cuGraphInstantiate(graph, 0), "cuGraphInstantiate")


def run_streams(launches: list[tuple], reps: int) -> tuple[float, list[float]]:
    """Launches each (graph exec, stream) `reps` times, round robin, then waits for all. Returns the wall seconds of
    the whole and each stream's seconds between events recorded on it before its first and after its last graph."""
    import torch  # noqa: PLC0415

    d = driver()
    torch.cuda.synchronize()
    evs = [(check(d.cuEventCreate(0), "cuEventCreate"), check(d.cuEventCreate(0), "cuEventCreate")) for _ in launches]
    t0 = time.perf_counter()
    for (_g, s), (a, _b) in zip(launches, evs):
        check(d.cuEventRecord(a, s), "cuEventRecord")
    for _ in range(reps):
        for g, s in launches:
            err = d.cuGraphLaunch(g, s)[0]
            if err:
                check((err,), "cuGraphLaunch")
    for (_g, s), (_a, b) in zip(launches, evs):
        check(d.cuEventRecord(b, s), "cuEventRecord")
    for _g, s in launches:
        check(d.cuStreamSynchronize(s), "cuStreamSynchronize")
    wall = time.perf_counter() - t0
    per = [fastcu().elapsed_ms(int(a), int(b)) / 1e3 for a, b in evs]
    for a, b in evs:
        d.cuEventDestroy(a)
        d.cuEventDestroy(b)
    return wall, per


def disjoint(n_slices: int, k: int, widths: list[int] | None = None) -> list[tuple[int, ...]]:
    """k disjoint runs of slices, of `widths` slices each or all of one size (the split's remainder slice, if any, left
    out)."""
    if widths is None:
        width = max(1, (n_slices - 1) // k) if k > 1 else n_slices - 1
        widths = [width] * k
    if len(widths) != k or min(widths) < 1 or sum(widths) > n_slices - 1:
        raise BackendError(f"--split {'+'.join(map(str, widths))}: {k} runs of at least one of {n_slices - 1} slices")
    starts = [sum(widths[:i]) for i in range(k)]
    return [tuple(range(a, a + w)) for a, w in zip(starts, widths)]


def chains(pool: PartitionPool, a) -> list[dict]:
    import torch  # noqa: PLC0415

    d = driver()
    func = spin_kernel()
    sink = torch.zeros(4096, dtype=torch.int32, device="cuda")
    layout = pool.layout
    full = [ordinary_stream("normal") for _ in range(max(a.streams))]
    rows, cache = [], {}
    for cycles in a.cycles:
        for blocks in a.blocks:
            for place in ("full", "green"):
                for s in a.streams:
                    if place == "green" and s > layout.n_slices - 1:
                        continue
                    if place == "full":
                        streams = [d.CUstream(int(t.cuda_stream)) for t in full[:s]]
                    else:
                        parts = [pool.create(sl) for sl in disjoint(layout.n_slices, s)]
                        streams = [p.cu_stream for p in parts]
                    launches = []
                    for st in streams:
                        key = (cycles, blocks, int(st))
                        if key not in cache:
                            cache[key] = chain_graph(func, st, a.chain, blocks, cycles, sink.data_ptr())
                        launches.append((cache[key], st))
                    run_streams(launches, 2)  # warm
                    wall, per = run_streams(launches, a.chain_reps)
                    kps = s * a.chain * a.chain_reps / wall
                    row = {"part": "chains", "cycles": cycles, "blocks": blocks, "place": place, "streams": s,
                           "kernelsPerS": kps, "usPerKernelPerStream": [p / (a.chain * a.chain_reps) * 1e6 for p in per]}
                    rows.append(row)
                    log(f"chains c={cycles} b={blocks} {place} s={s}: {kps / 1e3:.0f}k kernels/s, per stream "
                        f"{min(row['usPerKernelPerStream']):.2f}–{max(row['usPerKernelPerStream']):.2f} µs/kernel")
    return rows


def models(pool: PartitionPool, a) -> list[dict]:
    import torch  # noqa: PLC0415

    d = driver()
    layout = pool.layout
    k = a.copies
    slices = disjoint(layout.n_slices, k)
    sms = [sum(layout.slice_sms(i) for i in sl) for sl in slices]
    rows = []
    for model in a.models:
        t0 = time.perf_counter()
        built = zoo.build(model, a.batch, "fp16")
        origins = [ordinary_stream("normal") for _ in range(k)]
        warmed: set = set()
        dry = op_kernel_starts(built, origins[0], warmed)
        n = len(dry[1].kernels)
        groups = [{"first": 0, "last": n - 1, "partition": 0}]

        kept = []  # the captures themselves: their graphs die with them

        def launch_of(execd):
            kept.append(execd)
            execd.request()  # makes its handles (and runs one request)
            graph, stream, _done = execd.launch
            return graph, d.CUstream(stream)

        whole = [launch_of(prepare_worker(f"{model}#{i}", built, "whole", None, {}, origins[i], None, warmed=warmed,
                                          dry_run=dry)) for i in range(k)]
        parted = []
        for i in range(k):
            mine = pool.for_worker(pool.create(slices[i]), f"{model}#{i}", "normal")
            parted.append(launch_of(prepare_worker(f"{model}#{i}", built, "graph", groups, {0: mine}, origins[i], None,
                                                   layout=layout, warmed=warmed, dry_run=dry)))
        torch.cuda.synchronize()
        log(f"{model} b{a.batch}: {n} kernels, captured {2 * k} graphs in {time.perf_counter() - t0:.1f} s")
        wall, _ = run_streams(whole[:1], 20)
        reps = max(20, int(a.arm_s / (wall / 20)))
        arms = {"whole-1": whole[:1], f"whole-{k}": whole, "part-1": parted[:1], f"part-{k}": parted}
        got: dict[str, list[float]] = {name: [] for name in arms}
        for _rep in range(a.repeats):
            for name, launches in arms.items():
                wall, per = run_streams(launches, reps)
                got[name].append(sum(reps / p for p in per) / len(per))  # mean per-copy requests/s (its own events)
        row = {"part": "models", "model": model, "batch": a.batch, "kernels": n, "copies": k, "partitionSms": sms,
               "reps": reps, "perCopyRps": got}
        rows.append(row)
        med = {name: sorted(v)[len(v) // 2] for name, v in got.items()}
        log(f"{model}: per-copy req/s whole-1 {med['whole-1']:.0f}, whole-{k} {med[f'whole-{k}']:.0f} "
            f"({med[f'whole-{k}'] / med['whole-1']:.3f}), part-1 ({sms[0]} SMs) {med['part-1']:.0f} "
            f"({med['part-1'] / med['whole-1']:.3f} of whole), part-{k} {med[f'part-{k}']:.0f} "
            f"({med[f'part-{k}'] / med['part-1']:.3f} of part-1)")
        del whole, parted, kept, built
    return rows


def reps_per_arm(launches: list[tuple], arm_s: float) -> list[int]:
    """Requests per arm for each worker: its pace alone (20 back-to-back requests) times the arm's length, ≥ 20."""
    return [max(20, int(arm_s * (20 / run_streams([w], 20)[0]))) for w in launches]


def medians(got: dict[str, list[list[float]]], k: int) -> dict[str, list[float]]:
    """Per arm, each of the k workers' median rate over the repeats."""
    return {arm: [sorted(v[i] for v in runs)[len(runs) // 2] for i in range(k)] for arm, runs in got.items()}


def windowed(launches: list[tuple], reps: list[int]) -> list[float]:
    """Launches graph i `reps[i]` times on its stream, interleaved in the order they would start at each stream's own
    pace, with an event after every request; returns each stream's requests/s over the window in which every stream
    was running (from the latest first completion to the earliest last one)."""
    import torch  # noqa: PLC0415

    d, fc = driver(), fastcu()
    torch.cuda.synchronize()
    made = [[check(d.cuEventCreate(0), "cuEventCreate") for _ in range(n)] for n in reps]
    ref_ev = check(d.cuEventCreate(0), "cuEventCreate")
    events, ref = [[int(e) for e in evs] for evs in made], int(ref_ev)
    s0 = int(launches[0][1])
    fc.record(ref, s0)
    check(d.cuStreamSynchronize(s0), "cuStreamSynchronize")
    order = sorted((j / n, i, j) for i, n in enumerate(reps) for j in range(n))
    for _t, i, j in order:
        g, st = launches[i]
        fc.launch(int(g), int(st))
        fc.record(events[i][j], int(st))
    torch.cuda.synchronize()
    done = [[fc.elapsed_ms(ref, e) for e in evs] for evs in events]
    for e in [ref_ev, *(e for evs in made for e in evs)]:
        d.cuEventDestroy(e)
    lo, hi = max(t[0] for t in done), min(t[-1] for t in done)
    if hi <= lo:
        raise BackendError("the streams never ran at the same time: raise --arm-s")
    return [sum(1 for x in t if lo < x <= hi) / ((hi - lo) / 1e3) for t in done]


def mixes(pool: PartitionPool, a) -> list[dict]:
    import torch  # noqa: PLC0415

    d = driver()
    layout = pool.layout
    rows = []
    for spec in a.mixes:
        name, models_ = spec.split("=")
        names = models_.split("+")
        k = len(names)
        slices = disjoint(layout.n_slices, k, a.split)
        sms = [sum(layout.slice_sms(i) for i in sl) for sl in slices]
        t0 = time.perf_counter()
        kept, whole, parted = [], [], []
        for i, model in enumerate(names):
            built = zoo.build(model, a.batch, "fp16", seed=i)
            origin = ordinary_stream("normal")
            warmed: set = set()
            dry = op_kernel_starts(built, origin, warmed)
            n = len(dry[1].kernels)
            groups = [{"first": 0, "last": n - 1, "partition": 0}]
            mine = pool.for_worker(pool.create(slices[i]), f"{name}.{model}#{i}", "normal")
            for execd, into in (
                (prepare_worker(f"{model}#{i}", built, "whole", None, {}, origin, None, warmed=warmed, dry_run=dry),
                 whole),
                (prepare_worker(f"{model}#{i}", built, "graph", groups, {0: mine}, origin, None, layout=layout,
                                warmed=warmed, dry_run=dry), parted),
            ):
                kept.append(execd)
                execd.request()
                graph, stream, _done = execd.launch
                into.append((graph, d.CUstream(stream)))
        torch.cuda.synchronize()
        log(f"{name} b{a.batch} ({'+'.join(names)}): captured {2 * k} graphs in {time.perf_counter() - t0:.1f} s")
        # each worker's pace alone on the whole GPU sets how many requests it is given per arm
        reps = reps_per_arm(whole, a.arm_s)
        got: dict[str, list[list[float]]] = {"whole-alone": [], "whole-all": [], "part-alone": [], "part-all": []}
        for _rep in range(a.repeats):
            got["whole-alone"].append([windowed([whole[i]], [reps[i]])[0] for i in range(k)])
            got["whole-all"].append(windowed(whole, reps))
            got["part-alone"].append([windowed([parted[i]], [reps[i]])[0] for i in range(k)])
            got["part-all"].append(windowed(parted, reps))
        med = medians(got, k)
        solo = med["whole-alone"]
        row = {"part": "mixes", "mix": name, "models": names, "batch": a.batch, "partitionSms": sms,
               "partitionSlices": [list(sl) for sl in slices], "reps": reps,
               "rps": got, "median": med,
               "stpWhole": sum(x / s for x, s in zip(med["whole-all"], solo)),
               "stpPart": sum(x / s for x, s in zip(med["part-all"], solo)),
               "partAloneVsSolo": [x / s for x, s in zip(med["part-alone"], solo)],
               "partAllVsPartAlone": [x / s for x, s in zip(med["part-all"], med["part-alone"])],
               "wholeAllVsSolo": [x / s for x, s in zip(med["whole-all"], solo)]}
        rows.append(row)
        log(f"{name}: STP whole {row['stpWhole']:.2f}, disjoint partitions {row['stpPart']:.2f}; together ÷ alone on "
            f"its partition {', '.join(f'{m} {x:.3f}' for m, x in zip(names, row['partAllVsPartAlone']))}")
        del kept, whole, parted
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="albert,densenet201,resnext101,shufflenet,alexnet,resnet152,vgg19")
    ap.add_argument("--copies", type=int, default=3)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--arm-s", type=float, default=0.4, help="seconds per arm and repeat (models)")
    ap.add_argument("--chain", type=int, default=256, help="kernels per chain graph")
    ap.add_argument("--chain-reps", type=int, default=100)
    ap.add_argument("--streams", default="1,2,3,4,8")
    ap.add_argument("--blocks", default="1,132")
    ap.add_argument("--cycles", default="0,4000")
    ap.add_argument("--mixes", default=PAPER_MIXES)
    ap.add_argument("--split", default="", help="mixes: slices per worker's partition, e.g. 12+3 (default: equal)")
    ap.add_argument("--skip", default="", help="chains, models and/or mixes")
    ap.add_argument("--out", default=".")
    a = ap.parse_args()
    a.models = [m for m in a.models.split(",") if m]
    a.mixes = [m for m in a.mixes.split(",") if m]
    a.split = [int(x) for x in a.split.split("+")] if a.split else None
    a.streams = [int(x) for x in a.streams.split(",")]
    a.blocks = [int(x) for x in a.blocks.split(",")]
    a.cycles = [int(x) for x in a.cycles.split(",")]
    import torch  # noqa: PLC0415

    torch.cuda.init()
    pool = PartitionPool(read_layout())
    rows = []
    if "chains" not in a.skip:
        rows += chains(pool, a)
    if "models" not in a.skip:
        rows += models(pool, a)
    if "mixes" not in a.skip:
        rows += mixes(pool, a)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "dispatch.json").write_text(json.dumps({"gpu": torch.cuda.get_device_name(), "rows": rows}, indent=1))
    print("\nchains: kernels/s in all ÷ (streams × one stream's), per placement")
    for r in rows:
        if r["part"] != "chains":
            continue
        one = next(x for x in rows if x["part"] == "chains" and x["cycles"] == r["cycles"] and x["blocks"] == r["blocks"]
                   and x["place"] == r["place"] and x["streams"] == 1)
        print(f"  cycles {r['cycles']:5d} blocks {r['blocks']:3d} {r['place']:5s} streams {r['streams']:2d}: "
              f"{r['kernelsPerS'] / 1e3:7.0f}k/s  scaling {r['kernelsPerS'] / (r['streams'] * one['kernelsPerS']):.3f}")
    print("\nmodels: per-copy req/s (median of repeats) and ratios")
    for r in rows:
        if r["part"] != "models":
            continue
        k = r["copies"]
        med = {name: sorted(v)[len(v) // 2] for name, v in r["perCopyRps"].items()}
        print(f"  {r['model']:12s} b{r['batch']} whole-1 {med['whole-1']:7.0f}  whole-{k} ÷ whole-1 "
              f"{med[f'whole-{k}'] / med['whole-1']:.3f}  part-1 ÷ whole-1 {med['part-1'] / med['whole-1']:.3f}  "
              f"part-{k} ÷ part-1 {med[f'part-{k}'] / med['part-1']:.3f}  STP whole-{k} {k * med[f'whole-{k}'] / med['whole-1']:.2f}"
              f"  part-{k} {k * med[f'part-{k}'] / med['whole-1']:.2f}")
    print("\nmixes: STP (solo: each alone on the whole GPU), whole GPU and disjoint partitions; per worker together ÷ "
          "alone on its partition")
    for r in rows:
        if r["part"] != "mixes":
            continue
        per = ", ".join(f"{m} {x:.3f}" for m, x in zip(r["models"], r["partAllVsPartAlone"]))
        alone = ", ".join(f"{x:.2f}" for x in r["partAloneVsSolo"])
        print(f"  {r['mix']:6s} b{r['batch']} STP whole {r['stpWhole']:.2f}  parts {r['stpPart']:.2f} "
              f"({'/'.join(str(x) for x in r['partitionSms'])} SMs; alone there ÷ solo {alone})  {per}")
    sys.stdout.flush()
    os._exit(0)  # graphs, green contexts and streams go with the process (docs/design.md §8: teardown order)


if __name__ == "__main__":
    main()
