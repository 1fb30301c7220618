"""PARIS + ELSA on the GPU (issue #7): measured latency tables, and open-loop replay of a query trace on green-context
partitions. The TypeScript side (src/paris/gpu.ts) plans the partitions, generates the traces and turns the
per-query times returned here into the same metrics as its simulator (src/paris/sim.ts).

Latency tables (`ParisSession.table`, protocol `paris-table`): for one model at each batch and each partition size of
the slice layout (1 … n regular slices anchored at slice 0, then the whole GPU: profiler.ladder, the sizes PARIS plans
with), one CUDA graph captured on that partition's green-context stream (the graph keeps the partition), replayed:
the median of CUDA-event-timed replays after two untimed ones, as many as fit a small time budget per cell (at least
5). The model is built once (at batch 1; other batches repeat its input) and warmed up eagerly on every partition
stream before the first capture (docs/design.md §8); each graph dies before the next is captured.

Open-loop replay (`ParisSession.run`, protocol `paris-run`): one green-context partition + stream per partition of the
layout, one graph per (partition, model, batch) the trace needs, captured once and kept while later runs use the same
slices (graphs on one partition share one memory pool: they only ever run one at a time, and no output is read).
Then the trace runs in real time: a dispatcher thread releases each query at its arrival time and routes it with
`Dispatcher` (a port of src/paris/elsa.ts and of sim.ts's queueing: the test fixture test/fixtures/paris-dispatch.json
keeps the two in step); one thread per partition runs its queries in order (graph replay + event synchronize, both
release the GIL). Per query: release, start and end on the host clock (µs from the trace's origin), the partition
that ran it, and the NVML energy from the first measured query's release to the last completion.

Several GPUs (`--gpus 2`): a partition names its GPU (`gpu`, a CUDA ordinal of this process) and this one process
drives them all: each GPU's slice layout is read off it when a run first puts a partition there, the partition's
green context and stream are made on that device, its graphs captured there (with that device current) from a copy
of the model on that device, so each GPU holds only its own partitions' graphs and models. One dispatcher and one
release loop serve every partition of every GPU, as the simulator's one dispatcher does (sim.ts has no notion of GPUs:
a server is a flat list of partitions). Why one process rather than one per GPU: ELSA decides each arrival on every
partition's backlog at that instant, and a partition's backlog changes when it completes; across processes each
completion would be a message to wherever the dispatcher lives and each routed query a message back (a pipe hop each
way on the request path, and two clocks to reconcile), where here both are a lock away on one clock. The price is
one GIL for all partition threads; the release lag each run reports measures it. The energy is summed over the
server's GPUs (0..the highest used) and reported per GPU too.

Queries that have waited more than `dropAfterSlo` × their SLO when their partition reaches them are dropped
unexecuted (counted as violations by the TS side): an overloaded open-loop run would otherwise take minutes to drain.
"""

from __future__ import annotations

import gc
import heapq
import os
import statistics
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from queue import SimpleQueue

DISPATCHES = ("fifo", "least-loaded", "elsa")


# ---- dispatch: src/paris/elsa.ts and the queueing rules of src/paris/sim.ts, line for line (no torch) ----------------


def estimated_finish(running_est_end: float, queued_est: float, now: float, exec_us: float) -> float:
    """elsa.ts estimatedFinish: what remains of the running query + the queued estimates + the query's own."""
    return max(now, running_est_end) + queued_est + exec_us


def elsa_choose(sms, finish, deadline: float) -> int:
    """elsa.ts elsaChoose: the smallest partition whose estimated finish is <= deadline (ties: earlier finish, then
    lower index); if none, the earliest finisher."""
    best = -1
    for i, f in enumerate(finish):
        if f > deadline:
            continue
        if best < 0:
            best = i
            continue
        if sms[i] < sms[best] or (sms[i] == sms[best] and f < finish[best]):
            best = i
    return best if best >= 0 else earliest_choose(finish)


def earliest_choose(finish) -> int:
    """elsa.ts earliestChoose: least-loaded; ties to the lowest index."""
    best = 0
    for i in range(1, len(finish)):
        if finish[i] < finish[best]:
            best = i
    return best


