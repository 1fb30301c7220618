"""Where does eclip-live's extra host CPU per request come from? One worker (default vgg19 at batch 8) in closed loops
driven as a bench run drives them (arrivals.driven_loop, one busy period over the window), its requests issued by:

  plain        a capture as baseline's run makes it (whole graph on the worker's ordinary stream, default pool)
  live         the same capture behind eclip-live's LiveWorker (the active set's lock and bookkeeping per request)
  pool         a capture as eclip-live's run makes it for a lone set (shared graph memory pool, the dry run reused)
  pool-live    that capture behind LiveWorker, beside a graph-mode capture of the same model in the same pool (a
               pair plan's, never launched in the window)
  pool-late    another capture into that pool, made after the pair plan's
  plain-late   another capture as plain's, made last

arms interleaved, --reps rounds. Per arm: host CPU per request (the launching thread's CPU time to enqueue, as the
bench records it), mean request µs, requests. Why: in the on/off benches eclip-live's lone sets ran ~1% slower than
baseline's with more enqueue CPU per request (results/h100/live-control/).

    python3 gpu/scripts/live-cpu-probe.py [--model vgg19:8] [--window 3] [--reps 3] [--out F.jsonl]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eclip_gpu import zoo  # noqa: E402
from eclip_gpu.arrivals import driven_loop  # noqa: E402
from eclip_gpu.execute import op_kernel_starts, prepare_worker  # noqa: E402
from eclip_gpu.live import ActiveSet, LiveWorker  # noqa: E402
from eclip_gpu.partitions import PartitionPool, read_layout  # noqa: E402


def measure(worker, window: float) -> dict:
    schedule = {"kind": "closed", "periodsUs": [0, (window + 0.5) * 1e6]}
    raw = driven_loop([worker], [schedule], 0.5, window)
    w = raw["workers"][0]
    inside = [i for i, s in enumerate(w["startsNs"]) if raw["windowStartNs"] <= s < raw["windowEndNs"]]
    n = len(inside)
    lat = sum(w["endsNs"][i] - w["startsNs"][i] for i in inside) / n / 1e3
    cpu = sum(w["cpuNs"][i] for i in inside) / n / 1e3
    return {"requests": n, "cpuUs": round(cpu, 2), "meanUs": round(lat, 1)}


def main() -> None:
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="vgg19:8")
    ap.add_argument("--window", type=float, default=3.0)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default="live-cpu-probe.jsonl")
    a = ap.parse_args()
    model, batch = a.model.split(":")
    layout = read_layout()
    built = zoo.build(model, int(batch), "fp16")
    origin = torch.cuda.Stream()
    plain = prepare_worker("w", built, "whole", None, {}, origin, None)
    # as runner._run_live captures a worker under a table's plans: one pool, warmed streams and the dry run shared
    graph_pool, warmed = torch.cuda.graph_pool_handle(), set()
    dry = op_kernel_starts(built, origin, warmed)
    pool = prepare_worker("w", built, "whole", None, {}, origin, None, layout=layout, pool=graph_pool,
                          warmed=warmed, dry_run=dry)
    parts = PartitionPool(layout)
    n = layout.n_slices
    p0 = parts.for_worker(parts.create(list(range(0, n // 2)), 0), "w")
    p1 = parts.for_worker(parts.create(list(range(n // 2, n)), 1), "w")
    k = pool.kernels
    groups = [{"first": 0, "last": k // 2 - 1, "partition": 0}, {"first": k // 2, "last": k - 1, "partition": 1}]
    pair = prepare_worker("w", built, "graph", groups, {0: p0, 1: p1}, origin, None, layout=layout, pool=graph_pool,
                          warmed=warmed, dry_run=dry)
    pair.request().synchronize()
    # the same captures again, made after the others: is a slower capture the pool's, or where its memory landed?
    pool_late = prepare_worker("w", built, "whole", None, {}, origin, None, layout=layout, pool=graph_pool,
                               warmed=warmed, dry_run=dry)
    plain_late = prepare_worker("w", built, "whole", None, {}, origin, None)

    def live(execd, others=None):
        captures = {"alone": execd, **({"pair": others} if others else {})}
        return LiveWorker(0, "w", captures, ["alone", "alone"], ActiveSet(1, 5_000_000))

    arms = {"plain": plain, "live": live(plain), "pool": pool, "pool-live": live(pool, pair), "pool-late": pool_late,
            "plain-late": plain_late}
    rows = []
    for rep in range(a.reps):
        for name, w in arms.items():
            row = {"model": a.model, "arm": name, "rep": rep, **measure(w, a.window)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    with open(a.out, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    print("arm          host CPU µs/request        mean µs")
    for name in arms:
        mine = [r for r in rows if r["arm"] == name]
        print(f"{name:10s} {' / '.join(str(r['cpuUs']) for r in mine):>24s}   "
              f"{' / '.join(str(r['meanUs']) for r in mine)}")
    del arms, pair
    parts.close()


if __name__ == "__main__":
    main()
