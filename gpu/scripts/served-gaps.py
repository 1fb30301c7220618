"""Stretches where a served mix answered nothing: per run of serve-bench's requests.csv, the gaps between consecutive
completions of any model, over 2 ms and over 5 ms (how many, and the time in those over 5 ms). With --times RUN, the
time (ms from the run's first completion) and length of each gap over 5 ms in that run: a cause that repeats at a
fixed period shows as evenly spaced gaps.

Usage: python3 gpu/scripts/served-gaps.py requests.csv... [--times RUN]
"""

from __future__ import annotations

import argparse
import collections
import csv


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--times", metavar="RUN", help="list the gaps over 5 ms of this run (its id as in the csv)")
    a = ap.parse_args()
    for f in a.files:
        runs: dict[str, list[float]] = collections.defaultdict(list)
        with open(f) as fh:
            for r in csv.DictReader(fh):
                runs[r["run"]].append(float(r["end_ms"]))
        for run, ends in runs.items():
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
