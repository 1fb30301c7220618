"""Lines up the GPU streams' pauses with what held the server and the backend then, from serve logs run with
ECLIP_HOTPATH_TIMING=1 (docs/serve.md): did the streams stand empty while the server was collecting garbage, while
a turn of its event loop ran long, or while the backend's Python was held?

Usage: python3 gpu/scripts/pause-causes.py LOG... [--slack-ms 0.2] [--longest-ms 10]

On the host's CLOCK_MONOTONIC, all of them:
- the backend, a line per stream pause over 1 ms ("eclip_gpu: pause alexnet#0: 1830 µs, ended by an execution
  enqueued at T ms (monotonic)": the stream stood empty over [T − 1.83 ms, T]);
- the server, a line per GC pause ("eclip serve: gc minor at T ms (monotonic) for 640 µs") and per time its event
  loop was held, a 1-ms timer firing over 1 ms late ("eclip serve: loop held at T ms … for D µs"; a GC shows there
  too);
- serve-bench's client processes, the same two ("eclip clients: gc …", "eclip clients: loop held …");
- the backend, each time a Python thread woke over 1 ms late ("eclip_gpu: python held at T ms … for D µs").
Logs written before the GC kinds were named after Node's constants call a full collection "incremental" and an
incremental-marking step "weakcb".
Pauses of several models that overlap are one episode (something all models share held them); episodes longer than
--longest-ms are left out (the streams idle between runs). Per log it prints the episodes and their time, and how
many of them (and how much of their time) overlap, within the slack, a GC pause of the server, else a held turn of
its loop, else a pause of the clients, else held Python, else none of these; the GC pauses by kind; and as a control the same overlaps with every event moved 37 ms
later (what chance gives at those rates).
"""

from __future__ import annotations

import argparse
import re
import sys

PAUSE = re.compile(r"eclip_gpu: pause (\S+): ([\d.]+) µs, ended by an execution enqueued at ([\d.]+) ms")
HELD = re.compile(r"(eclip (serve|clients): gc (\S+)|eclip (serve|clients): loop held|eclip_gpu: python held) at "
                  r"([\d.]+) ms \(monotonic\) for (\d+) µs")

Interval = tuple[float, float, str]
SOURCES = ("gc", "loop", "clients", "python")


def read(path: str) -> tuple[list[Interval], dict[str, list[Interval]]]:
    """Stream pauses as (start ms, end ms, model), and the holds by source ("gc", "loop": the server's; "clients":
    serve-bench's client processes', GC or loop; "python": the backend's) as (start ms, end ms, kind)."""
    pauses: list[Interval] = []
    held: dict[str, list[Interval]] = {"gc": [], "loop": [], "python": [], "clients": []}
    with open(path, errors="replace") as f:
        for line in f:
            if m := PAUSE.search(line):
                end = float(m[3])
                pauses.append((end - float(m[2]) / 1e3, end, m[1]))
            elif m := HELD.search(line):
                start = float(m[5])
                if m[2] == "clients" or m[4] == "clients":
                    source = "clients"
                else:
                    source = "gc" if m[3] else "loop" if m[4] else "python"
                held[source].append((start, start + float(m[6]) / 1e3, m[3] or source))
    return pauses, held


def episodes(pauses: list[tuple[float, float, str]]) -> list[tuple[float, float, set[str]]]:
    """Overlapping pauses merged: (start, end, the models that stood empty)."""
    out: list[tuple[float, float, set[str]]] = []
    for s, e, name in sorted(pauses):
        if out and s <= out[-1][1]:
            ps, pe, names = out[-1]
            out[-1] = (ps, max(pe, e), names | {name})
        else:
            out.append((s, e, {name}))
    return out


def overlaps(a: list[tuple], b: list[tuple], slack: float, shift: float = 0.0) -> list[bool]:
    """For each interval of `a` (sorted), whether it overlaps one of `b` moved by `shift`, `slack` ms either side."""
    bs = sorted((s + shift, e + shift) for s, e, *_ in b)
    out, j = [], 0
    for s, e, *_ in sorted(a):
        while j < len(bs) and bs[j][1] + slack < s:
            j += 1
        k, hit = j, False
        while k < len(bs) and bs[k][0] - slack <= e:
            if bs[k][1] + slack >= s:
                hit = True
                break
            k += 1
        out.append(hit)
    return out


def overlapping(a: list[tuple], b: list[tuple], slack: float, shift: float = 0.0) -> int:
    """How many intervals of `a` overlap one of `b` (moved by `shift`), `slack` ms either side."""
    return sum(overlaps(a, b, slack, shift))


def causes(eps: list[tuple], held: dict[str, list[Interval]], slack: float, shift: float = 0.0) -> dict[str, list]:
    """The episodes by the first source that overlaps them: gc, else loop, else clients, else python, else none."""
    marks = {k: overlaps(eps, v, slack, shift) for k, v in held.items()}
    out: dict[str, list] = {k: [] for k in (*SOURCES, "none")}
    for i, e in enumerate(sorted(eps)):
        out[next((k for k in SOURCES if marks[k][i]), "none")].append(e)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("logs", nargs="+")
    ap.add_argument("--slack-ms", type=float, default=0.2, help="how near counts as overlapping (default 0.2 ms)")
    ap.add_argument("--longest-ms", type=float, default=10.0, help="longer episodes are idle time (default 10 ms)")
    args = ap.parse_args()
    for path in args.logs:
        pauses, held = read(path)
        name = path.rsplit("/", 1)[-1]
        if not pauses and not any(held.values()):
            print(f"{name}: no pause or held lines (ECLIP_HOTPATH_TIMING=1 not set?)")
            continue
        models = {p[2] for p in pauses}
        eps = [e for e in episodes(pauses) if e[1] - e[0] <= args.longest_ms]
        total = sum(e - s for s, e, _ in eps)
        every = sum(1 for e in eps if len(e[2]) == len(models))
        print(f"{name}: {len(pauses)} stream pauses over 1 ms; {len(eps)} episodes of at most {args.longest_ms:g} ms "
              f"({every} with every model of the {len(models)} empty), {total:.1f} ms in all")
        by, chance = causes(eps, held, args.slack_ms), causes(eps, held, args.slack_ms, shift=37.0)
        for k in (*SOURCES, "none"):
            t = sum(e - s for s, e, _ in by[k])
            print(f"  overlapping {k:6s}: {len(by[k]):4d} episodes, {t:7.1f} ms ({t / max(total, 1e-9):.0%} of the "
                  f"time); moved 37 ms later: {len(chance[k])}")
        kinds: dict[str, list[float]] = {}
        for s, e, kind in held["gc"]:
            kinds.setdefault(kind, []).append(e - s)
        for kind, ds in sorted(kinds.items()):
            ds.sort()
            print(f"  gc {kind}: {len(ds)} pauses, {sum(ds):.1f} ms in all, median {ds[len(ds) // 2]:.2f} ms, "
                  f"max {ds[-1]:.2f} ms")
        for k in ("loop", "clients", "python"):
            ds = sorted(e - s for s, e, _ in held[k])
            if ds:
                print(f"  {k} held (late by over 1 ms): {len(ds)} times, {sum(ds):.1f} ms in all, median {ds[len(ds) // 2]:.2f} "
                      f"ms, max {ds[-1]:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
