"""Stretches where a served mix answered nothing: per run of serve-bench's requests.csv, the gaps between consecutive
completions of any model, over 2 ms and over 5 ms (how many, and the time in those over 5 ms). With --times RUN, the
time (ms from the run's first completion) and length of each gap over 5 ms in that run: a cause that repeats at a
fixed period shows as evenly spaced gaps. With --fold-ms P, per run the mean time a request spent outside the server's
queue and the GPU (client latency - queue - compute), by its completion time modulo P ms in ten bins: a stall that
repeats every P ms raises one bin.

Usage: python3 gpu/scripts/served-gaps.py requests.csv[.gz]... [--times RUN] [--fold-ms 100]
"""

from __future__ import annotations

import argparse
import collections
import csv
import gzip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--times", metavar="RUN", help="list the gaps over 5 ms of this run (its id as in the csv)")
    ap.add_argument("--fold-ms", type=float, help="the time outside queue and GPU by completion time modulo this")
    a = ap.parse_args()
    for f in a.files:
        runs: dict[str, list[float]] = collections.defaultdict(list)
        outside: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)
        with (gzip.open(f, "rt") if f.endswith(".gz") else open(f)) as fh:
            for r in csv.DictReader(fh):
                end = float(r["end_ms"])
                runs[r["run"]].append(end)
                wait = end - float(r["start_ms"]) - (float(r["queue_us"] or 0) + float(r["compute_us"] or 0)) / 1e3
                outside[r["run"]].append((end, wait))
        for run, ends in runs.items():
            if a.fold_ms:
                bins: dict[int, list[float]] = collections.defaultdict(list)
                for end, wait in outside[run]:
                    bins[int(end % a.fold_ms // (a.fold_ms / 10))].append(wait)
                means = " ".join(f"{sum(bins[k]) / len(bins[k]):.2f}" if bins[k] else "-" for k in range(10))
                print(f"{f}  {run}  outside queue and GPU, ms, by completion mod {a.fold_ms:g} ms: {means}")
                continue
            ends.sort()
            gaps = [(a_, b - a_) for a_, b in zip(ends, ends[1:])]
            span = ends[-1] - ends[0]
            over5 = [g for _, g in gaps if g > 5]
            print(f"{f}  {run}  {len(ends) / span * 1e3:7.0f} req/s  gaps over 2 ms {sum(g > 2 for _, g in gaps):4d}, "
                  f"over 5 ms {len(over5):3d} ({sum(over5):5.0f} ms of {span:5.0f})")
            if run == a.times:
                print("  " + " ".join(f"{t - ends[0]:.0f}({g:.0f})" for t, g in gaps if g > 5))


if __name__ == "__main__":
    main()
