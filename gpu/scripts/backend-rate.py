"""The served backend's own rate, without the server: how many requests per second gpu/eclip_gpu/serving.py sustains
for a mix when nothing but its frame reader feeds it, and the CPU the process spends per request.

One thread plays the frame reader (protocol.serve's loop): it hands `infer` messages to Serving.infer, keeping
`--inflight` requests per worker outstanding, closed loop. Each input lies in a client's system shared-memory region
and each output goes into it, as the shm transport does (`--inputs region`, the default), or the input is the
frame's body and the output comes back in the frame (`--inputs frame`: page-locked memory, as the server's ring;
`--pageable`: ordinary memory). Replies are frames on a real pipe, read by another thread and matched by id.
`--path native` (the default) serves through the native request path (gpu/eclip_gpu/hotpath.py), `--path python`
through GpuExecute alone: the same requests both ways, for comparisons. Window: after `--warmup` s, `--window` s.
Prints req/s per worker and in all, and process CPU per request (user + system of the whole process, all threads).
Compare with `eclip bench --backend gpu` for the same mix: what the backend alone cannot carry, no server can.

    PYTHONPATH=gpu python3 gpu/scripts/backend-rate.py --models alexnet,alexnet,alexnet --batch 1 [--inflight 4]
        [--path native|python] [--inputs region|frame] [--depth 2] [--window 5] [--warmup 1] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import math
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
    ap.add_argument("--path", choices=["native", "python"], default="native")
    ap.add_argument("--inputs", choices=["region", "frame"], default="region")
    ap.add_argument("--pageable", action="store_true", help="frame inputs in pageable memory")
    ap.add_argument("--json", help="write the numbers here too")
    a = ap.parse_args()
    if a.depth is not None:
        os.environ["ECLIP_PIPELINE_DEPTH"] = str(a.depth)

    import torch

    from eclip_gpu import frames
    from eclip_gpu.cuda import pinned_empty
    from eclip_gpu.serving import PIPELINE_DEPTH, Serving

    models = a.models.split(",")
    names = [f"{m}-{i}" for i, m in enumerate(models)]
    r, w = os.pipe()
    write_lock = threading.Lock()
    serving = None

    def send(header, body=b""):
        frame = frames.encode(header, body)
        if serving.hotpath is not None:
            serving.hotpath.write(frame)
        else:
            with write_lock:
                os.write(w, frame)

    serving = Serving(send, native=a.path == "native")
    if a.path == "native":
        path = serving.start_hotpath(out_fd=w, route_frames=False)
        if path != "native":
            print(f"the native path is not available: {path}", file=sys.stderr)
            return 1
    loaded = serving.load({"plan": None, "workers": [
        {"name": n, "model": m, "batch": a.batch, "dtype": a.dtype} for n, m in zip(names, models)]})
    replies: queue.SimpleQueue = queue.SimpleQueue()

    def read():
        reader = frames.FrameReader(r)
        while True:
            header, _ = reader.next()
            replies.put(header)

    threading.Thread(target=read, daemon=True).start()

    raw, dtypes, out_bytes = {}, {}, {}
    for wk in loaded["workers"]:
        shape, dt = wk["inputShape"], wk["inputDtype"]
        if dt == "INT64":
            x = torch.randint(0, 30000, shape, dtype=torch.int64)
        else:
            x = torch.randn(shape).to({"FP16": torch.float16, "FP32": torch.float32, "BF16": torch.bfloat16}[dt])
        raw[wk["name"]] = x.contiguous().view(torch.uint8).reshape(-1)
        dtypes[wk["name"]] = dt
        out_bytes[wk["name"]] = math.prod(wk["outputShape"]) * 2
    # one input and output span per request outstanding: a request's buffers stay put until it is answered
    msgs: dict[str, list] = {}
    bodies: dict[str, list] = {}
    if a.inputs == "region":
        span = max(len(x) + out_bytes[n] for n, x in raw.items())
        size = span * a.inflight * len(names)
        shm = f"/dev/shm/eclip-rate-{os.getpid()}"
        with open(shm, "wb") as f:
            f.truncate(size)
        serving.register_region({"name": "rate", "kind": "system", "path": shm, "bytes": size})
        region = serving.regions["rate"]
        os.unlink(shm)
        for i, n in enumerate(names):
            msgs[n], bodies[n] = [], []
            for k in range(a.inflight):
                at = (i * a.inflight + k) * span
                region.view[at:at + len(raw[n])] = raw[n].numpy().tobytes()
                msgs[n].append({"input": {"region": "rate", "offset": at, "bytes": len(raw[n])},
                                "output": {"region": "rate", "offset": at + len(raw[n]), "bytes": out_bytes[n]}})
                bodies[n].append(b"")
    else:
        for n in names:
            msgs[n], bodies[n] = [{}] * a.inflight, []
            for _ in range(a.inflight):
                b = torch.empty_like(raw[n]) if a.pageable else pinned_empty(torch, raw[n].shape, torch.uint8)
                b.copy_(raw[n])
                bodies[n].append(memoryview(b.numpy()))
    ids = iter(range(1 << 62))
    owner: dict[int, tuple] = {}
    free = {n: list(range(a.inflight)) for n in names}

    def submit(name):
        i = next(ids)
        k = free[name].pop()
        owner[i] = (name, k)
        serving.infer({"type": "infer", "name": name, "id": i, "n": a.batch, "dtype": dtypes[name],
                       **msgs[name][k]}, bodies[name][k])

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
            ru = resource.getrusage(resource.RUSAGE_SELF)
            cpu0 = ru.ru_utime + ru.ru_stime
            done = {n: 0 for n in names}
        if counting:
            done[name] += 1
            if now - t0 >= a.window:
                break
        submit(name)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu = ru.ru_utime + ru.ru_stime - cpu0
    span_s = time.perf_counter() - t0
    total = sum(done.values())
    out = {"models": models, "batch": a.batch, "inflight": a.inflight, "depth": PIPELINE_DEPTH, "path": a.path,
           "inputs": a.inputs if a.inputs == "region" else ("pageable" if a.pageable else "page-locked"),
           "rps": {n: done[n] / span_s for n in names}, "totalRps": total / span_s,
           "cpuCores": cpu / span_s, "cpuUsPerRequest": cpu / total * 1e6 if total else None, "errors": errors}
    print(f"{a.path} path, {out['inputs']} inputs, depth {PIPELINE_DEPTH} inflight {a.inflight}: "
          f"{out['totalRps']:.0f} req/s ({', '.join(f'{n} {v:.0f}' for n, v in out['rps'].items())}), process CPU "
          f"{out['cpuCores']:.2f} cores, {out['cpuUsPerRequest']:.0f} µs/request, {errors} errors", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f)
    os._exit(0)  # the workers' threads and CUDA state go with the process


if __name__ == "__main__":
    sys.exit(main())
