"""Whether convolution algorithms benchmarked on a partition run a model faster there than cuDNN's heuristic choice.

cuDNN's heuristics pick each convolution's algorithm for the device as it reports itself (all SMs), and convolutions
take no SM-count target the way cuBLASLt's GEMMs do (gemm_target.py). With `torch.backends.cudnn.benchmark` PyTorch
times the candidate algorithms on the current stream at the first call of each shape and caches the fastest for the
process, keyed by shape, not by stream: benchmarked on a green-context stream, the choice is the partition's. So each
benchmarked arm runs in its own process. Per model and batch, graphs captured on each partition and timed over
replays (median of --reps, CUDA events on the partition's stream):

  default    cuDNN's heuristics (what eclip captures), one process for every size
  bench-own  algorithms benchmarked on that partition, one process per size
  bench-132  algorithms benchmarked on the whole GPU, then timed on every size (one process)

Prints a table (µs per request, ratios to default, whether the kernels differ) and writes JSON lines to --out.

    python3 gpu/scripts/conv-algo-probe.py [--models vgg19:1,densenet201:1] [--sms 16,48,132] [--out F]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def time_graph(torch, g, stream, reps: int) -> float:
    """Median µs of one replay of `g` on `stream` over `reps` replays (10 warm-up replays first)."""
    with torch.cuda.stream(stream):
        for _ in range(10):
            g.replay()
        times = []
        for _ in range(reps):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record(stream)
            g.replay()
            b.record(stream)
            b.synchronize()
            times.append(a.elapsed_time(b) * 1000)
    return statistics.median(times)


def child(spec: str, reps: int) -> None:
    """One process: MODEL:BATCH:ARM:BENCH_SMS:SMS,SMS… — prints one JSON line per timed size."""
    import torch  # noqa: PLC0415

    from eclip_gpu import capture, partitions, zoo  # noqa: PLC0415

    name, batch, arm, bench_sms, sizes = spec.split(":")
    layout = partitions.read_layout(0)
    total, slice_sms = layout.sm_count, layout.slice_sms(0)

    def part_of(sms: int):
        k = layout.n_slices if sms >= total else max(1, sms // slice_sms)
        return partitions.make_partition(layout, tuple(range(k)), pid=k)

    built = zoo.build(name, int(batch), "fp16")  # sets benchmark off; no forward has run yet
    if arm != "default":
        torch.backends.cudnn.benchmark = True
        bench = part_of(int(bench_sms))
        capture.warm_up(built, [bench.torch_stream], iters=1)  # the benchmarking, on that partition
    for sms in [int(x) for x in sizes.split(",")]:
        part = part_of(sms)
        capture.warm_up(built, [part.torch_stream], iters=1)
        cap = capture.capture_one(built, part.torch_stream, track_ops=False)
        us = time_graph(torch, cap.graphs[0], part.torch_stream, reps)
        names = "\n".join(k.name for k in cap.kernels)
        print(json.dumps({"model": name, "batch": int(batch), "arm": arm, "sms": part.sms, "us": us,
                          "kernels": f"{len(cap.kernels)}:{hashlib.sha1(names.encode()).hexdigest()[:12]}"}),
              flush=True)
        del cap
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="vgg19:1,densenet201:1,resnet152:1,resnext101:1,alexnet:1,shufflenet:1")
    ap.add_argument("--sms", default="16,48,132")
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--out", default="conv-algo-probe.jsonl")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child, a.reps)
        return
    sizes = [int(x) for x in a.sms.split(",")]
    whole = max(sizes)
    rows: dict = {}
    with open(a.out, "w") as log:
        for spec in a.models.split(","):
            name, batch = spec.split(":")
            jobs = [f"{name}:{batch}:default:0:{a.sms}", f"{name}:{batch}:bench-{whole}:{whole}:{a.sms}"]
            jobs += [f"{name}:{batch}:bench-own:{s}:{s}" for s in sizes if s != whole]
            for job in jobs:
                p = subprocess.run([sys.executable, __file__, "--child", job, "--reps", str(a.reps)],
                                   capture_output=True, text=True, timeout=300)
                if p.returncode:
                    print(f"{job}: exit {p.returncode}\n{p.stderr[-2000:]}", flush=True)
                    continue
                for line in p.stdout.splitlines():
                    if not line.startswith("{"):
                        continue
                    r = json.loads(line)
                    log.write(line + "\n")
                    log.flush()
                    arm = "bench-own" if r["arm"] == f"bench-{whole}" and r["sms"] >= whole else r["arm"]
                    rows.setdefault((name, int(batch), r["sms"]), {})[arm] = r
                    if arm != r["arm"]:
                        rows[(name, int(batch), r["sms"])][r["arm"]] = r
            for key in [k for k in rows if k[:2] == (name, int(batch))]:
                print(row_line(key, rows[key], whole), flush=True)
    print(f"\nmodel        batch  SMs  default µs  bench-own ÷ default  bench-{whole} ÷ default  kernels differ (own)")
    for key, got in rows.items():
        print(row_line(key, got, whole))


def row_line(key: tuple, got: dict, whole: int) -> str:
    """One line of the table: default µs, the benchmarked arms' ratios to it, whether the kernels differ."""
    name, batch, sms = key
    d = got.get("default")
    if d is None:
        return f"{name:12s} {batch:5d} {sms:4d} (no default)"
    own, w = got.get("bench-own"), got.get(f"bench-{whole}")
    fmt = lambda r: f"{r['us'] / d['us']:.3f}" if r else "-"  # noqa: E731
    diff = (own["kernels"] != d["kernels"]) if own else "-"
    return f"{name:12s} {batch:5d} {sms:4d} {d['us']:11.1f} {fmt(own):>20s} {fmt(w):>22s}  {diff}"


if __name__ == "__main__":
    main()
