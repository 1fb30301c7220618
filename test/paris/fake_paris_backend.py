"""A stand-in for the GPU backend in `eclip paris --backend gpu` tests (no GPU, no torch): the real frames
(eclip_gpu.frames), every request checked against the protocol's schema (eclip_gpu.protocol), and the real
dispatcher (eclip_gpu.paris_dispatch.Dispatcher) run in virtual time, every query's service
time exactly its latency-table estimate. So a comparison through it must give what the simulator gives with
noise 0 — the TypeScript side's message, reply handling and metrics are then checked end to end.

Usage: python3 fake_paris_backend.py <repo>/gpu <gpu.json> [GPUS [ODD]]
GPUS: how many GPUs the fake machine shows (default 1), each with the layout of gpu.json, except GPU ODD (if given),
whose remainder slice has 12 more SMs. A run's partitions must be on GPUs it shows, as the real backend requires;
the reply's energy is 0.5 J per measured query, split over the server's GPUs by how many queries each ran.
"""

import json
import sys

sys.path.insert(0, sys.argv[1])

from eclip_gpu.paris_dispatch import Dispatcher, replay_virtual  # noqa: E402
from eclip_gpu.frames import read_frame, send  # noqa: E402
from eclip_gpu.protocol import ProtocolError, check_request  # noqa: E402

gpu = json.load(open(sys.argv[2]))
n_gpus = int(sys.argv[3]) if len(sys.argv) > 3 else 1
odd = int(sys.argv[4]) if len(sys.argv) > 4 else -1


def describe(i):
    if i != odd:
        return gpu
    *rest, last = gpu["slices"]  # the remainder slice 12 SMs larger: another kind of GPU
    bigger = {"id": last["id"], "sms": last["sms"] + 12, "remainder": True}
    return {**gpu, "smCount": gpu["smCount"] + 12, "slices": [*rest, bigger]}


def table(m):
    """A plausible table on the layout's ladder sizes: latency = 100 µs + 4 ms·SM × batch / SMs."""
    regular = [s["sms"] for s in gpu["slices"] if not s["remainder"]]
    sizes = [sum(regular[: k + 1]) for k in range(len(regular))]
    if sizes[-1] != gpu["smCount"]:
        sizes.append(gpu["smCount"])
    return {
        "format": "eclip.latency-table/1",
        "gpu": {"name": gpu["name"], "smCount": gpu["smCount"], "sliceSize": gpu["sliceSize"]},
        "model": m["model"], "dtype": m["dtype"], "batches": m["batches"], "sizes": sizes,
        "latencyUs": [[100 + 4000 * b / s for s in sizes] for b in m["batches"]], "repeats": 5,
        "measured": {"date": "2026-11-22", "method": "measured: fake", "tool": "fake_paris_backend.py"},
    }


while True:
    try:
        m, _ = read_frame()
    except EOFError:
        break
    kind = m["type"]
    try:
        check_request(m)
    except ProtocolError as e:
        send({"type": "error", "key": m.get("key"), "message": f"ProtocolError: {e}", "fatal": False})
        continue
    if kind == "hello":
        send({"type": "ready", "gpu": gpu, "versions": {"gpu": "fake"}})
    elif kind == "shutdown":
        break
    elif kind == "paris-gpus":
        send({"type": "paris-gpus", "key": m["key"], "deviceCount": n_gpus,
              "gpus": [describe(i) for i in range(min(m["count"], n_gpus))]})
    elif kind == "paris-table":
        send({"type": "latency-table", "key": m["key"], "table": table(m), "wallS": 0})
    elif kind == "paris-run":
        t, est = m["trace"], m["estUs"]
        qm, qb = t["model"], t["batchIdx"]
        on = [p.get("gpu", 0) for p in m["partitions"]]
        if max(on) >= n_gpus:
            send({"type": "error", "key": m["key"], "fatal": False,
                  "message": f"BackendError: a partition is on GPU {max(on)}, but this process sees {n_gpus} GPU(s)"})
            continue
        d = Dispatcher([p["sms"] for p in m["partitions"]], est, [x["sloUs"] for x in m["models"]], qm, qb,
                       m["dispatch"], m["sloMargin"], serves=m.get("serves"))
        r = replay_virtual(d, t["arrivalUs"], lambda q, p: est[p][qm[q]][qb[q]])
        n = len(qm)
        start = [r["doneUs"][q] - est[r["partition"][q]][qm[q]][qb[q]] for q in range(n)]
        first = m["firstMeasured"]
        server = list(range(max(on) + 1))
        per_gpu = [0.5 * sum(1 for q in range(first, n) if on[r["partition"][q]] == g) for g in server]
        send({"type": "paris-result", "key": m["key"], "releaseUs": t["arrivalUs"], "startUs": start,
              "endUs": r["doneUs"], "partition": r["partition"], "assigned": r["assigned"], "dropped": [0] * n,
              "energyJ": sum(per_gpu), "energyPerGpuJ": per_gpu, "gpus": server,
              "energyFromUs": t["arrivalUs"][first], "energyToUs": max(r["doneUs"]),
              "captures": len(m["partitions"]), "captureS": 0.1, "graphs": 0, "wallS": 0, "clocks": None,
              "notes": ["fake backend: virtual time"]})
    else:
        send({"type": "error", "message": f"fake: no {kind}", "fatal": False})
