"""Tables the backend's stream timing lines (ECLIP_HOTPATH_TIMING=1, docs/serve.md) from serve logs.

Usage: python3 gpu/scripts/stream-timing.py LOG... [--interval-s 2]

A log holds one server after another (a serve-bench run per policy); each server's lines begin with one line per
model at its first answer ("1 executions"), then one per model every ~2 s, then one at close. Per server and
interval it prints the requests per second of all its models, the share of each model's stream that was busy (the
mean over models of executions × (input + graph + output + idle µs) ÷ the interval; what is left is pauses over
1 ms, when nothing of the model's was on the GPU; approximate, the line's idle mean taken for every execution), the
pauses per model and the mean graph µs. The intervals of a window are those with the most executions; the first
(ramp-up) and the last (the rest up to close) are partial. A new server is told by its models' "1 executions" lines,
so a model answering a single request in an interval would be taken for one: for closed-loop serve-bench logs.
"""

from __future__ import annotations

import argparse
import re
import sys

LINE = re.compile(r"eclip_gpu: timing (\S+): (\d+) executions, mean µs: input ([\d.]+), graph ([\d.]+), "
                  r"output ([\d.]+), idle before ([\d.]+) \(([\d.]+)% over 50 µs\), (\d+) pauses over 1 ms")


def servers(path: str) -> list[dict[str, list[tuple]]]:
    """Per server, per model, its interval lines in order: (n, input, graph, output, idle, pauses)."""
    out: list[dict[str, list[tuple]]] = []
    cur: dict[str, list[tuple]] | None = None
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.search(line)
            if not m:
                continue
            name, n = m[1], int(m[2])
            if n == 1 and (cur is None or name in cur):
                cur = {}
                out.append(cur)
            if cur is None:
                continue
            cur.setdefault(name, []).append((n, float(m[3]), float(m[4]), float(m[5]), float(m[6]), int(m[8])))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("logs", nargs="+")
    ap.add_argument("--interval-s", type=float, default=2.0, help="the timing lines' period (the backend's: 2 s)")
    args = ap.parse_args()
    print("log  server  interval  req/s (all models)  stream busy  pauses per model  graph µs")
    for path in args.logs:
        for i, models in enumerate(servers(path)):
            names = sorted(models)
            count = min(len(models[n]) for n in names)
            for k in range(1, count):  # line 0 is each model's first answer
                rows = [models[n][k] for n in names]
                rate = sum(r[0] for r in rows) / args.interval_s
                busy = sum(r[0] * sum(r[1:5]) for r in rows) / (len(rows) * args.interval_s * 1e6)
                print(f"{path.rsplit('/', 1)[-1]}  {i + 1}  {k}  {rate:7.0f}  {busy:.3f}  "
                      f"{','.join(str(r[5]) for r in rows)}  {','.join(f'{r[2]:.0f}' for r in rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
