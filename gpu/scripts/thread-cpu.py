"""Per-thread host CPU of the processes on a request's path, sampled while a served run goes on (issue #17: which
thread holds the served rate back when no process is a core busy in all).

Usage (GPU machine, beside a serve-bench run): python3 gpu/scripts/thread-cpu.py --out FILE [--interval 1]
[--match eclip] — runs until SIGTERM/SIGINT. Every interval it reads utime + stime of every thread
(/proc/PID/task/TID/stat) of every process whose command line contains --match, and appends one JSON line per
interval: {"t": seconds since start, "wall": Unix time, "threads": [[pid, tid, comm, cpu share of one core], ...] busiest first (those
≥ 1%), "procs": {pid: command line, first 160 characters}}. `--summary FILE` prints, per interval where the
processes' total exceeds --busy cores, each process's --top busiest threads (`main`: the thread the process began on).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def thread_ticks(pid: str) -> dict[str, tuple[str, int]]:
    """tid -> (comm, utime + stime in ticks) of one process; {} if it is gone."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                s = f.read()
        except OSError:
            continue
        # comm is in parentheses and may hold spaces; the fields after it are space-separated
        comm = s[s.index("(") + 1 : s.rindex(")")]
        rest = s[s.rindex(")") + 2 :].split()
        out[tid] = (comm, int(rest[11]) + int(rest[12]))  # fields 14 and 15: utime, stime
    return out


def sample(match: str, procs: dict[str, str]) -> dict[tuple[str, str], tuple[str, int]]:
    ticks = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        if pid not in procs:
            cmd = cmdline(pid)
            if match not in cmd:
                continue
            procs[pid] = cmd[:160]
        for tid, v in thread_ticks(pid).items():
            ticks[(pid, tid)] = v
    return ticks


def record(args) -> None:
    stop = False

    def on_signal(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    procs: dict[str, str] = {}
    t0 = time.monotonic()
    before, tb = sample(args.match, procs), t0
    with open(args.out, "a") as out:
        while not stop:
            time.sleep(args.interval)
            after, ta = sample(args.match, procs), time.monotonic()
            span = (ta - tb) * TICK
            rows = []
            for key, (comm, t) in after.items():
                share = (t - before.get(key, (comm, t))[1]) / span
                if share >= 0.01:
                    rows.append([key[0], key[1], comm, round(share, 3)])
            rows.sort(key=lambda r: -r[3])
            live = {r[0] for r in rows}
            out.write(json.dumps({"t": round(ta - t0, 2), "wall": round(time.time(), 2), "threads": rows,
                                  "procs": {p: c for p, c in procs.items() if p in live}}) + "\n")
            out.flush()
            before, tb = after, ta


def summary(args) -> None:
    with open(args.summary) as f:
        lines = [json.loads(x) for x in f if x.strip()]
    for s in lines:
        total = sum(r[3] for r in s["threads"])
        if total < args.busy:
            continue
        per = {}
        for pid, tid, comm, share in s["threads"]:
            p = per.setdefault(pid, [0.0, []])
            p[0] += share
            p[1].append(f"{'main' if tid == pid else comm + '/' + tid} {share:.2f}")
        parts = []
        for pid, (sum_, tops) in sorted(per.items(), key=lambda kv: -kv[1][0]):
            cmd = s["procs"].get(pid, "?")
            role = " ".join(w.rsplit("/", 1)[-1] for w in cmd.split()[:4])
            parts.append(f"{pid} [{role[:48]}] {sum_:.2f} ({', '.join(tops[:args.top])})")
        print(f"t={s['t']:7.2f} total {total:5.2f} | " + " | ".join(parts))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="JSON lines to append to while sampling")
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--match", default="eclip", help="a process is sampled when its command line contains this")
    ap.add_argument("--summary", help="print the busy intervals of a recorded FILE instead of sampling")
    ap.add_argument("--busy", type=float, default=2.0, help="--summary: intervals with more cores than this")
    ap.add_argument("--top", type=int, default=3, help="--summary: threads shown per process, busiest first")
    args = ap.parse_args()
    if args.summary:
        summary(args)
    elif args.out:
        record(args)
    else:
        ap.error("--out FILE (sample) or --summary FILE (print)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
