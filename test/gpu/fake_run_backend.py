"""A stand-in GPU backend for `eclip bench --backend gpu` tests (test/gpu/run-live.test.ts): answers hello and run
over the real frames and request checks, appending each run message to the file named by argv[1]. Every request
takes 100 µs of virtual time: a closed loop's back to back inside its busy periods, an open one's from its arrival
(queued behind the one before). A run with `live` replays those requests through the backend's own active set
(eclip_gpu.live.ActiveSet, in time order on a virtual clock), so the reply says which set each request started in,
each set's time in the window and the switches, as the real runner would.

FAKE_GPU_JSON names the gpu.json it reports at hello (default: the H100 fixture); FAKE_RUN_ERROR makes every run
answer that error instead, as the real backend refuses a plan it cannot run."""

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "gpu"))

from eclip_gpu.frames import read_frame, send  # noqa: E402
from eclip_gpu.live import ActiveSet  # noqa: E402
from eclip_gpu.protocol import check_request  # noqa: E402

GPU = json.loads(Path(os.environ.get("FAKE_GPU_JSON", REPO / "test" / "fixtures" / "h100.gpu.json")).read_text())
SERVICE = 100.0


def requests(s, horizon):
    """(arrival, start, end) of one worker's requests, µs."""
    out = []
    if s is None or s["kind"] == "closed":
        p = [0, horizon] if s is None else s["periodsUs"]
        for a, b in zip(p[::2], p[1::2]):
            t = max(a, out[-1][2] if out else 0)
            while t < min(b, horizon):
                out.append((t, t, t + SERVICE))
                t += SERVICE
        return out
    free = 0.0
    for a in s["arrivalsUs"]:
        start = max(a, free)
        if start >= horizon:
            break
        out.append((a, start, start + SERVICE))
        free = start + SERVICE
    return out


def live_of(reqs, hold_us, w0, w1, end):
    clock = type("C", (), {"now": 0, "__call__": lambda self: self.now})()
    active = ActiveSet(len(reqs), int(hold_us * 1000), clock=clock)
    events = []
    for i, rs in enumerate(reqs):
        for k, (_, s, e) in enumerate(rs):
            nxt = rs[k + 1][1] if k + 1 < len(rs) else None
            events.append((e, 0, i, nxt == e))  # ends first at one instant
            events.append((s, 1, i, None))
    for t, kind, i, due in sorted(events):
        clock.now = int(t * 1000)
        if kind:
            active.begin(i)
        else:
            active.end(i, int(t * 1000), due)
    ns = lambda x: int(x * 1000)  # noqa: E731
    return {"requestSets": active.masks, **active.summary(0, ns(w0), ns(w1), ns(end))}


def main():
    record = sys.argv[1]
    while True:
        try:
            m, _ = read_frame()
        except EOFError:
            break
        check_request(m)
        if m["type"] == "hello":
            send({"type": "ready", "gpu": GPU, "versions": {}})
        elif m["type"] == "shutdown":
            break
        elif m["type"] == "run":
            with open(record, "a") as f:
                f.write(json.dumps(m) + "\n")
            if os.environ.get("FAKE_RUN_ERROR"):
                send({"type": "error", "key": m["key"], "message": os.environ["FAKE_RUN_ERROR"], "fatal": False})
                continue
            w0, w1 = m["warmupS"] * 1e6, (m["warmupS"] + m["windowS"]) * 1e6
            names = [w["name"] for w in m["plan"]["workers"]]
            schedules = m.get("arrivals") or [None] * len(names)
            reqs = [requests(s, w1) for s in schedules]
            reply = {"type": "result", "key": m["key"], "mode": m["mode"] or "whole", "windowStartUs": w0,
                     "windowEndUs": w1, "energyJ": 1.0, "wallS": 0.01, "clocks": {},
                     "switches": [0] * len(names), "notes": [],
                     "workers": [{"name": n, "arrivalUs": [r[0] for r in rs], "startUs": [r[1] for r in rs],
                                  "endUs": [r[2] for r in rs]} for n, rs in zip(names, reqs)]}
            if m.get("live"):
                reply["live"] = live_of(reqs, m["live"]["holdUs"], w0, w1, w1)
            send(reply)


main()