class Dispatcher:
    """What the dispatcher knows of every partition's queue, updated as sim.ts updates it. Not thread-safe: callers
    hold one lock around `arrive` and `done`.

    est[p][m][b]: the latency-table estimate (µs) of model m at its batch index b on partition p; model[q] and
    batch_idx[q] describe query q. Times are µs on one clock (the trace's).
    """

    def __init__(self, sms, est, slo_us, model, batch_idx, dispatch: str, slo_margin: float, serves=None):
        if dispatch not in DISPATCHES:
            raise ValueError(f"unknown dispatch {dispatch!r}; known: {', '.join(DISPATCHES)}")
        n = len(sms)
        self.sms, self.est, self.slo_us = list(sms), est, slo_us
        self.model, self.batch_idx = model, batch_idx
        self.dispatch, self.margin = dispatch, slo_margin
        # dedicated workers (eclip-kw, sim.ts's SimOptions.serves): partition i serves model serves[i] only; fifo then
        # keeps one central FIFO per model, the other policies choose among the query's model's workers
        self.serves = list(serves) if serves is not None else None
        if self.serves is not None and len(self.serves) != n:
            raise ValueError(f"{len(self.serves)} entries in serves for {n} partitions")
        self.running = [-1] * n
        self.running_est_end = [0.0] * n
        self.queued_est = [0.0] * n
        self.queues = [deque() for _ in range(n)]
        self.central = [deque() for _ in range(max(self.serves) + 1)] if self.serves else [deque()]
        # central FIFO: when several partitions are idle, the largest takes the arrival
        self.by_size = sorted(range(n), key=lambda i: (-self.sms[i], i))
        self._finish = [0.0] * n

    def _serves(self, p: int, q: int) -> bool:
        return self.serves is None or self.serves[p] == self.model[q]

    def _est(self, p: int, q: int) -> float:
        return self.est[p][self.model[q]][self.batch_idx[q]]

    def _start(self, p: int, q: int, now: float) -> None:
        self.running[p] = q
        self.running_est_end[p] = now + self._est(p, q)

    def arrive(self, q: int, now: float) -> tuple[int, bool]:
        """Routes query q arriving at `now`: (partition, True) when that partition starts it now (it was idle),
        (partition, False) when it waits in that partition's FIFO, (-1, False) when it waits in the central FIFO."""
        if self.dispatch == "fifo":
            for i in self.by_size:
                if self.running[i] < 0 and self._serves(i, q):
                    self._start(i, q, now)
                    return i, True
            self.central[self.model[q] if self.serves else 0].append(q)
            return -1, False
        finish = self._finish
        for i in range(len(finish)):
            if not self._serves(i, q):
                finish[i] = float("inf")  # another model's worker: never a candidate
                continue
            e = self._est(i, q)
            # an idle partition has an empty FIFO (done() hands it the next query at once)
            finish[i] = now + e if self.running[i] < 0 else estimated_finish(
                self.running_est_end[i], self.queued_est[i], now, e)
        if self.dispatch == "elsa":
            p = elsa_choose(self.sms, finish, now + self.margin * self.slo_us[self.model[q]])
        else:
            p = earliest_choose(finish)
        if self.running[p] < 0:
            self._start(p, q, now)
            return p, True
        self.queues[p].append(q)
        self.queued_est[p] += self._est(p, q)
        return p, False

    def done(self, p: int, now: float) -> int:
        """Partition p finished its query at `now`; returns the query it starts next (now), or -1 (it goes idle)."""
        self.running[p] = -1
        if self.dispatch == "fifo":
            central = self.central[self.serves[p] if self.serves else 0]
            if central:
                q = central.popleft()
                self._start(p, q, now)
                return q
            return -1
        queue = self.queues[p]
        if not queue:
            return -1
        q = queue.popleft()
        self.queued_est[p] -= self._est(p, q)
        if not queue:
            self.queued_est[p] = 0.0  # drop float drift when the queue empties (as sim.ts does)
        self._start(p, q, now)
        return q


