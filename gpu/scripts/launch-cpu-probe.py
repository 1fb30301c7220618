"""Does a process's other GPU state make a lone worker's requests cost more host CPU? One worker captured as baseline
captures it (whole graph on its ordinary stream) runs closed loops while the process holds, in turn:

  fresh      nothing else
  contexts   N green contexts with a stream each, idle (what a plan table's partitions leave alive)
  graphs     those, and the same model captured in graph mode over them (a worker's captures under other plans)

and again fresh at the end (after the contexts are destroyed). Per arm: host CPU per request (the launching thread's
CPU time to enqueue, as the bench records it), mean request µs, requests/s. Why: eclip-live's lone sets ran a little
slower than baseline's in the same traffic, with more enqueue CPU per request (results/h100/live-control/).

    python3 gpu/scripts/launch-cpu-probe.py [--model vgg19:8] [--contexts 32] [--window 2] [--reps 2] [--out F.jsonl]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eclip_gpu import zoo  # noqa: E402
from eclip_gpu.execute import closed_loop, prepare_worker  # noqa: E402
from eclip_gpu.partitions import PartitionPool, read_layout  # noqa: E402


def measure(worker, window: float) -> dict:
    raw = closed_loop([worker], 0.5, window)
    w = raw["workers"][0]
    n = len(w["startsNs"])
    lat = sum(e - s for s, e in zip(w["startsNs"], w["endsNs"])) / n / 1e3
    return {"requests": n, "rps": round(n / window, 1), "cpuUs": round(sum(w["cpuNs"]) / n / 1e3, 2),
            "meanUs": round(lat, 1)}


def main() -> None:
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="vgg19:8")
    ap.add_argument("--contexts", type=int, default=32)
    ap.add_argument("--window", type=float, default=2.0)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--out", default="launch-cpu-probe.jsonl")
    a = ap.parse_args()
    model, batch = a.model.split(":")
    layout = read_layout()
    built = zoo.build(model, int(batch), "fp16")
    origin = torch.cuda.Stream()
    base = prepare_worker("w", built, "whole", None, {}, origin, None)
    rows = []
    pool = PartitionPool(layout)

    def arm(name: str):
        for rep in range(a.reps):
            row = {"model": a.model, "arm": name, "rep": rep, **measure(base, a.window)}
            rows.append(row)
            print(json.dumps(row), flush=True)

    arm("fresh")
    n = layout.n_slices
    # slice sets as a table's partitions are: runs of consecutive slices, every length and start, up to --contexts
    sets = [tuple(range(s, s + k)) for k in range(1, n + 1) for s in range(0, n - k + 1)][: a.contexts]
    parts = {i: pool.for_worker(pool.create(list(s), i), "w") for i, s in enumerate(sets)}
    arm("contexts")
    kernels = base.kernels
    step = max(1, kernels // 6)
    groups = [{"first": f, "last": min(kernels - 1, f + step - 1), "partition": (f // step) % 2}
              for f in range(0, kernels, step)]
    others = [prepare_worker("w", built, "graph", groups, {0: parts[i], 1: parts[i + 1]}, origin, None,
                             layout=layout) for i in range(0, min(len(parts) - 1, 6), 2)]
    for o in others:
        o.request().synchronize()
    arm("graphs")
    del others
    torch.cuda.synchronize()
    pool.close()
    arm("fresh-again")
    with open(a.out, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    print("arm          host CPU µs/request   mean µs   req/s")
    for name in ("fresh", "contexts", "graphs", "fresh-again"):
        mine = [r for r in rows if r["arm"] == name]
        print(f"{name:12s} {' / '.join(str(r['cpuUs']) for r in mine):>20s}   "
              f"{' / '.join(str(r['meanUs']) for r in mine):>16s}   {' / '.join(str(r['rps']) for r in mine)}")


if __name__ == "__main__":
    main()
