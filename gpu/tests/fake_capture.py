"""Model control without a GPU: a pipelined worker whose executions name plan keys (FakePipe) and a captor that
builds and "captures" such workers (FakeCaptor), so the real ModelControl, Serving and frame loop run as they do on
the GPU. Used by gpu/tests/test_model_control.py and by the serve tests' fake backend (test/serve/gpu_backend_fake.py).
"""

from __future__ import annotations

import time
from typing import Callable

from eclip_gpu.cuda import BackendError
from eclip_gpu.model_control import GpuCaptor
from eclip_gpu.serving import ServedWorker


class FakePipe:
    """GpuExecute's interface (start, finish, depth, out_item_bytes, captures by plan key) over `execute(n, datatype,
    body) -> (shape, datatype, bytes, µs)`, run when an execution is finished. An execution naming a plan key the
    worker has no capture under is refused as GpuExecute refuses it."""

    def __init__(self, name: str, run: Callable, out_item_bytes: int, keys=(), depth: int = 2):
        self.name, self.run, self.out_item_bytes, self.depth = name, run, out_item_bytes, depth
        self.captures: dict = {None: "default", **{k: k for k in keys}}

    def execute(self, n, datatype, body, **_):
        """One execution, start to finish."""
        return self.finish(self.start(n, datatype, body))

    def start(self, n, datatype, body, src=None, dst=None, value_range=None, plan=None):
        if plan not in self.captures:
            raise BackendError(f"{self.name}: no capture under plan {plan!r} (captured: "
                               f"{sorted(k for k in self.captures if k is not None) or 'the default only'})")
        return n, datatype, bytes(body), dst

    def finish(self, slot):
        n, datatype, body, dst = slot
        shape, out_type, data, us = self.run(n, datatype, body)
        if dst is None:
            return shape, out_type, data, us
        dst[: len(data)] = data
        return shape, out_type, None, us


class FakeCaptor(GpuCaptor):
    """Builds FakePipe workers (`make(spec) -> (execute, out_item_bytes, info)`); a capture takes `delay_s`, and one
    for which `fail(worker, key)` is true raises, as a capture that fails half way through a load."""

    def __init__(self, serving, make: Callable, fail: Callable[[str, str], bool] = lambda w, k: False,
                 delay_s: float = 0.0):
        super().__init__(serving)
        self.make, self.fail, self.delay_s = make, fail, delay_s
        self.slice_sets: set = set()
        self.captures_made = 0

    def partitions(self, keyed):
        before = len(self.slice_sets)
        for k in keyed:
            for q in k["plan"]["pool"]["partitions"]:
                self.slice_sets.add(tuple(sorted(q["slices"])))
        return {k["key"]: {} for k in keyed}, len(self.slice_sets) - before

    def made(self, since=0):
        """A "green context" per slice set seen, each made in no time."""
        return len(self.slice_sets) - since, 0.0, 0.0

    def built_s(self, name):
        return 0.0

    def build(self, spec, keyed, parts, default):
        execute, out_item_bytes, info = self.make(spec)
        keys = [k["key"] for k in keyed]
        for key in keys:
            self._capture(spec["name"], key)
        pipe = FakePipe(spec["name"], execute, out_item_bytes, keys)
        info = {**info, "plans": {k: {"mode": "whole", "switches": 0} for k in keys}}
        return ServedWorker(spec["name"], pipe.execute, info, pipeline=pipe), info

    def capture(self, w, key, plan, parts):
        self._capture(w.name, key)
        return key

    def _capture(self, name: str, key: str) -> None:
        time.sleep(self.delay_s)
        if self.fail(name, key):
            raise BackendError(f"{name}: capture under plan {key!r} failed on purpose")
        self.captures_made += 1

    @staticmethod
    def install(w, key, cap):
        w.pipeline.captures[key] = cap

    def forget(self, w):
        w.pipeline.captures.clear()

