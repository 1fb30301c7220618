"""ECLIP_HOTPATH_TIMING=1: the spans of the backend's GPU-side set-up steps (a model's build, its streams' warm-ups,
its captures), one stderr line each on the host's monotonic clock, to line up with the streams' timing and pause
lines (hotpath.py) when a load slows the models serving beside it (gpu/scripts/load-stall.py)."""

from __future__ import annotations

import contextlib
import os
import sys
import time


@contextlib.contextmanager
def step(name: str):
    """The block's span as "eclip_gpu: step NAME A–B ms (monotonic)", when timing is asked for; else nothing."""
    if os.environ.get("ECLIP_HOTPATH_TIMING") != "1":
        yield
        return
    a = time.monotonic_ns()
    try:
        yield
    finally:
        b = time.monotonic_ns()
        print(f"eclip_gpu: step {name} {a / 1e6:.3f}–{b / 1e6:.3f} ms (monotonic)", file=sys.stderr, flush=True)
