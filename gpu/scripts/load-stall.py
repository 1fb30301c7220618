#!/usr/bin/env python3
"""Where the serving models' rate goes while a model loads: the load probe's requests lined up with the backend's
timing lines (issue #19's load target; gpu/scripts/device-live-control.sh runs the probe).

Usage: python3 gpu/scripts/load-stall.py DIR... [--model albert] [--timeline A-B] [--profiles profiles/h100 --batch 8]

Each DIR is one probe arm (probe.json[.gz], serve.log[.gz]) of a server run with ECLIP_HOTPATH_TIMING=1
(ECLIP_HOTPATH_TIMING_MS sets how often its lines come; 250 lines them up with the probe's bins). Per step of the load
(the backend's "load phases" line, placed by the monotonic time it began at) and before it, it prints each served
model's completions per second against before the load, and for MODEL: its mean request time end to end (the probe's
clients), its stream's mean idle time between executions and its GPU time (the timing lines), the host time of its
starts (enqueue µs: the driver calls that put an execution on its stream), and how late the backend's Python threads
got to run (the wake-up lines: mean and share over 100 µs). A step where the stream idles longer while the GPU time
and the enqueue time stay put had its requests reach the backend late; one where the enqueue grew was held up in the
driver.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
from pathlib import Path

PHASES = re.compile(r"gpu: (\S+): load phases \(s from its start\): (.*); it began at ([\d.]+) ms \(monotonic\)")
SPAN = re.compile(r"(.+?) (-?[0-9.]+)–(-?[0-9.]+)$")
TIMING = re.compile(r"eclip_gpu: timing (\S+): (\d+) executions, mean µs: input ([\d.]+), graph ([\d.]+), "
                    r"output ([\d.]+), idle before ([\d.]+) .*enqueue µs ([\d.]+) \(max (\d+)\), at ([\d.]+) ms")
STEP = re.compile(r"eclip_gpu: step (.+?) ([\d.]+)–([\d.]+) ms \(monotonic\)")
PAUSE = re.compile(r"eclip_gpu: pause (\S+): (\d+) µs, ended by an execution enqueued at ([\d.]+) ms"
                   r"(?: \(monotonic\), (\d+) µs after it was submitted)?")
WAKE = re.compile(r"eclip_gpu: python wake-ups to ([\d.]+) ms \(monotonic\): (\d+), (\d+) over 100 µs late, "
                  r"late µs mean ([\d.]+) max (\d+)")


def load_probe(d: Path) -> dict:
    p = d / "probe.json"
    return json.loads(p.read_text()) if p.exists() else json.load(gzip.open(d / "probe.json.gz"))


def server_log(d: Path) -> str:
    p = d / "serve.log"
    return p.read_text(errors="replace") if p.exists() else gzip.open(d / "serve.log.gz", "rt", errors="replace").read()


def steps(log: str, t0_ms: float, load0: float) -> list[tuple[str, float, float]]:
    """The load's steps in probe seconds: the server's planning (from the POST), then the backend's."""
    m = None
    for line in log.splitlines():
        m = PHASES.search(line) or m
    if m is None:
        raise SystemExit("no 'load phases … it began at' line in serve.log (a backend before this change?)")
    began = (float(m[3]) - t0_ms) / 1e3
    out = [("planning (server)", load0, began)]
    for part in m[2].split(", "):
        sm = SPAN.match(part.strip())
        if sm and float(sm[3]) > float(sm[2]):
            out.append((sm[1], began + float(sm[2]), began + float(sm[3])))
    return out


def table(d: Path, model: str, profiles: Path | None = None, batch: int = 8) -> list[str]:
    probe = load_probe(d)
    log = server_log(d)
    t0 = probe["t0MonotonicMs"]
    before_lo, before_hi = probe["phases"]["before"]
    spans = [("before the load", before_lo, before_hi), *steps(log, t0, before_hi)]
    reqs = [r for r in probe["requests"] if r[3] == 200]
    models = [m["model"] for m in probe["models"] if m["model"] != probe["load"]["model"]]
    timing = [(float(m[9]) / 1e3 - t0 / 1e3, int(m[2]), float(m[4]), float(m[6]), float(m[7]), int(m[8]))
              for m in TIMING.finditer(log) if m[1] == model]
    wakes = [((float(m[1]) - t0) / 1e3, int(m[2]), int(m[3]), float(m[4])) for m in WAKE.finditer(log)]

    def rate(m: str, lo: float, hi: float) -> float:
        return sum(1 for r in reqs if r[0] == m and lo <= r[2] < hi) / (hi - lo)

    base = {m: rate(m, before_lo, before_hi) for m in models}
    rows = [f"{d.name}: {model}'s requests and stream, the backend's Python wake-ups, per step of the load of "
            f"{probe['load']['model']} ({probe['load']['seconds']:.2f} s)",
            "| step | s | " + " | ".join(f"{m} ÷ before" for m in models) + f" | {model} request ms | stream idle µs "
            "| graph µs | enqueue µs mean (max) | Python late µs mean | wake-ups > 100 µs late |",
            "|---|---|" + "---|" * len(models) + "---|---|---|---|---|---|"]
    for name, lo, hi in spans:
        if hi - lo < 0.05:
            continue
        lat = [(r[2] - r[1]) * 1e3 for r in reqs if r[0] == model and lo <= r[2] < hi]
        tl = [t for t in timing if lo < t[0] <= hi + 0.125]
        n = sum(t[1] for t in tl) or 1
        idle = sum(t[1] * t[3] for t in tl) / n if tl else None
        graph = sum(t[1] * t[2] for t in tl) / n if tl else None
        enq = sum(t[1] * t[4] for t in tl) / n if tl else None
        enq_max = max((t[5] for t in tl), default=None)
        wl = [w for w in wakes if lo < w[0] <= hi + 0.125]
        wn = sum(w[1] for w in wl) or 1
        late = sum(w[1] * w[3] for w in wl) / wn if wl else None
        over = sum(w[2] for w in wl) / wn if wl else None
        f = lambda x, fmt: "–" if x is None else format(x, fmt)  # noqa: E731
        rows.append(f"| {name} | {lo:.2f}–{hi:.2f} | "
                    + " | ".join(f(rate(m, lo, hi) / base[m] if base[m] else None, ".3f") for m in models)
                    + f" | {f(statistics.mean(lat) if lat else None, '.1f')} | {f(idle, '.0f')} | {f(graph, '.0f')} "
                    f"| {f(enq, '.0f')} ({f(enq_max, 'd')}) | {f(late, '.0f')} "
                    f"| {f(over * 100 if over is not None else None, '.1f')}% |")
    during = [m for m in probe["models"] if m["model"] in models]
    rows.append("over the load (the probe's figure): " + ", ".join(
        f"{m['model']} {m['duringVsBefore']:.3f} (lowest 0.25-s bin {m['minBinVsBefore']:.3f})" for m in during))
    if profiles is not None:
        rows.append(system(during, profiles, batch))
    return rows


