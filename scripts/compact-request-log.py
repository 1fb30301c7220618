#!/usr/bin/env python3
"""Shrinks an `eclip bench` request log (requests.csv) for the repository: keeps one backend's rows, and stores each
request as the gap since the same worker's previous request ended and its latency, in whole µs (host-clock times: finer digits are noise), gzipped.

  compact-request-log.py requests.csv gpu out.csv.gz

Output columns: run (index into the `runs` header line's list), worker, request, gap_us, latency_us. A request's
start is the cumulative sum over that (run, worker) of previous gap + latency; its end is start + latency.
"""

import csv
import gzip
import sys

src, backend, dst = sys.argv[1:4]
runs: dict[str, int] = {}
last_end: dict[tuple, float] = {}
rows = []
with open(src, newline="") as f:
    r = csv.reader(f)
    next(r)
    for run, worker, req, _arrival, start, end in r:
        if not run.endswith(f"|{backend}"):
            continue
        ri = runs.setdefault(run, len(runs))
        s, e = float(start), float(end)
        gap = s - last_end.get((ri, worker), 0.0)
        last_end[(ri, worker)] = e
        rows.append(f"{ri},{worker},{req},{gap:.0f},{e - s:.0f}")
with gzip.open(dst, "wt") as out:
    out.write("# runs: " + " ".join(runs) + "\n")
    out.write("run,worker,request,gap_us,latency_us\n")
    out.write("\n".join(rows) + "\n")
print(f"{dst}: {len(rows)} requests of {len(runs)} {backend} runs")
