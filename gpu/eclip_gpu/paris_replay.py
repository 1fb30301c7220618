"""Open-loop replay of a query trace in real time on PARIS's partitions (protocol `paris-run`, driven by paris.py's
ParisSession, which builds the partitions and their graphs).

A dispatcher thread releases each query at its arrival time and routes it with paris_dispatch.Dispatcher; one thread
per partition runs its queries in order (graph replay + event synchronize, both release the GIL). Per query: release,
start and end on the host clock (µs from the trace's origin), the partition that ran it, and the NVML energy from the
first measured query's release to the last completion, summed over the server's GPUs and reported per GPU.

Partitions may sit on several GPUs of this one process: one dispatcher and one release loop serve them all, as the
simulator's one dispatcher does (see paris.py for why one process). The price is one GIL for all partition threads;
the release lag each run reports measures it.

Queries that have waited more than `dropAfterSlo` × their SLO when their partition reaches them are dropped
unexecuted (counted as violations by the TS side): an overloaded open-loop run would otherwise take minutes to drain.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from queue import SimpleQueue

from .paris_dispatch import Dispatcher


def clocks(energies):
    """NVML clocks/power/temperature: one GPU's dict as before, or per GPU (keyed by CUDA ordinal) for several."""
    if not energies:
        return None
    if len(energies) == 1:
        return energies[0].clocks()
    return {str(getattr(e, "index", i)): e.clocks() for i, e in enumerate(energies)}


def replay(torch, disp: Dispatcher, streams, graphs, arrival, qm, drop_after, first: int, energy) -> dict:
    """Runs the trace in real time (see the module docstring). Raises the first error of any thread, after every
    thread has stopped (no graph may still run when the caller tears partitions down).

    `streams[i]` is partition i's stream, on its own GPU (`.device`); `energy`: the NVML readers of the server's GPUs
    (a list; one reader or None as before). The energy is their sum, and per GPU in energyPerGpuJ."""
    energies = list(energy) if isinstance(energy, (list, tuple)) else [energy] if energy else []
    devices = sorted({s.device for s in streams}, key=str)
    n = len(arrival)
    qb = disp.batch_idx
    release, start, end = [0.0] * n, [0.0] * n, [0.0] * n
    ran_on, assigned, dropped = [-1] * n, [-1] * n, [0] * n
    lock = threading.Lock()
    inbox = [SimpleQueue() for _ in streams]
    left = [n]
    all_done = threading.Event()
    stop = threading.Event()
    errors: list[BaseException] = []
    # spinning event waits cost a CPU core per partition thread: beyond the machine's spare cores, block instead
    blocking = len(streams) > max(1, (os.cpu_count() or 4) - 4)
    origin = time.perf_counter_ns() + 100_000_000  # the trace starts 100 ms from now, once every thread is up

    def now_us() -> float:
        return (time.perf_counter_ns() - origin) / 1e3

    def partition_loop(i: int):
        try:
            stream = streams[i]
            # per thread: this partition's device current, and its stream that device's current stream; a graph's
            # replay launches on the current stream of the device it was captured on
            torch.cuda.set_device(stream.device)
            torch.cuda.set_stream(stream)
            ev = torch.cuda.Event(blocking=blocking)
            row = graphs[i]
            while True:
                q = inbox[i].get()
                if q is None:
                    return
                while q >= 0:
                    if stop.is_set():
                        return
                    s = now_us()
                    start[q] = s
                    ran_on[q] = i
                    if s - arrival[q] > drop_after[qm[q]]:
                        dropped[q] = 1
                        end[q] = s
                    else:
                        row[qm[q]][qb[q]].replay()
                        ev.record()
                        ev.synchronize()
                        end[q] = now_us()
                    with lock:
                        q = disp.done(i, end[q])
                        left[0] -= 1
                        if left[0] == 0:
                            all_done.set()
        except BaseException as e:  # noqa: BLE001 - re-raised by the caller
            errors.append(e)
            stop.set()
            all_done.set()

    def dispatcher():
        try:
            for q in range(n):
                dt = arrival[q] - now_us()
                if dt > 0:
                    time.sleep(dt / 1e6)
                if stop.is_set():
                    return
                t = now_us()
                release[q] = t
                with lock:
                    p, now = disp.arrive(q, t)
                assigned[q] = p
                if now:
                    inbox[p].put(q)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
            stop.set()
            all_done.set()

    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)  # a thread waiting for the GIL waits at most 0.5 ms, not 5
    gc.disable()  # no collector pause in the middle of the trace
    threads = [threading.Thread(target=partition_loop, args=(i,), daemon=True) for i in range(len(streams))]
    threads.append(threading.Thread(target=dispatcher, daemon=True))
    try:
        for t in threads:
            t.start()
        e0 = e1 = None
        t_e0 = t_e1 = 0.0
        dt = arrival[first] - now_us()
        if dt > 0:
            time.sleep(dt / 1e6)
        if energies:
            e0, t_e0 = [e.read_mj() for e in energies], now_us()
        finished = all_done.wait(timeout=arrival[-1] / 1e6 + 300)
        if energies:
            e1, t_e1 = [e.read_mj() for e in energies], now_us()
        if not finished:
            stop.set()
        for q in inbox:
            q.put(None)
        for t in threads:
            t.join(timeout=120)
        for d in devices:
            torch.cuda.synchronize(d)
    finally:
        gc.enable()
        sys.setswitchinterval(switch)
    if errors:
        raise errors[0]
    if not finished:
        raise RuntimeError(f"paris-run: {left[0]} of {n} queries still outstanding 300 s after the last arrival")
    per_gpu = [(b - a) / 1e3 for a, b in zip(e0, e1)] if energies else None
    return {
        "release": release, "start": start, "end": end, "ran_on": ran_on, "assigned": assigned, "dropped": dropped,
        "energyJ": sum(per_gpu) if per_gpu is not None else None, "energyPerGpuJ": per_gpu,
        "energyFromUs": round(t_e0, 1), "energyToUs": round(t_e1, 1), "blocking": blocking,
    }
