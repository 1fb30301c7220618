"""Requests issued at the times a bench run gives per worker, beyond the paper's closed loop (execute.closed_loop).

The TypeScript side turns each worker's arrival source (closed, poisson, uniform, on/off, a trace: src/formats/arrival.ts)
into a schedule (src/workload/arrivals.ts) and sends it in the run message, one per plan worker, µs from the run's
origin — the same schedule the simulator runs, so a measured and a simulated run of one seed see the same arrivals:

  {"kind": "closed", "periodsUs": [s0, e0, s1, e1, ...]}   a closed loop inside each busy period: a request starts
                                                           only inside one; one in flight at a period's end completes
  {"kind": "open", "arrivalsUs": [t0, t1, ...]}             a request arrives at each time (ascending)

As in the simulator, a worker has one request in flight: an open-loop request that arrives while the previous one runs
waits for it (in arrival order), and its latency counts from its arrival. One thread per worker keeps its schedule
(sleeping until the next arrival or period, never spinning); a request issued late because the thread woke late is
recorded with its scheduled arrival, so the lateness counts as queueing, never hidden.

`run_schedule` is one worker's loop with its clock and waits injected (tested without a GPU, gpu/tests/test_arrivals.py);
`driven_loop` runs the in-process workers (runner.py); MPS workers run `run_schedule` in their own processes (mps.py).
"""

from __future__ import annotations

import faulthandler
import sys
import threading
import time
from dataclasses import dataclass, field

from .cuda import BackendError

# the origin lies this far after the call, so that every worker's thread is up before the first arrival
LEAD_NS = 50_000_000
# how long a run waits, after its end, for each worker's last request before it calls the GPU's work stuck
DRAIN_S = 60.0


@dataclass
class ScheduleLog:
    name: str
    arrivals_ns: list = field(default_factory=list)
    starts_ns: list = field(default_factory=list)
    ends_ns: list = field(default_factory=list)
    # host CPU time (this thread's) spent enqueuing each request, as execute.closed_loop records it
    cpu_ns: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"name": self.name, "arrivalsNs": self.arrivals_ns, "startsNs": self.starts_ns,
                "endsNs": self.ends_ns, "cpuNs": self.cpu_ns}


def check_schedule(s: dict, who: str = "worker") -> dict:
    """A schedule as the protocol carries it, or ValueError naming what is wrong."""
    kind = s.get("kind") if isinstance(s, dict) else None
    if kind == "closed":
        p = s.get("periodsUs")
        if not isinstance(p, list) or len(p) % 2:
            raise ValueError(f"{who}: a closed schedule needs periodsUs as start/end pairs")
        if any(b < a for a, b in zip(p[::2], p[1::2])) or any(b < a for a, b in zip(p[1::2], p[2::2])):
            raise ValueError(f"{who}: busy periods must be ascending and not overlap")
        return s
    if kind == "open":
        a = s.get("arrivalsUs")
        if not isinstance(a, list):
            raise ValueError(f"{who}: an open schedule needs arrivalsUs")
        if any(y < x for x, y in zip(a, a[1:])):
            raise ValueError(f"{who}: arrival times must not decrease")
        return s
    raise ValueError(f"{who}: unknown schedule kind {kind!r} (closed, open)")