def replay_virtual(disp: Dispatcher, arrival_us, service) -> dict:
    """The same dispatch in virtual time, with known service times (`service(q, p)`: µs of query q on partition p):
    what sim.ts's event loop does, for tests without a GPU. Completions go before arrivals at the same instant; ties
    in time by push order."""
    n = len(arrival_us)
    done = [0.0] * n
    served = [-1] * n
    assigned = [-1] * n
    heap: list = []
    seq = 0

    def start(p: int, q: int, now: float):
        nonlocal seq
        served[q] = p
        heapq.heappush(heap, (now + service(q, p), seq, p, q))
        seq += 1

    nxt = 0
    while nxt < n or heap:
        t_arr = arrival_us[nxt] if nxt < n else float("inf")
        if heap and heap[0][0] <= t_arr:
            t, _, p, q = heapq.heappop(heap)
            done[q] = t
            q2 = disp.done(p, t)
            if q2 >= 0:
                start(p, q2, t)
            continue
        q = nxt
        nxt += 1
        p, now = disp.arrive(q, t_arr)
        assigned[q] = p
        if now:
            start(p, q, t_arr)
    return {"doneUs": done, "partition": served, "assigned": assigned}


# ---- GPU side ----------------------------------------------------------------------------------------------------


def at_batch(base, batch: int):
    """The zoo model `base` (a zoo.Built) at `batch`, with an input tensor of its own: its first item repeated (none of
    the zoo models branches on data, so the kernels are those of any input)."""
    from . import zoo  # noqa: PLC0415

    inputs = tuple(x[:1].expand(batch, *x.shape[1:]).contiguous() for x in base.inputs)
    return zoo.Built(name=base.name, model=base.model, inputs=inputs, batch=batch, dtype=base.dtype)


@dataclass
class _Part:
    """One partition of the current layout: its green context + stream, a memory pool its graphs share, the graphs,
    and the GPU (CUDA ordinal) they all live on."""

    partition: object
    pool: object
    graphs: dict = field(default_factory=dict)  # (model, batch) -> (graph, output)
    gpu: int = 0


