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

Where the rate goes during a load: every BIN s it also reads the server's /metrics (per model, requests answered and
their GPU time and queueing, Triton's counters) and the host's CPU time (/proc/stat, and the processes --pids names),
so each bin says whether a model's executions took longer on the GPU (the load's GPU work beside them) or stayed as
fast and fewer were run (their launches held up on the host). With --server-log, the load's steps as the backend
reports them (its "load phases" line, model_control.py) are lined up with the bins: per step, each model's rate and
GPU time per request against before the load.

Usage: live-control-probe.py URL --on albert,densenet201 --load vgg19 --batch 8 --out DIR [--server-log FILE]
(gpu/scripts/device-live-control.sh runs it against `eclip serve --backend gpu`.)
Writes DIR/probe.json (every request, every sample) and DIR/probe.txt (the tables it prints).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
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


# Triton's cumulative counters per model that say where a request's time went (src/serve/metrics.ts)
COUNTERS = {"nv_inference_request_success": "success", "nv_inference_compute_infer_duration_us": "computeUs",
            "nv_inference_queue_duration_us": "queueUs"}
_METRIC = re.compile(r'^(\w+)\{model="([^"]+)"[^}]*\} ([-+0-9.eE]+)$')


def parse_metrics(text: str, models: list[str]) -> dict:
    """{model: {success, computeUs, queueUs}} of a /metrics page (Prometheus text), the models asked for."""
    out = {m: {} for m in models}
    for line in text.splitlines():
        m = _METRIC.match(line)
        if m and m.group(1) in COUNTERS and m.group(2) in out:
            out[m.group(2)][COUNTERS[m.group(1)]] = float(m.group(3))
    return out