def run_schedule(name: str, issue, schedule: dict, origin_ns: int, end_ns: int, stop: threading.Event,
                 clock=time.perf_counter_ns, wait=None, thread_clock=time.thread_time_ns, ended=None) -> ScheduleLog:
    """One worker's requests by its schedule, from `origin_ns` until `end_ns` (nothing starts at or after it; a
    request in flight then completes) or `stop`. `issue()` enqueues one request and returns what completes with it
    (an object with `synchronize()`); `wait(seconds)` sleeps, returning early once `stop` is set (default
    stop.wait). `ended(t_ns, next_due)`, where given, hears of each request's end and whether the next one starts at
    once (queued, or a closed loop's period goes on): eclip-live's active set (live.py)."""
    wait = wait or stop.wait
    log = ScheduleLog(name)

    def wait_until(t_ns: int) -> bool:
        """Sleeps until t_ns (< end_ns); False when the run stopped first."""
        while not stop.is_set():
            now = clock()
            if now >= t_ns:
                return True
            wait((t_ns - now) / 1e9)
        return False

    def one(arrival_ns: int | None, t0: int) -> int:
        """One request, started at t0 (the clock read that let it start: a start is never after its period's end
        however late the thread runs on); a closed loop's arrives when it starts (arrival_ns None). Returns its end."""
        c0 = thread_clock()
        done = issue()
        c1 = thread_clock()
        done.synchronize()
        t1 = clock()
        log.arrivals_ns.append(t0 if arrival_ns is None else arrival_ns)
        log.starts_ns.append(t0)
        log.ends_ns.append(t1)
        log.cpu_ns.append(c1 - c0)
        return t1

    if schedule["kind"] == "open":
        times = [origin_ns + int(round(a_us * 1000)) for a_us in schedule["arrivalsUs"]]
        for k, t in enumerate(times):
            if t >= end_ns or not wait_until(t):
                break
            # queued behind a request that ran past the end: nothing starts after it
            now = clock()
            if now >= end_ns:
                break
            t1 = one(t, now)
            if ended:
                nxt = times[k + 1] if k + 1 < len(times) else None
                ended(t1, nxt is not None and nxt <= t1 < end_ns and not stop.is_set())
        return log
    p = schedule["periodsUs"]
    for s_us, e_us in zip(p[::2], p[1::2]):
        start = origin_ns + int(round(s_us * 1000))
        stop_at = min(origin_ns + int(round(e_us * 1000)), end_ns)
        if start >= end_ns or not wait_until(start):
            break
        while not stop.is_set():
            now = clock()
            if now >= stop_at:
                break
            t1 = one(None, now)
            if ended:
                ended(t1, t1 < stop_at and not stop.is_set())
    return log


def stuck_state(workers: list) -> str:
    """What the device says of stuck work, without waiting on it: each worker's stream (work queued, or idle) where
    the worker can tell (execute.WorkerExec.pending), and the gate word where the process has one (gate.py)."""
    from .gate import word_state  # noqa: PLC0415 - gate.py needs the GPU only once a word exists

    parts = []
    for w in workers:
        pending = getattr(w, "pending", None)
        state = pending() if pending else None
        if state is not None:
            parts.append(f"{w.name} {'has work queued' if state else 'is idle'}")
    word = word_state()
    if word:
        parts.append(word)
    return "; ".join(parts)


def join_or_stuck(threads: list, names: list[str], timeout_s: float, state=None) -> None:
    """Joins every worker thread; one whose request has not completed `timeout_s` after the run's end means GPU work
    that will not complete (a plan with gates can hold best-effort work for good: gate.py): rather than wait forever
    on the device, every thread's stack goes to stderr and a fatal BackendError names the workers (and what `state()`
    says of the device: stuck_state), so that the backend exits and is restarted (protocol.serve, cuda.is_fatal)."""
    deadline = time.monotonic() + timeout_s
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    stuck = [n for t, n in zip(threads, names) if t.is_alive()]
    if stuck:
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        said = ""
        if state is not None:
            try:
                said = state()
            except Exception as e:  # noqa: BLE001 - the error below matters more than this detail
                said = f"device state unreadable: {e}"
        raise BackendError(
            f"GPU work is stuck: {', '.join(stuck)} still waiting for a request {timeout_s:g} s after the run's end "
            f"{'(' + said + ') ' if said else ''}"
            "(a plan with gates can hold best-effort work for good: docs/workloads.md, the eclip-rt policy); the "
            "backend exits to be restarted"
        )