def system(during: list[dict], profiles: Path, batch: int) -> str:
    """The served models' STP over the load ÷ before it (Σ rate ÷ solo rate, each model's solo rate from its profile's
    whole-GPU request time, fp16 at `batch`, as the bench's "solo rates from profiles") and the worst model's ratio."""
    def solo(model: str) -> float:
        prof = json.loads((profiles / f"{model}.b{batch}.fp16.json").read_text())
        return 1e6 / prof["requestUs"][-1]

    stp = {ph: sum(m["rate"][ph][0] / solo(m["model"]) for m in during) for ph in ("before", "during")}
    worst = min(during, key=lambda m: m["duringVsBefore"])
    return (f"STP over the load {stp['during']:.3f} ÷ before {stp['before']:.3f} = {stp['during'] / stp['before']:.3f} "
            f"(solo rates from {profiles}, batch {batch}); worst model {worst['model']} {worst['duringVsBefore']:.3f}")


def timeline(d: Path, model: str, lo: float, hi: float) -> list[str]:
    """From lo to hi s after the load began: the backend's set-up steps (ECLIP_HOTPATH_TIMING's step lines) and MODEL's
    stream pauses over 1 ms (each at the time the execution that ended it was enqueued), in time order; then how much
    of the pauses' time fell while a step of each kind ran."""
    probe = load_probe(d)
    log = server_log(d)
    m = None
    for line in log.splitlines():
        m = PHASES.search(line) or m
    began = float(m[3])
    ev = [((float(x[2]) - began) / 1e3, (float(x[3]) - began) / 1e3, x[1]) for x in STEP.finditer(log)]
    ev = [e for e in ev if e[1] >= lo and e[0] <= hi]
    pauses = [((float(x[3]) - began) / 1e3, int(x[2]) / 1e6, x[4]) for x in PAUSE.finditer(log) if x[1] == model]
    pauses = [p for p in pauses if lo <= p[0] <= hi]
    rows = [f"{d.name}: {lo}–{hi} s after the load of {probe['load']['model']} began (s; pause lengths in ms)"]
    items = [(a, f"{a:8.3f}–{b:8.3f}  {name}") for a, b, name in ev]
    items += [(t, f"{t:8.3f}            {model} pause {p * 1e3:.1f} ms, ended by an execution enqueued then"
                  + (f", {int(w) / 1e3:.1f} ms after it was submitted" if w is not None else "")) for t, p, w in pauses]
    rows += [x for _, x in sorted(items)]
    # a pause ends when its execution starts, at or after it was enqueued: [t − pause, t] is where it lay at the
    # latest (where the execution was started as its request arrived, as in every pause of a load measured)
    kinds: dict[str, float] = {}
    for t, p, _ in pauses:
        for a, b, name in ev:
            kind = name.split(" ")[0]
            kinds[kind] = kinds.get(kind, 0.0) + max(0.0, min(b, t) - max(a, t - p))
    total = sum(p for _, p, _ in pauses)
    rows.append(f"{len(pauses)} pauses, {total * 1e3:.0f} ms; of it while a step ran (steps may nest): "
                + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in sorted(kinds.items())))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dirs", nargs="+", type=Path)
    ap.add_argument("--model", default="albert", help="the served model whose stream is broken down (albert)")
    ap.add_argument("--timeline", metavar="A-B", help="also the steps and pauses from A to B s after the load began")
    ap.add_argument("--profiles", type=Path, help="also the served models' STP over the load ÷ before it, solo rates "
                    "from this profile directory")
    ap.add_argument("--batch", type=int, default=8, help="the served models' batch, for their profiles (8)")
    a = ap.parse_args()
    for d in a.dirs:
        print("\n".join(table(d, a.model, a.profiles, a.batch)))
        if a.timeline:
            lo, hi = (float(x) for x in a.timeline.split("-"))
            print("\n".join(timeline(d, a.model, lo, hi)))
        print()


if __name__ == "__main__":
    main()
