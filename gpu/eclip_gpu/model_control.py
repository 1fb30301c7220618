"""Model control while serving: eclip-live's model repository on the GPU (docs/live.md). A served worker is loaded or
unloaded, and the loaded workers are captured under plans made after they were loaded, while the other workers keep
serving (the TypeScript side: src/serve/gpu-backend.ts `swap`).

Requests (src/execute/gpu/protocol.ts), each with an id its reply echoes: `load-model`, `unload-model`, `add-plans`.
They run one at a time, in the order they came, on a thread of their own: the frame reader goes on reading the other
workers' infers meanwhile, and their threads go on executing them.

- load-model {worker, plans, ring?}: creates the partitions the plans need that the process lacks (never on the
  request path), builds the worker and captures it under every plan that lists it (its default capture: the plan of
  most workers, the whole set's), captures every loaded worker under each plan that lists it and is new to it, and
  only then, nothing having failed, puts those captures in place and starts the new worker's thread. A load that
  fails half way drops what it made (captures, the model, its ring): the served set and every worker's captures stay
  as they were. Partitions it created stay in the pool (no graph uses them; a later load reuses them).
- unload-model {name}: the worker takes no new infer from then on (one that names it is answered with an error
  naming it); those it holds are finished and answered; then its thread stops and its model, captures and ring go.
  The other workers' captures under plans that listed it are retired once no execution of theirs that was sent
  before the unload can still ask for them.
- add-plans {plans}: every loaded worker captured under each plan that lists it (a table planned on demand).

Captures made here are quiet (execute.graph_capture): the serving threads neither fail nor stall because of them.
What captures and builds is a `captor` (GpuCaptor here; tests hand in one without a GPU).
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from typing import Callable

from . import gcpause
from .cuda import BackendError, is_fatal
from .serving import Serving, ServedWorker


def _lists(plan: dict, name: str) -> bool:
    return any(pw["name"] == name for pw in plan["workers"])


def _taken(q: queue.Queue) -> list:
    """Everything in `q` now but the stop marker (None), taken out."""
    items = []
    while True:
        try:
            item = q.get_nowait()
        except queue.Empty:
            return items
        if item is not None:
            items.append(item)


class GpuCaptor:
    """Builds and captures on the GPU: partitions from the process's pool (Serving.plan_partitions), a new worker by
    Serving.build_worker, a loaded one by its CaptureSource; its captures live in its GpuExecute."""

    def __init__(self, serving: Serving):
        self.serving = serving

    def partitions(self, keyed: list[dict]) -> tuple[dict, int]:
        """{key: {partition id: Partition or SliceSet}} of the plans, and how many green contexts that made (the
        first step of every load and add-plans)."""
        before = self.made()[0]
        parts = self.serving.plan_partitions(keyed)
        return parts, self.made(before)[0]

    def made(self, since: int = 0) -> tuple[int, float, float]:
        """Green contexts the process made after its first `since`: (how many, total ms, the longest ms)."""
        return self.serving.resources()[1].made(since)

    def build(self, spec: dict, keyed: list[dict], parts: dict, default: dict) -> tuple[ServedWorker, dict]:
        info, pipe = self.serving.build_worker(spec, default["plan"], keyed, parts, quiet=True)
        return self.serving.served_worker(info, pipe), info

    def built_s(self, name: str) -> float:
        """How long building `name`'s model took (the rest of its build was capturing it)."""
        src = self.serving.sources.get(name)
        return src.built_s if src is not None else 0.0

    def capture(self, w: ServedWorker, key: str, plan: dict, parts: dict):
        cap = self.serving.sources[w.name].capture(self.serving, plan, key, parts, quiet=True, busy=True)
        if list(cap.output.shape[1:]) != w.pipeline.out_shape:
            raise BackendError(f"{w.name}: its capture under plan {key!r} gives another output")
        return cap

    @staticmethod
    def keys(w: ServedWorker) -> set:
        """The plan keys `w` has a capture under."""
        return set() if w.pipeline is None else {k for k in w.pipeline.captures if k is not None}

    @staticmethod
    def install(w: ServedWorker, key: str, cap) -> None:
        """`cap` runs `w`'s executions that name `key` from now on (GpuExecute.start looks its captures up per
        execution: one dict entry, put in place at once)."""
        pipe = w.pipeline
        pipe.captures[key] = (cap, pipe._graph_exec(cap), cap.output.data_ptr())
        if w.native is not None and pipe.captures[key][1] is not None:
            w.native.plans[key] = pipe.captures[key][1:]

    @staticmethod
    def retire(w: ServedWorker, key: str) -> None:
        """Drops `w`'s capture under `key` (its graph is freed once no launch of it is in flight: CUDA defers it)."""
        if w.native is not None:
            w.native.plans.pop(key, None)
        w.pipeline.captures.pop(key, None)

    def forget(self, w: ServedWorker) -> None:
        """An unloaded worker's model and captures: nothing refers to them any more once this returns."""
        self.serving.sources.pop(w.name, None)
        if w.pipeline is not None:
            w.pipeline.captures.clear()