def driven_loop(workers: list, schedules: list[dict], warmup_s: float, duration_s: float, energy=None,
                clock=time.perf_counter_ns, synchronize=None, drain_s: float = DRAIN_S) -> dict:
    """Every worker by its schedule (plan order), one thread each, for warm-up + window from an origin just ahead.
    Returns execute.closed_loop's raw shape plus `originNs` (the schedules' time 0) and each worker's `arrivalsNs`.
    A worker with an `ended(t_ns, next_due)` method hears of each request's end (live.LiveWorker). `synchronize()`
    waits for the GPU at the end (default torch.cuda.synchronize), once every worker's last request has completed
    (join_or_stuck: at most `drain_s` after the end)."""
    if synchronize is None:
        import torch  # noqa: PLC0415

        synchronize = torch.cuda.synchronize
    if len(schedules) != len(workers):
        raise ValueError(f"{len(schedules)} schedules for {len(workers)} workers")
    for w, s in zip(workers, schedules):
        check_schedule(s, w.name)
    stop = threading.Event()
    origin = clock() + LEAD_NS
    w0_planned = origin + int(warmup_s * 1e9)
    end = w0_planned + int(duration_s * 1e9)
    logs: list[ScheduleLog | None] = [None] * len(workers)
    errors: list[BaseException] = []

    def run(i: int, w, s: dict):
        try:
            logs[i] = run_schedule(w.name, w.request, s, origin, end, stop, clock=clock,
                                   ended=getattr(w, "ended", None))
        except BaseException as e:  # noqa: BLE001 - surfaced to the caller below
            errors.append(e)
            stop.set()

    threads = [threading.Thread(target=run, args=(i, w, s), daemon=True)
               for i, (w, s) in enumerate(zip(workers, schedules))]
    for t in threads:
        t.start()
    sleep_until(w0_planned, clock)
    e0 = energy.read_mj() if energy else None
    w0 = clock()
    sleep_until(end, clock)
    w1 = clock()
    e1 = energy.read_mj() if energy else None
    stop.set()
    join_or_stuck(threads, [w.name for w in workers], drain_s, lambda: stuck_state(workers))
    synchronize()
    if errors:
        raise errors[0]
    return {
        "originNs": origin,
        "endNs": end,
        "windowStartNs": w0,
        "windowEndNs": w1,
        "energyJ": (e1 - e0) / 1e3 if energy else None,
        "workers": [(lg or ScheduleLog(w.name)).as_dict() for w, lg in zip(workers, logs)],
    }


def sleep_until(t_ns: int, clock=time.perf_counter_ns) -> None:
    while True:
        left = t_ns - clock()
        if left <= 0:
            return
        time.sleep(left / 1e9)


def times_us(raw: dict) -> dict:
    """A run's raw ns times as the protocol's µs. A driven run (with `originNs`) counts from its origin, so arrivals
    line up with the schedules sent; a closed loop from its first request or the window's start."""
    if "originNs" in raw:
        base = raw["originNs"]
    else:
        t_start = min((min(w["startsNs"]) for w in raw["workers"] if w["startsNs"]), default=raw["windowStartNs"])
        base = min(t_start, raw["windowStartNs"])

    def us(xs):
        return [round((x - base) / 1e3, 1) for x in xs]

    return {
        "workers": [
            {"name": w["name"],
             "startUs": us(w["startsNs"]),
             "endUs": us(w["endsNs"]),
             **({"arrivalUs": us(w["arrivalsNs"])} if w.get("arrivalsNs") is not None else {}),
             **({"cpuUs": [round(c / 1e3, 1) for c in w["cpuNs"]]} if "cpuNs" in w else {})}
            for w in raw["workers"]
        ],
        "windowStartUs": round((raw["windowStartNs"] - base) / 1e3, 1),
        "windowEndUs": round((raw["windowEndNs"] - base) / 1e3, 1),
    }