def host_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the host so far, every core (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return (sum(v) - idle) / tick, sum(v) / tick


def process_cpu(pid: int) -> float | None:
    """CPU seconds process `pid` has used so far (user + system, all its threads); None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sample_loop(url: str, models: list[str], pids: dict, every: float, t_start: float, stop: threading.Event,
                samples: list) -> None:
    """Every `every` s: (t, /metrics counters per model, host CPU, each named process's CPU)."""
    c = Client(url)
    while not stop.is_set():
        t = time.perf_counter() - t_start
        try:
            status, body = c.call("GET", "/metrics")
            counters = parse_metrics(body.decode(errors="replace"), models) if status == 200 else {}
        except (OSError, http.client.HTTPException):
            counters = {}
        samples.append({"t": t, "counters": counters, "host": host_cpu(),
                        "procs": {name: process_cpu(pid) for name, pid in pids.items()}})
        stop.wait(max(0.0, every - (time.perf_counter() - t_start - t)))


def between(samples: list, lo: float, hi: float, models: list[str]) -> dict:
    """What the samples nearest [lo, hi] say of it: per model its requests' mean GPU time and queueing (µs, from
    the counters' differences), the host's busy cores and each named process's cores; None where it cannot."""
    if not samples:
        return {}
    a = min(samples, key=lambda x: abs(x["t"] - lo))
    b = min(samples, key=lambda x: abs(x["t"] - hi))
    if b["t"] <= a["t"]:
        return {}
    dt = b["t"] - a["t"]
    out: dict = {"models": {}}
    for m in models:
        ca, cb = a["counters"].get(m, {}), b["counters"].get(m, {})
        n = cb.get("success", 0) - ca.get("success", 0)
        per = {k: (cb[k] - ca[k]) / n if n > 0 and k in ca and k in cb else None for k in ("computeUs", "queueUs")}
        out["models"][m] = {"requests": n, **per}
    busy = b["host"][0] - a["host"][0]
    out["hostCores"] = busy / dt
    out["procCores"] = {k: (b["procs"][k] - a["procs"][k]) / dt
                        for k in b["procs"] if b["procs"].get(k) is not None and a["procs"].get(k) is not None}
    return out


_PHASES = re.compile(r"gpu: (\S+): load phases \(s from its start\): (.*?)(?:; it began at [\d.]+ ms \(monotonic\))?$")
_SPAN = re.compile(r"(.+?) (-?[0-9.]+)–(-?[0-9.]+)$")


def parse_phases(log: str, model: str) -> list[tuple[str, float, float]]:
    """The last load of `model` in a server log, as its steps (name, from s, to s: from the backend's start of it)."""
    found = []
    for line in log.splitlines():
        m = _PHASES.search(line)
        if m and m.group(1) == model:
            found = []
            for part in m.group(2).split(", "):
                sm = _SPAN.match(part.strip())
                if sm:
                    found.append((sm.group(1), float(sm.group(2)), float(sm.group(3))))
    return found


def phase_rows(phases: list, load0: float, load1: float, log: list, samples: list, models: list[str],
               before: dict) -> list[dict]:
    """Per step of the load, each on-model's rate and mean GPU time per request against before the load. The backend's
    steps are placed so that its last one ends when the load was answered (the server's answer follows it at once);
    what comes before them, from the POST on, is the server planning the new table."""
    if not phases:
        return []
    shift = load1 - phases[-1][2]
    spans = [("planning (server)", load0, shift + phases[0][1])] + [(n, shift + a, shift + b) for n, a, b in phases]
    rows = []
    for name, lo, hi in spans:
        if hi <= lo:
            continue
        seen = between(samples, lo, hi, models)
        row = {"step": name, "from": lo, "to": hi, "models": {}, "hostCores": seen.get("hostCores"),
               "procCores": seen.get("procCores", {})}
        for m in models:
            done = sum(1 for (mm, _, e, st, _) in log if mm == m and st == 200 and lo <= e < hi)
            b = before.get(m) or {}
            gpu = (seen.get("models", {}).get(m) or {}).get("computeUs")
            row["models"][m] = {
                "rate": done / (hi - lo),
                "rateVsBefore": done / (hi - lo) / b["rate"] if b.get("rate") else None,
                "computeUs": gpu,
                "computeVsBefore": gpu / b["computeUs"] if gpu and b.get("computeUs") else None,
            }
        rows.append(row)
    return rows


def step_table(rows: list[dict], on: list[str], before: dict, seen_before: dict) -> list[str]:
    """The load's steps: each on-model's rate ÷ before and GPU time per request ÷ before, the host's busy cores."""
    if not rows:
        return ["load steps: none in the server log (no --server-log, or no \"load phases\" line)"]
    f = lambda x, d=2: "–" if x is None else f"{x:.{d}f}"  # noqa: E731
    names = sorted({k for r in rows for k in r["procCores"]} | set(seen_before.get("procCores") or {}))
    out = ["load steps (s after the POST; rate ÷ before, GPU µs per request ÷ before; host busy cores"
           + "".join(f", {n} cores" for n in names) + f"): before the load {f(seen_before.get('hostCores'), 1)}"
           + "".join(f" / {f((seen_before.get('procCores') or {}).get(n), 2)}" for n in names) + " cores; GPU µs "
           + ", ".join(f"{m} {f(before.get(m, {}).get('computeUs'), 0)}" for m in on)]
    head = f"{'step':<34}{'s':>13}" + "".join(f"{m[:12] + ' rate':>18}{'gpu µs':>9}" for m in on) + f"{'host':>7}"
    out.append(head + "".join(f"{n[:10]:>11}" for n in names))
    t0 = rows[0]["from"]
    for r in rows:
        cells = "".join(f"{f(r['models'][m]['rateVsBefore'], 3):>18}{f(r['models'][m]['computeVsBefore'], 3):>9}"
                        for m in on)
        out.append(f"{r['step'][:33]:<34}{f(r['from'] - t0, 2) + '–' + f(r['to'] - t0, 2):>13}{cells}"
                   f"{f(r['hostCores'], 1):>7}" + "".join(f"{f(r['procCores'].get(n), 2):>11}" for n in names))
    return out


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
    ap.add_argument("--server-log", help="the server's log, read after the run for the load's steps")
    ap.add_argument("--pids", default="", help="processes whose CPU to sample, as name=pid,name=pid")
    a = ap.parse_args()
    pids = {k: int(v) for k, v in (x.split("=", 1) for x in a.pids.split(",") if "=" in x)}
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
    # the probe's zero on the host's monotonic clock, which the backend's timing lines use (ECLIP_HOTPATH_TIMING)
    t_start_ms = (time.monotonic() - (time.perf_counter() - t_start)) * 1e3
    samples: list = []
    sampling = threading.Event()
    sampler = threading.Thread(target=sample_loop, args=(a.url, [*on, a.load], pids, a.bin, t_start, sampling,
                                                        samples), daemon=True)
    sampler.start()
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
    sampling.set()
    sampler.join(30)
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
    # where the rate went: the load's steps (from the server's log) against before it, GPU time per request and CPU
    rel = [(m, s - t_start, e - t_start, st, why) for (m, s, e, st, why) in log]
    b_lo, b_hi = phases["before"][0] - t_start, phases["before"][1] - t_start
    seen_before = between(samples, b_lo, b_hi, on)
    before = {r["model"]: {"rate": r["rate"]["before"][0],
                           "computeUs": (seen_before.get("models", {}).get(r["model"]) or {}).get("computeUs")}
              for r in rows if r["model"] in on}
    steps = parse_phases(Path(a.server_log).read_text(errors="replace"), a.load) if a.server_log else []
    by_step = phase_rows(steps, load0 - t_start, load1 - t_start, rel, samples, on, before)
    (out / "probe.json").write_text(json.dumps({
        "load": {"model": a.load, "seconds": load1 - load0, "status": status}, "unload": unload,
        "bin": a.bin, "t0MonotonicMs": t_start_ms, "models": rows, "phases": {k: [lo - t_start, hi - t_start] for k, (lo, hi) in phases.items()},
        "before": {**before, "hostCores": seen_before.get("hostCores"), "procCores": seen_before.get("procCores")},
        "steps": by_step, "samples": samples, "requests": [list(r) for r in rel]}))

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
    lines += step_table(by_step, on, before, seen_before)
    text = "\n".join(lines)
    (out / "probe.txt").write_text(text + "\n")
    print(text)
    return 0 if ustatus == 200 and not lost else 1


if __name__ == "__main__":
    raise SystemExit(main())