class _Phases:
    """The steps of one load, each as its span in s from the load's start: "name a–b, …"."""

    def __init__(self, t0: float):
        self.t0, self.last, self.spans = t0, t0, []
        # the same instant on the host's monotonic clock, which the stream timing lines use (hotpath.py)
        self.t0_ms = (time.monotonic() - (time.perf_counter() - t0)) * 1e3

    def end(self, name: str) -> None:
        """The step since the last one ended, ending now."""
        now = time.perf_counter()
        self.spans.append((name, self.last - self.t0, now - self.t0))
        self.last = now

    def split(self, first: str, first_s: float, then: str) -> None:
        """The step since the last one, ending now, as two: `first` its first `first_s` s, `then` the rest."""
        now = time.perf_counter()
        mid = min(self.last + max(first_s, 0.0), now)
        self.spans += [(first, self.last - self.t0, mid - self.t0), (then, mid - self.t0, now - self.t0)]
        self.last = now

    def __str__(self) -> str:
        return ", ".join(f"{n} {a:.2f}–{b:.2f}" for n, a, b in self.spans)


class ModelControl:
    """load-model, unload-model and add-plans of one backend process, on a thread of their own (see the module)."""

    def __init__(self, serving: Serving, send: Callable[..., None], captor=None, settle_s: float = 0.05,
                 drain_s: float = 60.0):
        """`settle_s`: how long an infer read just before an unload may still be handing its job to the worker (the
        frame reader looked the worker up before it was taken out); `drain_s`: how long an unload waits for the jobs
        a worker holds (then those still waiting are answered with an error)."""
        self.serving = serving
        self.send = send
        self.captor = captor or GpuCaptor(serving)
        self.settle_s = settle_s
        self.drain_s = drain_s
        self.requests: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None
        # captures retired by an unload whose worker still had executions waiting that may name them: (worker, keys)
        self.retiring: list[tuple[ServedWorker, set]] = []

    # ── the frame reader's side ─────────────────────────────────────────────────────────────────────────────
    def submit(self, msg: dict) -> None:
        """Queues one model-control request (checked against its schema already); its reply comes from the thread."""
        if self.thread is None:
            self.thread = threading.Thread(target=self._loop, name="model-control", daemon=True)
            self.thread.start()
        self.requests.put(msg)

    def close(self, timeout: float = 30.0) -> None:
        """Lets the request in progress end (those queued behind it are not run) and stops the thread."""
        if self.thread is None:
            return
        for msg in _taken(self.requests):
            self._error(msg, BackendError("the backend is closing"))
        self.requests.put(None)
        self.thread.join(timeout)

    # ── the thread ──────────────────────────────────────────────────────────────────────────────────────────
    def _loop(self) -> None:
        handlers = {"load-model": self.load_model, "unload-model": self.unload_model, "add-plans": self.add_plans}
        while True:
            msg = self.requests.get()
            if msg is None:
                return
            try:
                reply = handlers[msg["type"]](msg)
                if msg["type"] == "load-model":
                    gcpause.settle()
            except Exception as e:  # noqa: BLE001 - every failure is answered; a poisoning one ends the process
                if self._error(msg, e):
                    return
                continue
            self.send({**reply, "id": msg["id"]})

    def _error(self, msg: dict, e: Exception) -> bool:
        """Answers a failed request; True when its error poisoned the CUDA context (the process is then ending)."""
        text = f"{type(e).__name__}: {e}"
        fatal = is_fatal(text)
        self.send({"type": "error", "id": msg.get("id"), "message": text, "fatal": fatal,
                   **({} if isinstance(e, BackendError) else {"trace": traceback.format_exc(limit=6)})})
        if fatal:
            self.serving.exit_fatal(text)
        return fatal

    def _progress(self, what: str, message: str) -> None:
        self.send({"type": "progress", "key": what, "message": message})

    def _check_plans(self, keyed: list[dict], new: str | None = None) -> None:
        """Every worker a plan lists is loaded (or is the one being loaded)."""
        keys = [k["key"] for k in keyed]
        if len(set(keys)) != len(keys):
            twice = sorted({k for k in keys if keys.count(k) > 1})
            raise BackendError(f"plans: a key named twice ({', '.join(twice)})")
        for k in keyed:
            for pw in k["plan"]["workers"]:
                if pw["name"] != new and pw["name"] not in self.serving.workers:
                    raise BackendError(f"plan {k['key']!r} lists {pw['name']!r}, which is not loaded")

    def _capture_loaded(self, keyed: list[dict], parts: dict, skip: str | None = None) -> list[tuple]:
        """Captures of the loaded workers under each plan that lists them and is new to them: [(worker, key, capture)],
        none in place yet."""
        staged = []
        for k in keyed:
            for pw in k["plan"]["workers"]:
                if pw["name"] == skip:
                    continue
                w = self.serving.workers[pw["name"]]
                if k["key"] not in self.captor.keys(w):
                    staged.append((w, k["key"], self.captor.capture(w, k["key"], k["plan"], parts[k["key"]])))
        return staged

    def _install(self, staged: list[tuple]) -> dict:
        captured: dict[str, list[str]] = {}
        for w, key, cap in staged:
            self.captor.install(w, key, cap)
            captured.setdefault(w.name, []).append(key)
        return captured

    def load_model(self, msg: dict) -> dict:
        spec, keyed = msg["worker"], msg["plans"]
        name = spec["name"]
        t0 = time.perf_counter()
        if name in self.serving.workers:
            raise BackendError(f"worker {name!r} is loaded already")
        mine = [k for k in keyed if _lists(k["plan"], name)]
        if not mine:
            raise BackendError(f"{name}: none of the {len(keyed)} plans of its load lists it")
        self._check_plans(keyed, new=name)
        self._settle_retired()
        made0 = self.captor.made()[0]
        phases = _Phases(t0)
        parts, _ = self.captor.partitions(keyed)
        ring = None
        if msg.get("ring") is not None:
            ring = self.serving.attach_rings({name: msg["ring"]}).get(name)
        phases.end("partitions and ring")
        worker = staged = None
        try:
            default = max(mine, key=lambda k: len(k["plan"]["workers"]))
            worker, info = self.captor.build(spec, mine, parts, default)
            phases.split("model built", self.captor.built_s(name), f"captured under {len(mine)} plans")
            self._progress(f"load-model {name}", f"{name}: built and captured under {len(mine)} plans in "
                           f"{time.perf_counter() - t0:.1f} s")
            staged = self._capture_loaded(keyed, parts, skip=name)
            phases.end(f"{len(staged)} captures of the loaded models")
        except BaseException:
            # half way: nothing of it is in place; what it made goes (its model, captures and ring)
            worker = staged = None
            self.serving.sources.pop(name, None)
            dropped = self.serving.rings.pop(name, None)
            if dropped is not None:
                dropped.close()
            raise
        captured = self._install(staged)
        self.serving.add_worker(worker)
        phases.end("serving")
        created, ms, longest = self.captor.made(made0)
        self._progress(f"load-model {name}", f"{name}: serving after {time.perf_counter() - t0:.1f} s; "
                       f"{len(staged)} captures of the loaded workers under its plans, {created} green contexts made "
                       f"({ms:.0f} ms in all, the longest {longest:.1f} ms)")
        # each step's span, for lining a load up with the others' rates (gpu/scripts/live-control-probe.py)
        self._progress(f"load-model {name}", f"{name}: load phases (s from its start): {phases}; "
                       f"it began at {phases.t0_ms:.3f} ms (monotonic)")
        return {"type": "model-loaded", "worker": info, "captured": captured, "partitionsCreated": created,
                **({"ring": ring} if ring is not None else {})}

    def unload_model(self, msg: dict) -> dict:
        name = msg["name"]
        w = self.serving.workers.pop(name, None)
        if w is None:
            raise BackendError(f"no loaded worker {name!r} to unload")
        t0 = time.perf_counter()
        keys = self.captor.keys(w)
        time.sleep(self.settle_s)
        self._drain(w)
        self.serving.stop_worker(w)
        left = self._sweep(w)
        ring = self.serving.rings.pop(name, None)
        if ring is not None:
            ring.close()
        self.captor.forget(w)
        # the others' captures under the plans that listed it: no infer sent after this one names them
        retired: dict[str, list[str]] = {}
        for other in list(self.serving.workers.values()):
            mine = keys & self.captor.keys(other)
            if mine:
                self.retiring.append((other, mine))
                retired[other.name] = sorted(mine)
        self._settle_retired()
        self._progress(f"unload-model {name}", f"{name}: unloaded in {time.perf_counter() - t0:.2f} s"
                       + (f" ({left} executions sent after it was taken out answered with an error)" if left else ""))
        return {"type": "model-unloaded", "name": name, "retired": retired, "refused": left}

    def add_plans(self, msg: dict) -> dict:
        keyed = msg["plans"]
        self._check_plans(keyed)
        self._settle_retired()
        made0 = self.captor.made()[0]
        parts, _ = self.captor.partitions(keyed)
        staged = self._capture_loaded(keyed, parts)
        return {"type": "plans-added", "captured": self._install(staged),
                "partitionsCreated": self.captor.made(made0)[0]}

    # ── draining ────────────────────────────────────────────────────────────────────────────────────────────
    def _drain(self, w: ServedWorker) -> None:
        """Waits (up to drain_s) until a pipelined worker holds no job, waiting or in flight (a plain worker's thread
        runs its queue to the end before it stops)."""
        deadline = time.perf_counter() + self.drain_s
        while w.pipeline is not None and time.perf_counter() < deadline:
            with w.lock:
                if w.inflight == 0 and not w.pending and self._native(w, "busy") == 0:
                    return
            time.sleep(0.002)

    def _native(self, w: ServedWorker, count: str) -> int:
        """A native worker's requests not yet answered ("busy") or not yet started ("waiting"); 0 for others."""
        return 0 if w.native is None else getattr(self.serving.hotpath, count)(w.native.handle)

    def _sweep(self, w: ServedWorker) -> int:
        """Jobs left with a worker whose thread has stopped (sent after it was taken out, or past the drain's
        limit): each answered with an error naming the worker, none left hanging."""
        if w.pipeline is None:
            left = _taken(w.jobs)
        else:
            with w.lock:
                left, w.pending = list(w.pending), type(w.pending)()
            left += [job for job, _ in _taken(w.started)]
        for job in left:
            Serving._release(job)
            self.send({"type": "error", "id": job.id, "message": f"{w.name}: the worker was unloaded",
                       "fatal": False})
        return len(left)

    def _settle_retired(self) -> None:
        """Retires the captures an unload left to retire, per worker once no job it holds was sent before that unload
        (its waiting jobs have all started since: a job looks its capture up when it starts)."""
        if not self.retiring:
            return
        keep, ready = [], []
        deadline = time.perf_counter() + self.drain_s
        for w, keys in self.retiring:
            if self.serving.workers.get(w.name) is not w:
                continue  # unloaded meanwhile: its captures went with it
            while (w.pending or self._native(w, "waiting")) and time.perf_counter() < deadline:
                time.sleep(0.002)
            (keep if w.pending or self._native(w, "waiting") else ready).append((w, keys))
        if ready:
            time.sleep(self.settle_s)  # a job just taken from a queue may still be looking its capture up
        for w, keys in ready:
            for key in keys:
                self.captor.retire(w, key)
        self.retiring = keep
