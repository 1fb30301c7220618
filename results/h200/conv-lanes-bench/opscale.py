#!/usr/bin/env python3
"""A candidate, not shipped: resnext101 b1's profile with each size's kernel-time excess (Σ kernel times − the
request latency) taken off its three grouped convolutions (the ops of 128 kernels) instead of spread over every
kernel by the simulator; the GEMM-target times too at the whole GPU, where they are the default ones.
  opscale.py SRC_DIR DST_DIR   (DST_DIR gets a copy of SRC_DIR's files, resnext101.b1.fp16.json changed)"""
import json
import shutil
import sys
from pathlib import Path

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
dst.mkdir(parents=True, exist_ok=True)
for f in src.glob("*.json"):
    shutil.copy(f, dst / f.name)
p = json.loads((src / "resnext101.b1.fp16.json").read_text())
n, sizes = len(p["kernels"]), p["sizes"]
starts = p["opStarts"] + [n]
grouped = [k for a, b in zip(starts, starts[1:]) if b - a == 128 for k in range(a, b)]


def take_excess(times, request_us, idx):
    """Scales the grouped convolutions' kernels at size index `idx` so that the kernels add up to the request."""
    excess = sum(times[k][idx] for k in range(n)) - request_us[idx]
    own = sum(times[k][idx] for k in grouped)
    if excess > 0:
        f = max(0.05, (own - excess) / own)
        for k in grouped:
            times[k][idx] *= f
        print(f"{sizes[idx]:4} SMs: excess {excess:6.0f} µs of the grouped convolutions' {own:5.0f} µs, scaled by {f:.3f}")


default = [k["timesUs"] for k in p["kernels"]]
for i in range(len(sizes)):
    take_excess(default, p["requestUs"], i)
t = p.get("gemmTarget")
if t:
    take_excess(t["timesUs"], t["requestUs"], len(sizes) - 1)
(dst / "resnext101.b1.fp16.json").write_text(json.dumps(p))
print(f"{len(grouped)} kernels in the grouped convolutions; wrote {dst / 'resnext101.b1.fp16.json'}")
