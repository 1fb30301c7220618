"""The executor: a plan made real. Workers run concurrently in one process, each request as CUDA graph replays.

Modes (how a worker's groups become GPU work):
- whole:  one graph captured on one stream (baseline: an ordinary full-GPU stream; model-wise: its partition's).
- graph:  one graph per request whose kernels sit on their groups' partitions: while capturing, the stream is
          switched at group boundaries (event fork/join inside the capture), so each kernel node keeps its
          partition and the dependencies are graph edges: no CPU work per switch.
- stream: ECLIP's way: one graph per group, captured on its partition's stream, launched in order with an event
          record + wait at every switch.
- ioctl:  stream mode, but every switch first creates (and destroys) a green context + stream for the next group's
          slices (the paper's kernel-wise IOCTL re-masking), to reproduce its overhead.
Switches happen between PyTorch ops (a TorchDispatchMode hook), so group boundaries are snapped to op starts.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field

from .arrivals import DRAIN_S, join_or_stuck, stuck_state
from .capture import Captured, _op_hook_mode, captured_node_count, graph_kernels, snap_groups, warm_up
from .conv_target import LANES, conv_lanes_mode
from .cuda import BackendError, check, driver
from .fingerprint import fingerprint
from .gate import check_gate, gate_word, wait_points
from .gemm_target import CAPTURE_LOCK, set_target, targeted
from .partitions import destroy_partition, make_partition
from .steps import step


@contextlib.contextmanager
def graph_capture(g, stream, pool=None, quiet: bool = False, thread_local: bool = False):
    """torch.cuda.graph(g, stream=, pool=), or, `quiet`, the same capture for a process whose other threads are serving
    (model control, model_control.py): in thread-local mode, so the other threads' driver calls neither fail nor
    invalidate it, and without torch.cuda.graph's device-wide synchronize, garbage collection and cache release,
    which would hold up those threads (the collection holds the GIL); only the capturing stream's earlier work is
    waited for. `thread_local`: torch.cuda.graph in thread-local mode (conv lanes launch into it from their threads)."""
    import torch  # noqa: PLC0415

    if not quiet:
        with torch.cuda.graph(g, stream=stream, pool=pool,
                              capture_error_mode="thread_local" if thread_local else "global"):
            yield
        return
    stream.synchronize()
    with step(f"capture {stream.cuda_stream:#x}"), torch.cuda.stream(stream):
        g.capture_begin(*(() if pool is None else (pool,)), capture_error_mode="thread_local")
        try:
            yield
        finally:
            with step("capture end"):
                g.capture_end()


def op_kernel_starts(built, stream, warmed: set | None = None, quiet: bool = False) -> tuple[list[int], Captured]:
    """Dry capture on `stream`: for every op (in dispatch order) the number of kernels launched before it.

    The stream is warmed up first unless its id is in `warmed` (updated): a cold stream's first cuDNN/cuBLAS call
    allocates inside the capture and invalidates it. `quiet`: captured while other threads serve (graph_capture)."""
    with CAPTURE_LOCK:  # under torch's default GEMM settings, whatever another thread is capturing
        return _op_kernel_starts(built, stream, warmed, quiet)


def _op_kernel_starts(built, stream, warmed: set | None, quiet: bool) -> tuple[list[int], Captured]:
    import torch  # noqa: PLC0415

    if warmed is None or id(stream) not in warmed:
        warm_up(built, [stream], iters=1)
        if warmed is not None:
            warmed.add(id(stream))
    d = driver()
    cu = d.CUstream(int(stream.cuda_stream))
    counts: list[int] = []
    g = torch.cuda.CUDAGraph(keep_graph=True)
    with torch.inference_mode(), graph_capture(g, stream, quiet=quiet), _op_hook_mode(
        lambda i: counts.append(captured_node_count(cu))
    ):
        out = built.forward()
    kernels, before = graph_kernels(g.raw_cuda_graph())
    per_op = [before[min(c, len(before) - 1)] for c in counts]
    op_starts = sorted({k for k in per_op if k < len(kernels)} | {0})
    return per_op, Captured([g], kernels, op_starts, out, fingerprint([k.as_dict() for k in kernels]))


@dataclass
class WorkerExec:
    """One worker, captured and ready: `request()` enqueues one request and returns its completion event."""

    name: str
    mode: str
    segments: list  # [(graph, partition)] in order
    origin: object  # torch stream the request starts and ends on
    output: object
    fingerprint: str
    kernels: int
    switches: int
    moved_boundaries: int = 0
    layout: object = None
    # the model (weights, static input) the graphs read: a graph holds raw pointers, not references, so a worker
    # whose model was dropped would replay into freed memory (an illegal address once another model reuses it)
    built: object = None
    done: object = None
    events: list = field(default_factory=list)
    # whole / graph mode: (CUgraphExec, CUstream, CUevent) handles the request path launches with, made once
    launch: tuple | None = None

    def pending(self) -> bool | None:
        """Whether the worker's launch stream still has work queued (cuStreamQuery: no waiting); None before its first
        request or in stream mode."""
        if self.launch is None:
            return None
        d = driver()
        return d.cuStreamQuery(d.CUstream(self.launch[1]))[0] == d.CUresult.CUDA_ERROR_NOT_READY

    def request(self):
        """Enqueues one request; returns the event that completes with it. Called from the worker's own thread (the
        current stream is per thread), with no allocation on this path: its events are made once, on the first request."""
        import torch  # noqa: PLC0415

        if self.done is None:
            self.done = torch.cuda.Event()
            self.events = [torch.cuda.Event() for _ in self.segments]
            if self.mode in ("whole", "graph"):
                self.done.record(self.origin)  # torch makes its cudaEvent_t at the first record
                graph = self.segments[0][0]
                self.launch = (graph.raw_cuda_graph_exec(), int(self.origin.cuda_stream), self.done.cuda_event)
        if self.launch is not None:
            # the instantiated graph straight to the driver, not CUDAGraph.replay(): replay wraps the same
            # cudaGraphLaunch in a device guard, its RNG-state bookkeeping and a driver-version query — no GPU work
            # (the profiler saw the same kernels either way), but host CPU on every request: 0.68–0.85× with the
            # direct launch, requests alternating, on the H100 (gpu/scripts/launch-probe.py, results/h100/checks/)
            graph_exec, stream, done = self.launch
            d = driver()
            err = d.cuGraphLaunch(graph_exec, stream)[0]
            if err:
                check((err,), f"{self.name}: cuGraphLaunch")
            err = d.cuEventRecord(done, stream)[0]
            if err:
                check((err,), f"{self.name}: cuEventRecord")
            return self.done
        # stream mode: one graph per group, an event record + wait at every switch. kw-ioctl ("ioctl") re-makes a
        # partition at every switch: it creates a green context + stream for the next group's slices and destroys it
        # again, on the host, synchronously (the cost the paper's CU-mask IOCTL paid), then runs the group on the
        # pool's partition of the same slices. Launching the group into the fresh context instead failed once that
        # context was destroyed (H200: "CUDA error: context is destroyed"), and keeping hundreds of fresh contexts
        # alive per request ran out of device memory.
        remake = self.mode == "ioctl"
        prev = self.origin
        for i, ((graph, part), ev) in enumerate(zip(self.segments, self.events)):
            if remake and i > 0:
                destroy_partition(make_partition(self.layout, part.slices))
            stream = part.torch_stream
            if stream is not prev:
                ev.record(prev)
                stream.wait_event(ev)
                torch.cuda.set_stream(stream)
            graph.replay()
            prev = stream
        self.done.record(prev)
        return self.done


def kernel_partitions(name: str, groups: list[dict] | None, parts: dict, where: str = "the plan") -> dict:
    """The partitions of `parts` ({id: partition}) that `groups` put kernels on: a worker needs a green context (and a
    warmed stream) of those only. Refuses a group on a partition `parts` lacks."""
    used = {g["partition"] for g in groups or []}
    missing = sorted(used - parts.keys())
    if missing:
        raise BackendError(f"{name}: {where} puts its kernels on partition(s) {missing}, which it does not have")
    return {pid: part for pid, part in parts.items() if pid in used}


def on_every_sm(groups: list[dict] | None, parts_by_id: dict, layout) -> bool:
    """Every group of the worker sits on a partition of all the GPU's SMs (`layout`: the device's split; None: unknown,
    never)."""
    if not groups or layout is None:
        return False
    return all(parts_by_id[g["partition"]].sms >= layout.sm_count for g in groups)


def prepare_worker(name: str, built, mode: str, groups: list[dict] | None, parts_by_id: dict, origin,
                   expected_fingerprint: str | None, layout=None, pool=None, warmed: set | None = None,
                   dry_run: tuple | None = None, quiet: bool = False, gate: dict | None = None,
                   gemm_target: bool = False, gemm_off_sms=(), conv_sms=()) -> WorkerExec:
    """Captures a worker for `mode`. Refuses a plan made for another kernel sequence. A worker whose every group is on
    all the GPU's SMs (on_every_sm) is captured as baseline's: whole mode on `origin`.

    Several captures of one worker (one per plan it serves under: serving.py) may share `pool` (a graph memory pool
    handle: their intermediates then share memory — safe because a worker's graphs run one after another on its
    stream and every output stays alive), `warmed` (ids of streams warmed up already; updated) and `dry_run` (the
    (per_op, Captured) of op_kernel_starts, which depends on the model only; its graphs are not needed). `quiet`: the
    process's other workers are serving meanwhile (graph_capture; whole and graph modes, the ones serving uses).
    `gate`: the plan worker's part in eclip-rt's gate mechanism (gate.py), captured into its graph (whole mode).
    `gemm_target`: each op's matrix products captured with kernels picked for its partition's SMs (gemm_target.py;
    every mode; the dry capture and the fingerprint stay torch's defaults, as the profile's), but on partitions of
    `gemm_off_sms` SMs (the profile's `offSms`: there the target changed the ops dispatched). `conv_sms` (with
    `gemm_target`): on partitions of these sizes (the profile's `convSms`) each convolution
    is run by the conv lane of its partition's size (conv_target.py), as the profile's times there were measured."""
    total = layout.sm_count if gemm_target and layout is not None else None
    # the GEMM settings are the process's: no capture of another thread may run while one sets them
    with CAPTURE_LOCK:
        return _prepare_worker(name, built, mode, groups, parts_by_id, origin, expected_fingerprint, layout, pool,
                               warmed, dry_run, quiet, gate, total, frozenset(gemm_off_sms),
                               frozenset(conv_sms) if total is not None else frozenset())


def _prepare_worker(name, built, mode, groups, parts_by_id, origin, expected_fingerprint, layout, pool, warmed,
                    dry_run, quiet, gate, total: int | None, off: frozenset,
                    convs: frozenset = frozenset()) -> WorkerExec:
    """prepare_worker; `total`: the GPU's SMs when GEMMs are targeted, else None; `off`: sizes left untargeted;
    `convs`: sizes whose convolutions run on conv lanes."""
    import torch  # noqa: PLC0415

    def aim(sms: int | None) -> int | None:
        """The SM count a partition's GEMMs are picked for (None: the whole GPU's)."""
        return None if sms is None or sms in off else sms

    if mode in ("whole", "graph") and on_every_sm(groups, parts_by_id, layout):
        # the baseline's placement (eclip-fit's fallback, a set plan that keeps a model on the whole GPU): run it as
        # baseline runs it, one graph on the worker's ordinary stream, with no green context and no fork/join edges
        mode, groups = "whole", None
    used = [parts_by_id[g["partition"]] for g in groups or []]
    # partition stream -> the conv lane its convolutions run on (none on the whole GPU or at an off size)
    lanes = {p.torch_stream.cuda_stream: LANES.lane(p, built) for p in used
             if p.sms in convs and aim(p.sms) is not None and p.sms < total}

    def lanes_mode():
        return conv_lanes_mode(lambda s: lanes.get(s.cuda_stream)) if lanes else contextlib.nullcontext()

    streams = {id(p.torch_stream): p.torch_stream for p in parts_by_id.values()}
    streams[id(origin)] = origin
    cold = [s for k, s in streams.items() if warmed is None or k not in warmed]
    if cold:
        warm_up(built, cold, iters=1)
    if warmed is not None:
        warmed.update(streams)
    if total is not None:
        # cuBLASLt sets up per-stream state at its first call too: not inside the capture
        sms_of = {id(p.torch_stream): p.sms for p in parts_by_id.values()}
        for k, s in streams.items():
            if warmed is None or ("lt", k) not in warmed:
                with targeted(aim(sms_of.get(k)), total):
                    warm_up(built, [s], iters=1)
                if warmed is not None:
                    warmed.add(("lt", k))
    per_op, dry = dry_run or op_kernel_starts(built, origin, warmed={id(origin)}, quiet=quiet)
    if expected_fingerprint and dry.fingerprint != expected_fingerprint:
        raise BackendError(
            f"{name}: the plan was made for kernel sequence {expected_fingerprint[:19]}…, this model captures "
            f"{dry.fingerprint[:19]}… ({len(dry.kernels)} kernels): re-profile and re-plan"
        )
    n = len(dry.kernels)
    gate = check_gate(name, gate)
    if gate is not None and not (mode == "whole" or (mode == "graph" and gate["role"] == "wait")):
        # a real-time worker raises around its whole request, on the whole GPU; a best-effort one may wait at op starts
        # in graph mode too (its groups on partitions: eclip-rt's best-effort workers planned by eclip-fit)
        raise BackendError(
            f"{name}: a {gate['role']!r} gate (eclip-rt's gate mechanism) needs the worker "
            f"{'on the whole GPU' if gate['role'] == 'raise' else 'in whole or graph mode'}, not {mode} mode")
    # the word before the capture: made inside it, its zeroing would be captured into this graph and run again at
    # each of its requests, wiping the other real-time requests' counts
    word = gate_word() if gate is not None else None
    if mode == "whole":
        part = parts_by_id[groups[0]["partition"]] if groups else None
        stream = part.torch_stream if part else origin
        g = torch.cuda.CUDAGraph()
        with torch.inference_mode(), graph_capture(g, stream, pool, quiet, bool(lanes)), \
                targeted(aim(part.sms) if part is not None else None, total), lanes_mode():
            if gate is None:
                out = built.forward()
            elif gate["role"] == "raise":
                word.raise_()
                out = built.forward()
                word.lower()
            else:
                cu = driver().CUstream(int(stream.cuda_stream))
                ops = wait_points(per_op, gate["atKernels"])
                with _op_hook_mode(lambda op: word.wait(cu) if op in ops else None):
                    out = built.forward()
        del dry
        return WorkerExec(name, "whole", [(g, part)], stream, out, expected_fingerprint or "", n, 0, built=built)
    snapped, moved = snap_groups(groups, dry.op_starts)
    del dry
    # op index -> the partition that op's kernels run on
    firsts = [g["first"] for g in snapped]
    def group_of(k: int) -> int:
        lo = 0
        for i, f in enumerate(firsts):
            if f <= k:
                lo = i
        return lo

    if mode == "graph":
        g = torch.cuda.CUDAGraph()
        state = {"stream": origin}
        gated = wait_points(per_op, gate["atKernels"]) if gate is not None else set()

        def before(op: int):
            k = per_op[op] if op < len(per_op) else n
            part = parts_by_id[snapped[group_of(min(k, n - 1))]["partition"]]
            if total is not None:
                set_target(aim(part.sms), total)
            target = part.torch_stream
            if target is not state["stream"]:
                ev = torch.cuda.Event()
                ev.record(state["stream"])
                target.wait_event(ev)
                torch.cuda.set_stream(target)
                state["stream"] = target
            if op in gated:
                # on the stream this op's kernels run on: they (and everything after them) wait for the gate
                word.wait(driver().CUstream(int(target.cuda_stream)))

        with torch.inference_mode(), graph_capture(g, origin, pool, quiet, bool(lanes)), targeted(None, total), \
                lanes_mode():
            with _op_hook_mode(before):
                out = built.forward()
            if state["stream"] is not origin:
                ev = torch.cuda.Event()
                ev.record(state["stream"])
                origin.wait_event(ev)
                torch.cuda.set_stream(origin)
        return WorkerExec(name, "graph", [(g, None)], origin, out, expected_fingerprint or "", n,
                          len(snapped) - 1, moved, built=built)

    if mode not in ("stream", "ioctl"):
        raise BackendError(f"unknown execution mode {mode!r}")
    pool = torch.cuda.graph_pool_handle()
    segments: list = []
    cur = {"graph": None, "group": -1}

    def begin(gi: int):
        part = parts_by_id[snapped[gi]["partition"]]
        if total is not None:
            set_target(aim(part.sms), total)
        torch.cuda.set_stream(part.torch_stream)
        g = torch.cuda.CUDAGraph()
        # thread-local where conv lanes launch into the capture from their threads
        g.capture_begin(pool=pool, capture_error_mode="thread_local" if lanes else "global")
        cur["graph"], cur["group"] = g, gi
        segments.append((g, part))

    def before(op: int):
        k = per_op[op] if op < len(per_op) else n
        gi = group_of(min(k, n - 1))
        if gi != cur["group"]:
            if cur["graph"] is not None:
                cur["graph"].capture_end()
            begin(gi)

    prev = torch.cuda.current_stream()
    torch.cuda.synchronize()
    try:
        with torch.inference_mode(), targeted(None, total), lanes_mode(), _op_hook_mode(before):
            out = built.forward()
        if cur["graph"] is not None:
            cur["graph"].capture_end()
    finally:
        torch.cuda.set_stream(prev)
    torch.cuda.synchronize()
    return WorkerExec(name, mode, segments, origin, out, expected_fingerprint or "", n, len(segments) - 1, moved,
                      layout=layout, built=built)


@dataclass
class WorkerLog:
    name: str
    starts_ns: list = field(default_factory=list)
    ends_ns: list = field(default_factory=list)
    # host CPU time (this thread's) spent enqueuing each request: graph mode's promise is that this stays tiny
    cpu_ns: list = field(default_factory=list)


def closed_loop(workers: list[WorkerExec], warmup_s: float, duration_s: float, energy=None) -> dict:
    """Every worker keeps one request in flight, re-issued as soon as it completes (the paper's closed loop).
    Returns raw per-request start/end times (host clock after completion) and the window's energy."""
    import torch  # noqa: PLC0415

    stop = threading.Event()
    logs = [WorkerLog(w.name) for w in workers]
    errors: list[BaseException] = []

    def run(w: WorkerExec, log: WorkerLog):
        try:
            while not stop.is_set():
                t0 = time.perf_counter_ns()
                c0 = time.thread_time_ns()
                done = w.request()
                c1 = time.thread_time_ns()
                done.synchronize()
                log.starts_ns.append(t0)
                log.ends_ns.append(time.perf_counter_ns())
                log.cpu_ns.append(c1 - c0)
        except BaseException as e:  # noqa: BLE001 - surfaced to the caller below
            errors.append(e)
            stop.set()

    threads = [threading.Thread(target=run, args=(w, lg), daemon=True) for w, lg in zip(workers, logs)]
    for t in threads:
        t.start()
    time.sleep(warmup_s)
    e0 = energy.read_mj() if energy else None
    w0 = time.perf_counter_ns()
    time.sleep(duration_s)
    w1 = time.perf_counter_ns()
    e1 = energy.read_mj() if energy else None
    stop.set()
    join_or_stuck(threads, [w.name for w in workers], DRAIN_S, lambda: stuck_state(workers))
    torch.cuda.synchronize()
    if errors:
        raise errors[0]
    return {
        "windowStartNs": w0,
        "windowEndNs": w1,
        "energyJ": (e1 - e0) / 1e3 if energy else None,
        "workers": [
            {"name": lg.name, "startsNs": lg.starts_ns, "endsNs": lg.ends_ns, "cpuNs": lg.cpu_ns}
            for lg in logs
        ],
    }
