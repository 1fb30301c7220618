"""Python's garbage collector in the serving backend: what it costs the request path, and keeping that small.

A served backend holds torch's and the models' objects — hundreds of thousands of them — for its whole life, and
its request path allocates a few containers per request (a frame's header). Every so many allocations the collector
runs, and a full collection walks every tracked object while holding the GIL: the frame reader and every Python
thread stop for that long. `settle()` runs once a load is done: one full collection, then `gc.freeze()`, which moves
everything alive into a generation that later collections skip (the objects stay alive; nothing is leaked).
ECLIP_GC_FREEZE=0 leaves the collector as Python has it (for comparisons).

`PauseRecorder` counts each collection's pause per generation (gc.callbacks); with ECLIP_GC_STATS=PATH the backend
writes them as JSON to PATH.<pid>.json when it exits, to see what the collector cost a run.
"""

from __future__ import annotations

import gc
import json
import os
import time

FREEZE = os.environ.get("ECLIP_GC_FREEZE", "1") != "0"


def settle() -> bool:
    """After a load: collect once, then freeze what is alive (unless ECLIP_GC_FREEZE=0). True when it froze."""
    if not FREEZE:
        return False
    gc.collect()
    gc.freeze()
    return True


class PauseRecorder:
    """Per generation: collections, their total and longest pause (ms), timed by gc.callbacks."""

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self.started: float | None = None
        self.stats = {g: {"collections": 0, "totalMs": 0.0, "maxMs": 0.0} for g in range(3)}

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self.started = self.clock()
            return
        if self.started is None:
            return
        ms = (self.clock() - self.started) * 1e3
        self.started = None
        s = self.stats[int(info.get("generation", 2))]
        s["collections"] += 1
        s["totalMs"] += ms
        s["maxMs"] = max(s["maxMs"], ms)

    def install(self) -> PauseRecorder:
        gc.callbacks.append(self)
        return self

    def remove(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)

    def report(self) -> dict:
        return {"frozen": gc.get_freeze_count(), "generations": {str(g): dict(s) for g, s in self.stats.items()}}

    def dump(self, path: str) -> None:
        with open(f"{path}.{os.getpid()}.json", "w") as f:
            json.dump(self.report(), f)


def recorder_from_env() -> PauseRecorder | None:
    """A recorder installed now when ECLIP_GC_STATS names a path, else None."""
    return PauseRecorder().install() if os.environ.get("ECLIP_GC_STATS") else None
