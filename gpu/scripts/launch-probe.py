"""Where a graph-mode request's host CPU goes (issue #5's 1% target): the host thread time of enqueuing one request
the way execute.py does (set the stream, CUDAGraph.replay(), record the done event) against launching the same
executable graph with cuGraphLaunch + cuEventRecord through cuda-bindings, per model, batch and mode ("whole": one
graph on the whole GPU, as baseline; "graph": kernel-wise over three partitions, ~6 switches). Also each request's GPU
time, so the CPU can be put as a share of the latency, and whether the direct launch computes the same output.

    python3 gpu/scripts/launch-probe.py [--reps 2000] [--models alexnet:1,resnet152:8,...] [--activities]  (GPU machine)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eclip_gpu import zoo  # noqa: E402
from eclip_gpu.cuda import check, driver  # noqa: E402
from eclip_gpu.execute import prepare_worker  # noqa: E402
from eclip_gpu.partitions import PartitionPool, read_layout  # noqa: E402
from tests_gpu.plans import alternating_groups  # noqa: E402


def main() -> None:
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=2000)
    ap.add_argument("--models", default="alexnet:1,resnet152:1,resnet152:8,densenet201:8,albert:8,vgg19:8")
    ap.add_argument("--activities", action="store_true", help="only compare the GPU activities of one request")
    a = ap.parse_args()
    d = driver()
    pool = PartitionPool(read_layout())
    parts = {0: pool.create([0, 1]), 1: pool.create([2, 3, 4, 5]), 2: pool.whole()}
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name()}; "
          f"raw_cuda_graph_exec: {hasattr(torch.cuda.CUDAGraph, 'raw_cuda_graph_exec')}")
    rows = []
    for spec in a.models.split(","):
        model, batch = spec.split(":")
        built = zoo.build(model, int(batch), "fp16")
        origin = torch.cuda.Stream()
        base = prepare_worker("w", built, "whole", None, parts, origin, None)
        n = base.kernels
        kw = prepare_worker("w", built, "graph", alternating_groups(n, [0, 1, 2]), parts, origin, None, layout=pool.layout)
        for mode, w in (("whole", base), ("graph", kw)):
            g = w.segments[0][0]
            w.request().synchronize()
            ref = w.output.clone()
            exec_ = g.raw_cuda_graph_exec()
            stream = int(w.origin.cuda_stream)
            ev = check(d.cuEventCreate(d.CUevent_flags.CU_EVENT_DISABLE_TIMING), "cuEventCreate")

            def torch_path():
                torch.cuda.set_stream(w.origin)
                g.replay()
                w.done.record(w.origin)

            def direct_path():
                check(d.cuGraphLaunch(exec_, stream), "cuGraphLaunch")
                check(d.cuEventRecord(ev, stream), "cuEventRecord")

            if a.activities:
                # what replay() launches besides the graph: GPU activities of one request each way, compared. Only
                # in a run of its own: once the profiler has run, CUPTI stays attached and every launch costs more
                from collections import Counter

                from torch.profiler import ProfilerActivity, profile

                seen = {}
                for name, fn in (("torch", torch_path), ("direct", direct_path)):
                    with profile(activities=[ProfilerActivity.CUDA]) as prof:
                        fn()
                        torch.cuda.synchronize()
                    seen[name] = Counter(e.name for e in prof.events() if e.device_type.name == "CUDA")
                extra = seen["torch"] - seen["direct"]
                print(f"{model} b{batch} {mode}: GPU activities of one request: torch {sum(seen['torch'].values())}, "
                      f"direct {sum(seen['direct'].values())}; only with torch: {dict(extra)}", flush=True)
                continue
            # the two ways alternate request by request, so drift (clocks, the machine's load) hits both alike
            samples = {"torch": ([], []), "direct": ([], [])}
            for _ in range(a.reps):
                for name, fn in (("torch", torch_path), ("direct", direct_path)):
                    c0 = time.thread_time_ns()
                    t0 = time.perf_counter_ns()
                    fn()
                    c1 = time.thread_time_ns()
                    torch.cuda.synchronize()
                    samples[name][1].append(time.perf_counter_ns() - t0)
                    samples[name][0].append(c1 - c0)
            res = {k: (statistics.median(c) / 1e3, statistics.median(t) / 1e3) for k, (c, t) in samples.items()}
            pairs = [d_ / t_ for t_, d_ in zip(samples["torch"][0], samples["direct"][0]) if t_ > 0]
            res["ratio"] = (statistics.median(pairs), 0)
            same = torch.equal(w.output, ref)
            check(d.cuEventDestroy(ev), "cuEventDestroy")
            rows.append((f"{model} b{batch}", mode, n, res, same))
            print(f"{model} b{batch} {mode}: {n} kernels; host CPU µs torch {res['torch'][0]:.1f} / direct "
                  f"{res['direct'][0]:.1f} (median pair ratio {res['ratio'][0]:.2f}); request µs {res['torch'][1]:.0f}; "
                  f"direct output equal {same}", flush=True)
        del base, kw, built
        torch.cuda.empty_cache()
    if a.activities:
        return
    print("\nworker          mode   kernels  CPU µs torch  direct  ratio*  latency µs  CPU % torch  direct")
    for name, mode, n, res, same in rows:
        ct, lt = res["torch"]
        cd = res["direct"][0]
        print(f"{name:15s} {mode:6s} {n:7d}  {ct:12.1f}  {cd:6.1f}  {res['ratio'][0]:5.2f}  {lt:10.0f}  {100 * ct / lt:10.2f}%  "
              f"{100 * cd / lt:5.2f}%{'' if same else '  OUTPUT DIFFERS'}")
    print("CPU µs: medians of the host thread time of enqueuing one request; ratio*: median over requests of direct / "
          "torch, the two alternating; latency: the request's wall time, solo")


if __name__ == "__main__":
    main()