class ParisSession:
    """State kept across paris-run messages of one backend process: models, partitions and their graphs, on every GPU
    the runs put partitions on (see the module docstring)."""

    def __init__(self, layout, energy=None):
        import torch  # noqa: PLC0415

        self.torch = torch
        self.layout = layout  # the process's first GPU: latency tables are measured there
        self.layouts = {layout.device: layout}  # CUDA ordinal -> SliceLayout, read when first used
        self.energy = energy  # None: no NVML readings in this process (then none for the other GPUs either)
        self.energies = {layout.device: energy} if energy is not None else {}
        self.base: dict = {}  # (model, dtype, gpu) -> zoo.Built at batch 1
        self.parts: dict = {}  # (gpu, slices tuple) -> _Part
        # eclip-kw: (gpu, model, batch, its plan's groups) -> execute.WorkerExec, a graph over the pool's partitions;
        # dropped before any of those partitions goes (use_partitions, close)
        self.kw: dict = {}
        self.kw_origin: dict = {}  # (gpu, model) -> the worker's own full-GPU stream its requests start and end on

    # -- GPUs

    def layout_of(self, gpu: int):
        """GPU `gpu`'s slice layout, read off the device the first time (it creates the device's primary context)."""
        if gpu not in self.layouts:
            from .cuda import BackendError  # noqa: PLC0415
            from .partitions import read_layout  # noqa: PLC0415

            n = self.torch.cuda.device_count()
            if not 0 <= gpu < n:
                raise BackendError(f"a partition is on GPU {gpu}, but this process sees {n} GPU(s) "
                                   f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')})")
            self.layouts[gpu] = read_layout(gpu)
        return self.layouts[gpu]

    def energy_of(self, gpu: int):
        """NVML readings of GPU `gpu` (None where this process has none)."""
        if self.energy is None:
            return None
        if gpu not in self.energies:
            from .energy import Energy  # noqa: PLC0415

            self.energies[gpu] = Energy(gpu)
        return self.energies[gpu]

    def gpus(self, msg: dict) -> dict:
        """paris-gpus: how many GPUs this process sees, and the slice layouts (format eclip.gpu/1) of the first
        `count` of them, each read off its device: a multi-GPU comparison checks every GPU it uses."""
        n = self.torch.cuda.device_count()
        want = min(int(msg.get("count", 1)), n)
        return {"deviceCount": n, "gpus": [self.layout_of(i).describe() for i in range(want)]}

    def _sync(self, gpus) -> None:
        """torch.cuda.synchronize() waits for the current device only: every GPU of `gpus`."""
        for g in sorted(set(gpus)):
            self.torch.cuda.synchronize(g)

    # -- models

    def built(self, model: str, batch: int, dtype: str, gpu: int = 0):
        """The model at `batch` on GPU `gpu`: built once per (model, dtype, gpu); zoo models' inputs are the batch-1
        input repeated (same kernels as a fresh random batch: none of these models branch on data). Other models build
        per batch. zoo builds on the current device: made current here."""
        from . import zoo  # noqa: PLC0415

        torch = self.torch
        if model not in zoo.ZOO:
            key = (model, dtype, gpu, batch)
            if key not in self.base:
                with torch.cuda.device(gpu):
                    self.base[key] = zoo.build(model, batch, dtype)
            return self.base[key]
        key = (model, dtype, gpu)
        if key not in self.base:
            with torch.cuda.device(gpu):
                self.base[key] = zoo.build(model, 1, dtype)
        b1 = self.base[key]
        return b1 if batch == 1 else at_batch(b1, batch)

    def capture_graph(self, built, stream, pool=None):
        """The request as one graph on `stream` (a partition's: the graph keeps it). capture_begin/end directly rather
        than torch.cuda.graph, which runs gc.collect() and empty_cache() on every capture (hundreds here)."""
        torch = self.torch
        g = torch.cuda.CUDAGraph()
        # the stream's device current: capture_begin takes the current device's current stream, and replay() later
        # launches on the current stream of the device it was captured on
        with torch.cuda.device(stream.device):
            torch.cuda.synchronize()
            with torch.inference_mode(), torch.cuda.stream(stream):
                g.capture_begin(pool=pool) if pool is not None else g.capture_begin()
                try:
                    out = built.forward()
                finally:
                    g.capture_end()
        return g, out

    # -- latency tables

    def table(self, msg: dict, progress) -> dict:
        """One model's latency table (format eclip.latency-table/1) at msg's batches on every ladder size."""
        from .capture import warm_up  # noqa: PLC0415
        from .cuda import versions  # noqa: PLC0415
        from .partitions import PartitionPool  # noqa: PLC0415
        from .profiler import ladder  # noqa: PLC0415

        torch = self.torch
        model, dtype = msg["model"], msg.get("dtype", "fp16")
        batches = sorted(int(b) for b in msg["batches"])
        cell_s = float(msg.get("cellMs", 100)) / 1e3
        t0 = time.perf_counter()
        pool = PartitionPool(self.layout)
        parts = ladder(pool)
        rows, reps = [], []
        for b in batches:
            tb = time.perf_counter()
            built = self.built(model, b, dtype, self.layout.device)
            warm_up(built, [p.torch_stream for p in parts], iters=1)
            row = []
            for p in parts:
                g, out = self.capture_graph(built, p.torch_stream)
                us, n = _time_graph(torch, g, p.torch_stream, cell_s)
                del g, out  # each graph dies before the next capture; all before the pool closes (docs/design.md §8)
                row.append(round(us, 2))
                reps.append(n)
            rows.append(row)
            del built
            progress(f"{model} b{b}: {row[0] / 1e3:.2f} ms on {parts[0].sms} SMs … {row[-1] / 1e3:.2f} ms on "
                     f"{parts[-1].sms} ({time.perf_counter() - tb:.1f} s)")
        torch.cuda.synchronize()
        gc.collect()
        # only here, with every graph gone: after an error above the pool stays open (a graph may still use it)
        pool.close()
        self.base = {k: v for k, v in self.base.items() if k[0] != model}  # tables are measured one model at a time
        torch.cuda.empty_cache()
        v = versions()
        table = {
            "format": "eclip.latency-table/1",
            "gpu": self.layout.ref(),
            "model": model,
            "dtype": dtype,
            "batches": batches,
            "sizes": [p.sms for p in parts],
            "latencyUs": rows,
            "repeats": min(reps),
            "measured": {
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "method": "measured: per (batch, partition size) one CUDA graph captured on the partition's "
                "green-context stream (sizes: 1..n slices from slice 0, then the whole GPU), 2 untimed replays, then "
                f"the median of CUDA-event-timed replays (>= 5, up to 50 or {cell_s * 1e3:.0f} ms); model warmed up "
                "eagerly on every partition stream first",
                "tool": "eclip_gpu (paris.py)",
                **v,
                "notes": f"{len(batches) * len(parts)} cells in {time.perf_counter() - t0:.1f} s; at least "
                f"{min(reps)} replays per cell",
            },
        }
        # validated on the TypeScript side (parseFormat), which owns the format: no fastjsonschema needed here
        return {"table": table, "wallS": round(time.perf_counter() - t0, 2)}

    # -- open-loop replay

    def use_partitions(self, partitions: list[dict]) -> list[_Part]:
        """This run's partitions, keeping those (and their graphs) whose GPU and slices the previous run used too
        (paris_serve.py builds a serving load's partitions with it)."""
        from .partitions import destroy_partition, make_partition  # noqa: PLC0415

        torch = self.torch
        want = [(int(p.get("gpu", 0)), tuple(sorted(int(s) for s in p["slices"]))) for p in partitions]
        for g in sorted({g for g, _ in want}):
            self.layout_of(g)  # a GPU this process does not see fails here, before anything is torn down
        gone = [self.parts.pop(k) for k in list(self.parts) if k not in want]
        if gone:
            self.kw.clear()  # kernel-wise graphs span several partitions: any of them may be among those going
            for p in gone:
                p.graphs.clear()  # graphs first, then the pool and context they use (docs/design.md §8)
            gc.collect()
            self._sync(p.gpu for p in gone)
            for p in gone:
                destroy_partition(p.partition)
            torch.cuda.empty_cache()  # every device's cached blocks
        for i, (g, k) in enumerate(want):
            if (g, k) not in self.parts:
                with torch.cuda.device(g):
                    part = make_partition(self.layout_of(g), k, i)
                self.parts[(g, k)] = _Part(part, torch.cuda.graph_pool_handle(), gpu=g)
        return [self.parts[k] for k in want]

    def _graphs(self, parts: list[_Part], needed: list[tuple[str, int]], dtype: str, progress) -> tuple[int, float]:
        """Captures every (partition, model, batch) graph `needed` that is not there yet; returns (count, seconds)."""
        from .capture import warm_up  # noqa: PLC0415

        torch = self.torch
        t0 = time.perf_counter()
        count = 0
        gpus = sorted({p.gpu for p in parts})
        for model, batch in needed:
            missing = [p for p in parts if (model, batch) not in p.graphs]
            if not missing:
                continue
            for gpu in gpus:
                on = [p for p in missing if p.gpu == gpu]
                if not on:
                    continue
                # the model's copy on this GPU: a graph reads weights and input on its own device only
                built = self.built(model, batch, dtype, gpu)
                with torch.cuda.device(gpu):
                    # cuBLAS/cuDNN set up per-stream state on first use; inside a capture that breaks it (docs/design.md §8)
                    warm_up(built, [p.partition.torch_stream for p in on], iters=1)
                    for p in on:
                        g, out = self.capture_graph(built, p.partition.torch_stream, p.pool)
                        with torch.cuda.stream(p.partition.torch_stream):
                            g.replay()  # the first replay uploads the graph: not on the request path
                        p.partition.torch_stream.synchronize()
                        # the graph holds raw pointers to the model's weights and input: keep them alive with it
                        p.graphs[(model, batch)] = (g, out, built)
                        count += 1
            # the eager warm-up's activations stay cached per partition stream (the caching allocator keys blocks by
            # stream): hand them back after every class, not once at the end, so 8+ partitions × batch 32 never
            # crowd out the libraries' own device allocations (the H100 kept > 60 GiB free this way)
            self._sync(gpus)
            torch.cuda.empty_cache()
        self._sync(gpus)
        secs = time.perf_counter() - t0
        if count:
            mem = []
            for gpu in gpus:
                free, total = torch.cuda.mem_get_info(gpu)
                where = f" on GPU {gpu}" if len(gpus) > 1 else ""
                mem.append(f"{free / 2**30:.1f} of {total / 2**30:.1f} GiB{where}")
            progress(f"captured {count} graphs on {len(parts)} partitions in {secs:.1f} s; "
                     f"device memory free {', '.join(mem)}")
        return count, secs

    def _kernel_wise(self, msg: dict, dtype: str, qm, qb, progress):
        """eclip-kw (src/paris/kernelwise.ts): msg's partitions are workers, worker i serving model serves[i] on its
        GPU; every GPU holds the union pool of the server's per-batch eclip plans (kernelWise.pool, green contexts),
        and worker i's query at batch b replays one graph (graph mode, execute.py) whose kernels sit on the pool's
        partitions as plans[model][batch] puts them. Graphs are captured for the (model, batch) the trace has, once
        per GPU, and kept while the pool stays. Returns (streams, graphs[i][m][b], GPUs, captures, seconds)."""
        from .cuda import BackendError  # noqa: PLC0415
        from .execute import prepare_worker  # noqa: PLC0415

        torch = self.torch
        kw, workers, serves, models = msg["kernelWise"], msg["partitions"], msg["serves"], msg["models"]
        gpus = sorted({int(w.get("gpu", 0)) for w in workers})
        pool = kw["pool"]
        made = self.use_partitions([{"gpu": g, "slices": p["slices"]} for g in gpus for p in pool])
        by_id = {(g, p["id"]): made[k * len(pool) + j].partition for k, g in enumerate(gpus) for j, p in enumerate(pool)}
        for (g, pid), part in by_id.items():
            want = next(int(p["sms"]) for p in pool if p["id"] == pid)
            if part.sms != want:
                raise BackendError(f"eclip-kw pool partition {pid}: slices hold {part.sms} SMs on GPU {g}, the plan "
                                   f"says {want}")
        needed = {(m, b) for m, b in zip(qm, qb)}
        t0 = time.perf_counter()
        captures = 0
        streams, graphs = [], []
        for i, w in enumerate(workers):
            g, m = int(w.get("gpu", 0)), int(serves[i])
            model = models[m]["model"]
            origin = self.kw_origin.get((g, m))
            if origin is None:
                origin = self.kw_origin[(g, m)] = torch.cuda.Stream(device=g)
            row = [[None] * len(mm["batches"]) for mm in models]
            for bi, b in enumerate(models[m]["batches"]):
                if (m, bi) not in needed:
                    continue
                plan = kw["plans"][m][bi]
                key = (g, model, b, repr(plan["groups"]))
                execd = self.kw.get(key)
                if execd is None:
                    with torch.cuda.device(g):
                        execd = prepare_worker(f"{model} b{b} (GPU {g})", self.built(model, b, dtype, g), "graph",
                                               plan["groups"], {pid: by_id[(g, pid)] for pid in
                                                                {gr["partition"] for gr in plan["groups"]}},
                                               origin, plan["fingerprint"])
                        with torch.cuda.stream(origin):
                            execd.segments[0][0].replay()  # the first replay uploads the graph
                        origin.synchronize()
                    self.kw[key] = execd
                    captures += 1
                    progress(f"eclip-kw: {model} b{b} on GPU {g}: {execd.kernels} kernels in {execd.switches + 1} "
                             f"groups on {len({gr['partition'] for gr in plan['groups']})} partitions "
                             f"({execd.moved_boundaries} boundaries moved to op starts)")
                row[m][bi] = execd.segments[0][0]
            streams.append(origin)
            graphs.append(row)
        self._sync(gpus)
        secs = time.perf_counter() - t0
        if captures:
            progress(f"eclip-kw: captured {captures} kernel-wise graphs over {len(pool)} pool partitions per GPU "
                     f"in {secs:.1f} s")
        return streams, graphs, gpus, captures, secs

    def run(self, msg: dict, progress) -> dict:
        torch = self.torch
        t0 = time.perf_counter()
        models = msg["models"]
        dtype = msg.get("dtype", "fp16")
        trace = msg["trace"]
        arrival, qm, qb = trace["arrivalUs"], trace["model"], trace["batchIdx"]
        n = len(arrival)
        if n == 0:
            raise ValueError("paris-run: empty trace")
        needed = sorted({(models[m]["model"], models[m]["batches"][b]) for m, b in zip(qm, qb)})
        serves = msg.get("serves")
        if msg.get("kernelWise") is not None:
            streams, graphs, gpus_used, captures, capture_s = self._kernel_wise(msg, dtype, qm, qb, progress)
            sms = [float(w["sms"]) for w in msg["partitions"]]  # a worker's busy SMs: ELSA's "smallest"
        else:
            parts = self.use_partitions(msg["partitions"])
            captures, capture_s = self._graphs(parts, needed, dtype, progress)
            # graphs[p][m][b]: None where the trace has no such query
            graphs = [[[p.graphs.get((mm["model"], b), (None,))[0] for b in mm["batches"]] for mm in models]
                      for p in parts]
            streams = [p.partition.torch_stream for p in parts]
            sms = [p.partition.sms for p in parts]
            gpus_used = [p.gpu for p in parts]
        # one dispatcher over the partitions of every GPU, in the message's order (the simulator's flat list)
        disp = Dispatcher(sms, msg["estUs"], [m["sloUs"] for m in models], qm, qb, msg["dispatch"],
                          float(msg.get("sloMargin", 0.5)), serves=serves)
        drop_after = [float(msg.get("dropAfterSlo", 20)) * m["sloUs"] for m in models]
        first = int(msg.get("firstMeasured", 0))
        # the server of a run at g GPUs is GPUs 0..g-1 (every layout puts partitions on each): energy over all of them
        server = list(range(max(gpus_used) + 1))
        energies = [e for e in (self.energy_of(g) for g in server) if e is not None]
        clocks_before = _clocks(energies)
        raw = _replay(torch, disp, streams, graphs, arrival, qm, drop_after, first, energies)
        clocks_after = _clocks(energies)
        r1 = lambda xs: [round(x, 1) for x in xs]  # noqa: E731
        notes = [f"event synchronize: {'blocking' if raw['blocking'] else 'spin'} "
                 f"({len(streams)} partition threads, {os.cpu_count()} CPUs)"]
        if len(server) > 1:
            notes.append(f"{len(server)} GPUs driven by one backend process, one dispatcher over all partitions")
        notes += sorted({f"NVML energy of GPU {e.index} by {e.matched_by}" for e in energies
                         if getattr(e, "matched_by", "PCI bus id") != "PCI bus id"})
        return {
            "releaseUs": r1(raw["release"]),
            "startUs": r1(raw["start"]),
            "endUs": r1(raw["end"]),
            "partition": raw["ran_on"],
            "assigned": raw["assigned"],
            "dropped": raw["dropped"],
            "energyJ": raw["energyJ"],
            "energyPerGpuJ": raw["energyPerGpuJ"],
            "gpus": server,
            "energyFromUs": raw["energyFromUs"],
            "energyToUs": raw["energyToUs"],
            "captures": captures,
            "captureS": round(capture_s, 2),
            "graphs": sum(len(p.graphs) for p in self.parts.values()),
            "wallS": round(time.perf_counter() - t0, 2),
            "clocks": {"before": clocks_before, "after": clocks_after},
            "notes": notes,
        }

    def close(self) -> None:
        from .partitions import destroy_partition  # noqa: PLC0415

        parts = list(self.parts.values())
        self.parts.clear()
        self.kw.clear()
        self.kw_origin.clear()
        for p in parts:
            p.graphs.clear()
        gc.collect()
        self._sync(p.gpu for p in parts)
        for p in parts:
            destroy_partition(p.partition)
        self.base.clear()


def _time_graph(torch, graph, stream, budget_s: float, min_reps: int = 5, max_reps: int = 50) -> tuple[float, int]:
    """Median µs of CUDA-event-timed replays of `graph` on `stream` after 2 untimed ones (the first uploads it)."""
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times: list[float] = []
    with torch.cuda.stream(stream):
        graph.replay()
        graph.replay()
        stream.synchronize()
        end = time.perf_counter() + budget_s
        while len(times) < max_reps and (len(times) < min_reps or time.perf_counter() < end):
            a.record()
            graph.replay()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b) * 1e3)
    return statistics.median(times), len(times)


def _clocks(energies):
    """NVML clocks/power/temperature: one GPU's dict as before, or per GPU (keyed by CUDA ordinal) for several."""
    if not energies:
        return None
    if len(energies) == 1:
        return energies[0].clocks()
    return {str(getattr(e, "index", i)): e.clocks() for i, e in enumerate(energies)}


def _replay(torch, disp: Dispatcher, streams, graphs, arrival, qm, drop_after, first: int, energy) -> dict:
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
