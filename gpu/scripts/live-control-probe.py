#!/usr/bin/env python3
"""Loading a model while others serve, and unloading it (issue #19: "the two keep >= 90% of their rate during the
load; unloading loses no accepted request"), against a running `eclip serve` under eclip-live.

Closed-loop clients (CLIENTS threads per model, each one request at a time, KServe binary tensors over keep-alive
HTTP) drive the --on models; after BEFORE s the --load model is loaded (POST /v2/repository/models/M/load, timed until
it is answered); clients then drive it too; AFTER s later it is unloaded while its clients go on. Every request's send
time, end time and status are kept. Reports per model its completed requests per BIN-s bin and the mean rate before,
during and after the load (during: from the load's POST to its answer), the during/before ratio and the lowest bin
during against the mean before; and for the unload: the requests the server accepted for the unloaded model (all
but those refused at once: 503 "being unloaded", 404 "not loaded") and how many of them were answered 200.

Usage: live-control-probe.py URL --on albert,densenet201 --load vgg19 --batch 8 --out DIR
(gpu/scripts/device-live-control.sh runs it against `eclip serve --backend gpu`.)
Writes DIR/probe.json (every request) and DIR/probe.txt (the table it prints).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import threading
import time
import urllib.parse
from pathlib import Path

BYTES = {"FP16": 2, "FP32": 4, "INT64": 8, "INT32": 4, "UINT8": 1, "BOOL": 1}


class Client:
    """One keep-alive connection to the server."""

    def __init__(self, url: str):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.conn = None

    def call(self, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> tuple[int, bytes]:
        for attempt in (0, 1):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
                self.conn.request(method, path, body=body, headers=headers or {})
                r = self.conn.getresponse()
                return r.status, r.read()
            except (OSError, http.client.HTTPException):
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


def infer_body(meta: dict, batch: int) -> tuple[bytes, dict]:
    """A binary-tensor infer request of `batch` items of zeros (token id 0, a black image), outputs in binary."""
    t = meta["inputs"][0]
    shape = [batch, *t["shape"][1:]]
    n = BYTES[t["datatype"]]
    for d in shape:
        n *= d
    head = json.dumps({"inputs": [{"name": t["name"], "datatype": t["datatype"], "shape": shape,
                                   "parameters": {"binary_data_size": n}}],
                       "outputs": [{"name": o["name"], "parameters": {"binary_data": True}} for o in meta["outputs"]]})
    return head.encode() + bytes(n), {"Inference-Header-Content-Length": str(len(head)),
                                      "Content-Type": "application/octet-stream"}


def drive(url: str, model: str, body: bytes, headers: dict, stop: threading.Event, log: list) -> None:
    c = Client(url)
    path = f"/v2/models/{model}/infer"
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            status, data = c.call("POST", path, body, headers)
            why = "" if status == 200 else data[:160].decode(errors="replace")
        except (OSError, http.client.HTTPException) as e:
            status, why = 0, f"{type(e).__name__}: {e}"
        log.append((model, t0, time.perf_counter(), status, why))
        if status in (404, 503) and why:
            time.sleep(0.002)  # refused at once: do not spin


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("url")
    ap.add_argument("--on", required=True, help="models serving throughout, comma-separated")
    ap.add_argument("--load", required=True, help="the model loaded, then unloaded")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--before", type=float, default=3.0)
    ap.add_argument("--after", type=float, default=2.0)
    ap.add_argument("--bin", type=float, default=0.25)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    on = [m for m in a.on.split(",") if m]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    ctl = Client(a.url)
    meta = {m: json.loads(ctl.call("GET", f"/v2/models/{m}")[1]) for m in on}
    log: list = []
    stops = {m: threading.Event() for m in [*on, a.load]}
    threads = []

    def start(model: str, body: bytes, headers: dict) -> None:
        for _ in range(a.clients):
            t = threading.Thread(target=drive, args=(a.url, model, body, headers, stops[model], log), daemon=True)
            t.start()
            threads.append(t)

    t_start = time.perf_counter()
    for m in on:
        start(m, *infer_body(meta[m], a.batch))
    time.sleep(a.before)
    load0 = time.perf_counter()
    status, data = ctl.call("POST", f"/v2/repository/models/{a.load}/load", b"{}", {"Content-Type": "application/json"})
    load1 = time.perf_counter()
    if status != 200:
        print(f"load of {a.load}: {status} {data[:300].decode(errors='replace')}")
        for s in stops.values():
            s.set()
        return 1
    start(a.load, *infer_body(json.loads(ctl.call("GET", f"/v2/models/{a.load}")[1]), a.batch))
    time.sleep(a.after)
    unload0 = time.perf_counter()
    ustatus, udata = ctl.call("POST", f"/v2/repository/models/{a.load}/unload", b"{}",
                              {"Content-Type": "application/json"})
    unload1 = time.perf_counter()
    time.sleep(0.5)
    for s in stops.values():
        s.set()
    for t in threads:
        t.join(30)
    t_end = time.perf_counter()

    # rates per bin and per phase (full bins only: a bin must lie inside the phase)
    rows, lines = [], []
    phases = {"before": (t_start + 1.0, load0), "during": (load0, load1), "after": (load1, unload0)}
    for m in [*on, a.load]:
        ends = sorted(e for (mm, _, e, st, _) in log if mm == m and st == 200)
        nbins = int((t_end - t_start) / a.bin) + 1
        bins = [0] * nbins
        for e in ends:
            bins[int((e - t_start) / a.bin)] += 1
        rate = {}
        for ph, (lo, hi) in phases.items():
            full = [bins[i] / a.bin for i in range(nbins)
                    if t_start + i * a.bin >= lo and t_start + (i + 1) * a.bin <= hi]
            rate[ph] = (statistics.mean(full), min(full), len(full)) if full else (None, None, 0)
        before = rate["before"][0]
        during, low, n = rate["during"]
        rows.append({"model": m, "bins": bins, "rate": rate,
                     "duringVsBefore": during / before if before and during is not None else None,
                     "minBinVsBefore": low / before if before and low is not None else None})
    # the unload: every request of the unloaded model sent after its load, by what became of it
    sent = [r for r in log if r[0] == a.load]
    # refused before it was accepted: 404 (not served, or not known any more), 503 "is being unloaded"
    refused = [r for r in sent if r[3] == 404 or (r[3] == 503 and "being unloaded" in r[4])]
    answered = [r for r in sent if r[3] == 200]
    lost = [r for r in sent if r[3] != 200 and not (r[3] == 404 or (r[3] == 503 and "being unloaded" in r[4]))]
    inflight = [r for r in sent if r[1] < unload0 < r[2]]
    unload = {"status": ustatus, "body": udata[:200].decode(errors="replace"), "seconds": unload1 - unload0,
              "accepted": len(answered) + len(lost), "answered": len(answered), "refused": len(refused),
              "lost": [r[3:] for r in lost][:10], "inFlightAtUnload": len(inflight),
              "inFlightAnswered": sum(1 for r in inflight if r[3] == 200),
              "inFlightRefused": sum(1 for r in inflight if r in refused)}
    (out / "probe.json").write_text(json.dumps({
        "load": {"model": a.load, "seconds": load1 - load0, "status": status}, "unload": unload,
        "bin": a.bin, "models": rows, "phases": {k: [lo - t_start, hi - t_start] for k, (lo, hi) in phases.items()},
        "requests": [[m, s - t_start, e - t_start, st, why] for (m, s, e, st, why) in log]}))

    f = lambda x, d=1: "–" if x is None else f"{x:.{d}f}"  # noqa: E731
    lines.append(f"load of {a.load}: {load1 - load0:.2f} s (POST → 200), {a.clients} clients per model, "
                 f"batch {a.batch}, bins of {a.bin} s")
    lines.append(f"{'model':<14}{'before req/s':>13}{'during req/s':>13}{'min bin':>9}{'bins':>6}{'during÷before':>15}"
                 f"{'min÷before':>12}{'after req/s':>13}")
    for r in rows:
        b, d, af = r["rate"]["before"], r["rate"]["during"], r["rate"]["after"]
        lines.append(f"{r['model']:<14}{f(b[0]):>13}{f(d[0]):>13}{f(d[1]):>9}{d[2]:>6}{f(r['duringVsBefore'], 3):>15}"
                     f"{f(r['minBinVsBefore'], 3):>12}{f(af[0]):>13}")
    lines.append(f"unload of {a.load}: {ustatus} in {unload['seconds']:.2f} s; accepted {unload['accepted']}, answered "
                 f"{unload['answered']}, lost {len(lost)}; refused at once {len(refused)}; of the "
                 f"{len(inflight)} a client had sent when the unload was asked, {unload['inFlightAnswered']} answered, "
                 f"{unload['inFlightRefused']} refused (they reached the server after it)")
    text = "\n".join(lines)
    (out / "probe.txt").write_text(text + "\n")
    print(text)
    return 0 if ustatus == 200 and not lost else 1


if __name__ == "__main__":
    raise SystemExit(main())
