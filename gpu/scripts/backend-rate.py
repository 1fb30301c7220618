"""The served backend's own rate, without the server: how many requests per second gpu/eclip_gpu/serving.py sustains
for a mix when nothing but its frame reader feeds it, and the CPU the process spends per request.

One thread plays the frame reader (protocol.serve's loop): it hands `infer` messages to Serving.infer, keeping
`--inflight` requests per worker outstanding, closed loop, each input lying in page-locked host memory as it does in
the server's ring or a client's registered region (`--pageable`: in ordinary memory, as a frame's body); replies
come back through Serving's send (the workers' threads) and are matched by id. Window: after `--warmup` s, `--window` s.
Prints req/s per worker and in all, and process CPU per request (user + system of the whole process, all threads).
Compare with `eclip bench --backend gpu` for the same mix: what the backend alone cannot carry, no server can.

    PYTHONPATH=gpu python3 gpu/scripts/backend-rate.py --models alexnet,alexnet,alexnet --batch 1 [--inflight 4]
        [--depth 2] [--window 5] [--warmup 1] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import resource
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", required=True, help="zoo models, comma-separated (a model twice: two workers)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--dtype", default="fp16")
    ap.add_argument("--inflight", type=int, default=4, help="requests outstanding per worker")
    ap.add_argument("--depth", type=int, help="ECLIP_PIPELINE_DEPTH for this run")
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--window", type=float, default=5.0)
    ap.add_argument("--pageable", action="store_true", help="inputs in pageable memory (a frame's body)")
    ap.add_argument("--json", help="write the numbers here too")
    a = ap.parse_args()
    if a.depth is not None:
        os.environ["ECLIP_PIPELINE_DEPTH"] = str(a.depth)

    import torch

    from eclip_gpu.cuda import pinned_empty
    from eclip_gpu.serving import PIPELINE_DEPTH, Serving

    models = a.models.split(",")
    names = [f"{m}-{i}" for i, m in enumerate(models)]
    replies: queue.SimpleQueue = queue.SimpleQueue()

    def send(header, body=b""):
        replies.put(header)

    serving = Serving(send)
    loaded = serving.load({"plan": None, "workers": [
        {"name": n, "model": m, "batch": a.batch, "dtype": a.dtype} for n, m in zip(names, models)]})
    bodies, dtypes = {}, {}
    for w in loaded["workers"]:
        shape, dt = w["inputShape"], w["inputDtype"]
        if dt == "INT64":
            x = torch.randint(0, 30000, shape, dtype=torch.int64)
        else:
            x = torch.randn(shape).to({"FP16": torch.float16, "FP32": torch.float32, "BF16": torch.bfloat16}[dt])
        raw = x.contiguous().view(torch.uint8).reshape(-1)
        # one buffer per request outstanding: a request's input stays put until it is answered
        bufs = []
        for _ in range(a.inflight):
            b = torch.empty_like(raw) if a.pageable else pinned_empty(torch, raw.shape, torch.uint8)
            b.copy_(raw)
            bufs.append(memoryview(b.numpy()))
        bodies[w["name"]] = bufs
        dtypes[w["name"]] = dt
    ids = iter(range(1 << 62))
    owner: dict[int, tuple] = {}
    free = {n: list(range(a.inflight)) for n in names}

    def submit(name):
        i = next(ids)
        k = free[name].pop()
        owner[i] = (name, k)
        serving.infer({"type": "infer", "name": name, "id": i, "n": a.batch, "dtype": dtypes[name]},
                      bodies[name][k])

    for n in names:
        for _ in range(a.inflight):
            submit(n)
    done = {n: 0 for n in names}
    errors = 0
    t_end_warm = time.perf_counter() + a.warmup
    counting = False
    t0 = cpu0 = None
    while True:
        h = replies.get()
        name, k = owner.pop(h.get("id"))
        free[name].append(k)
        if h.get("type") != "output":
            errors += 1
        now = time.perf_counter()
        if not counting and now >= t_end_warm:
            counting, t0 = True, now
            r = resource.getrusage(resource.RUSAGE_SELF)
            cpu0 = r.ru_utime + r.ru_stime
            done = {n: 0 for n in names}
        if counting:
            done[name] += 1
            if now - t0 >= a.window:
                break
        submit(name)
    r = resource.getrusage(resource.RUSAGE_SELF)
    cpu = r.ru_utime + r.ru_stime - cpu0
    span = time.perf_counter() - t0
    total = sum(done.values())
    out = {"models": models, "batch": a.batch, "inflight": a.inflight, "depth": PIPELINE_DEPTH,
           "inputs": "pageable" if a.pageable else "page-locked",
           "rps": {n: done[n] / span for n in names}, "totalRps": total / span,
           "cpuCores": cpu / span, "cpuUsPerRequest": cpu / total * 1e6 if total else None, "errors": errors}
    print(f"depth {PIPELINE_DEPTH} inflight {a.inflight} {out['inputs']}: {out['totalRps']:.0f} req/s "
          f"({', '.join(f'{n} {v:.0f}' for n, v in out['rps'].items())}), process CPU {out['cpuCores']:.2f} cores, "
          f"{out['cpuUsPerRequest']:.0f} µs/request, {errors} errors", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f)
    os._exit(0)  # the workers' threads and CUDA state go with the process


if __name__ == "__main__":
    sys.exit(main())
