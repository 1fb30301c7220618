#!/usr/bin/env python3
"""Shrinks an `eclip paris --backend gpu` query log (requests.csv.gz) for the repository, losing nothing but sub-µs
digits (host-clock times: finer digits are noise): the run key, dispatch and layout are written once in a `# runs`
header line instead of on every query, and each query's times as gaps, which gzip far better.

  compact-paris-log.py requests.csv.gz out.csv.gz

Output columns: run (index into the header's list of `key;dispatch;layout`), query, model, batch, arrival_gap_us
(since the run's previous query arrived; whole µs, so the arrival is the running sum), release_lag_us (release - arrival), wait_us (start - release), service_us (end - start), partition, gpu, dropped.
So release = arrival + release_lag, start = release + wait, end = start + service.
"""

import csv
import gzip
import sys

src, dst = sys.argv[1:3]
runs: dict[str, int] = {}
rows = []
last_arrival: dict[int, int] = {}
with gzip.open(src, "rt", newline="") as f:
    for r in csv.DictReader(f):
        key = f"{r['run']};{r['dispatch']};{r['layout']}"
        run = runs.setdefault(key, len(runs))
        arrival, release = float(r["arrival_us"]), float(r["release_us"])
        start, end = float(r["start_us"]), float(r["end_us"])
        a = round(arrival)
        rows.append(
            [run, r["query"], r["model"], r["batch"], a - last_arrival.get(run, 0), round(release - arrival), round(start - release),
             round(end - start), r["partition"], r.get("gpu", "0"), r["dropped"]]
        )
        last_arrival[run] = a
with gzip.open(dst, "wt", newline="", compresslevel=9) as f:
    f.write("# runs: " + " | ".join(runs) + "\n")
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["run", "query", "model", "batch", "arrival_gap_us", "release_lag_us", "wait_us", "service_us", "partition",
                "gpu", "dropped"])
    w.writerows(rows)
print(f"{dst}: {len(rows)} queries of {len(runs)} runs")
