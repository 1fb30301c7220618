"""eclip-live in a bench run (issue #19, docs/live.md): the set of active workers of a run that follows a plan table,
and what that set was over the run.

A worker is active while it has a request queued or in flight, and for a hold time after its last one ended — the
simulator's rule (src/execute/sim/engine.ts) and serve's (src/serve/live.ts). Each request starts under the plan of
the set active when it starts, its own worker included. Sets are bit masks over the plan's workers (bit i: worker i);
the TypeScript side resolves every mask to its plan's key (the run message's `live.sets`), so no table lookup lives
here. A worker whose next request is due the moment one ends stays in flight (no blip out of the set in between).

`ActiveSet` is shared by the workers' threads (one lock; the clock injected, so it is tested without a GPU);
`summary` turns what it saw into each set's time in the window and the changes of the set.
"""

from __future__ import annotations

import threading
import time


class ActiveSet:
    def __init__(self, n: int, hold_ns: int, clock=time.perf_counter_ns):
        if n < 1 or n > 30:
            raise ValueError(f"an active set of {n} workers (1 … 30)")
        self.n, self.hold, self.clock = n, int(hold_ns), clock
        self.lock = threading.Lock()
        self.in_flight = [False] * n
        self.last_end: list[int | None] = [None] * n
        # per worker, its activity's turns: (t_ns, True) a request began while it was idle, (t_ns, False) its last
        # request ended (its hold starts)
        self.turns: list[list[tuple[int, bool]]] = [[] for _ in range(n)]
        # per worker, per request begun (in order): the mask of the set it began under
        self.masks: list[list[int]] = [[] for _ in range(n)]

    def _mask(self, now: int) -> int:
        m = 0
        for i in range(self.n):
            last = self.last_end[i]
            if self.in_flight[i] or (last is not None and now < last + self.hold):
                m |= 1 << i
        return m

    def begin(self, i: int) -> int:
        """Worker i starts a request now: returns the mask of the set active now, i included."""
        with self.lock:
            now = self.clock()
            if not self.in_flight[i]:
                self.in_flight[i] = True
                self.turns[i].append((now, True))
            m = self._mask(now)
            self.masks[i].append(m)
            return m

    def end(self, i: int, t_ns: int, next_due: bool) -> None:
        """Worker i's request ended at t_ns; `next_due`: its next one starts at once (it stays in flight)."""
        if next_due:
            return
        with self.lock:
            self.in_flight[i] = False
            self.last_end[i] = t_ns
            self.turns[i].append((t_ns, False))

    def summary(self, origin_ns: int, window_start_ns: int, window_end_ns: int, end_ns: int) -> dict:
        """Each set's µs inside the window (a list indexed by mask), the changes of the set inside the window
        (`switches`) and over [origin, end] (`switchesTotal`). Changes at one instant that cancel out are none."""
        with self.lock:
            turns = [sorted(t) for t in self.turns]
        changes: dict[int, int] = {}  # t_ns -> XOR of the bits that turn at t
        for i, ts in enumerate(turns):
            # the worker's active intervals: [a request began while idle, its last end + hold), merged
            spans: list[list[float]] = []
            start = None
            for t, began in ts:
                if began and start is None:
                    start = t
                elif not began and start is not None:
                    stop = t + self.hold
                    if spans and start <= spans[-1][1]:
                        spans[-1][1] = max(spans[-1][1], stop)
                    else:
                        spans.append([start, stop])
                    start = None
            if start is not None:  # in flight at the end
                if spans and start <= spans[-1][1]:
                    spans[-1][1] = float("inf")
                else:
                    spans.append([start, float("inf")])
            for a, b in spans:
                for t in (a, b):
                    if t != float("inf"):
                        changes[t] = changes.get(t, 0) ^ (1 << i)
        time_us = [0.0] * (1 << self.n)
        switches = total = 0
        mask, last = 0, origin_ns
        for t in sorted(changes):
            if changes[t] == 0:
                continue
            _add(time_us, mask, last, t, window_start_ns, window_end_ns)
            mask ^= changes[t]
            last = max(last, t)
            if origin_ns <= t <= end_ns:
                total += 1
            if window_start_ns <= t < window_end_ns:
                switches += 1
        _add(time_us, mask, last, max(last, window_end_ns), window_start_ns, window_end_ns)
        return {"setTimeUs": [round(x, 1) for x in time_us], "switches": switches, "switchesTotal": total}


def _add(time_us: list, mask: int, a: float, b: float, w0: int, w1: int) -> None:
    lo, hi = max(a, w0), min(b, w1)
    if hi > lo:
        time_us[mask] += (hi - lo) / 1e3


class LiveWorker:
    """One worker of a table-following run as driven_loop drives it (arrivals.py): each request under the capture of
    the plan of the set active when it starts. `captures`: {plan key: execute.WorkerExec}; `sets`: plan key per mask."""

    def __init__(self, index: int, name: str, captures: dict, sets: list[str], active: ActiveSet):
        self.index, self.name, self.captures, self.sets, self.active = index, name, captures, sets, active

    def request(self):
        return self.captures[self.sets[self.active.begin(self.index)]].request()

    def ended(self, t_ns: int, next_due: bool) -> None:
        self.active.end(self.index, t_ns, next_due)


def check_sets(sets: list, names: list[str], listed: dict[str, set]) -> None:
    """`sets` names, for every mask over `names`, a plan (among `listed`: plan key -> worker names) that lists every
    worker of the mask; ValueError naming the first that does not."""
    n = len(names)
    if len(sets) != 1 << n:
        raise ValueError(f"live.sets has {len(sets)} entries; {n} workers have {1 << n} sets (mask 0 … {(1 << n) - 1})")
    for m in range(1, 1 << n):
        key = sets[m]
        members = [names[i] for i in range(n) if (m >> i) & 1]
        if key not in listed:
            raise ValueError(f"live.sets[{m}] ({'+'.join(members)}): no plan {key!r} in live.plans")
        missing = [x for x in members if x not in listed[key]]
        if missing:
            raise ValueError(f"live.sets[{m}]: plan {key!r} does not list {', '.join(missing)}")
