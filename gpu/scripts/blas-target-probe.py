"""Whether GEMMs chosen for the partition's SM count run a model faster on a green-context partition.

cuBLAS picks its GEMM kernels for the SMs it sees. On a green context it sees the whole GPU, so a model captured on
8 SMs runs kernels tuned for 132; under an MPS cap the device reports fewer SMs and cuBLAS picks others. cuBLASLt
takes a target SM count per call (CUBLASLT_MATMUL_DESC_SM_COUNT_TARGET), which PyTorch sets from its experimental SM
carve-out when cuBLASLt is the preferred BLAS library. Per model and partition size, three captures on the same
partition, each timed over graph replays (median of --reps, CUDA events on the partition's stream):

  default    torch's defaults (what eclip captures today)
  lt         cuBLASLt preferred, no target
  lt-target  cuBLASLt preferred, target = the partition's SMs (carve-out = the GPU's SMs − the partition's)

Prints a table (µs per request, ratio to default, GEMM kernels that differ) and writes JSON lines to --out.

    python3 gpu/scripts/blas-target-probe.py [--models distilbert:1,albert:1,albert:8] [--sms 8,16,32,64,132]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eclip_gpu import capture, partitions, zoo  # noqa: E402

ARMS = ("default", "lt", "lt-target")


def set_arm(torch, arm: str, total: int, sms: int) -> None:
    torch.backends.cuda.preferred_blas_library("cublaslt" if arm != "default" else "cublas")
    torch._C._set_sm_carveout_experimental(total - sms if arm == "lt-target" and sms < total else None)


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


def gemm_names(kernels) -> list[str]:
    return sorted({k.name for k in kernels if "gemm" in k.name.lower() or "matmul" in k.name.lower()
                   or "sm90" in k.name.lower()})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="distilbert:1,albert:1,albert:8,vgg19:1")
    ap.add_argument("--sms", default="8,16,32,64,132")
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--out", default="blas-target-probe.jsonl")
    a = ap.parse_args()
    import torch  # noqa: PLC0415

    layout = partitions.read_layout(0)
    total, n_slices = layout.sm_count, layout.n_slices
    rows = []
    with open(a.out, "w") as log:
        for spec in a.models.split(","):
            name, batch = spec.split(":")
            built = zoo.build(name, int(batch), "fp16")
            for sms in [int(x) for x in a.sms.split(",")]:
                k = n_slices if sms >= total else max(1, sms // layout.slice_sms(0))
                part = partitions.make_partition(layout, tuple(range(k)), pid=k)
                got = {}
                for arm in ARMS:
                    set_arm(torch, arm, total, part.sms)
                    capture.warm_up(built, [part.torch_stream])
                    cap = capture.capture_one(built, part.torch_stream, track_ops=False)
                    us = time_graph(torch, cap.graphs[0], part.torch_stream, a.reps)
                    got[arm] = {"us": us, "kernels": len(cap.kernels), "gemms": gemm_names(cap.kernels)}
                    del cap
                set_arm(torch, "default", total, part.sms)
                row = {"model": name, "batch": int(batch), "sms": part.sms, **got}
                log.write(json.dumps(row) + "\n")
                log.flush()
                rows.append(row)
                partitions.destroy_partition(part)
                d = got["default"]["us"]
                print(f"{name} b{batch} {part.sms:3d} SMs: default {d:8.1f} µs, lt {got['lt']['us'] / d:.3f}, "
                      f"lt-target {got['lt-target']['us'] / d:.3f} (GEMM kernels differ: "
                      f"{got['lt-target']['gemms'] != got['default']['gemms']})", flush=True)
            del built
            torch.cuda.empty_cache()
    print("\nmodel        batch  SMs  default µs  lt ÷ default  lt-target ÷ default")
    for r in rows:
        d = r["default"]["us"]
        print(f"{r['model']:12s} {r['batch']:5d} {r['sms']:4d} {d:11.1f} {r['lt']['us'] / d:13.3f} "
              f"{r['lt-target']['us'] / d:20.3f}")


if __name__ == "__main__":
    main()
