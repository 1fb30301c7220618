"""PARIS + ELSA on the GPU (issue #7): the session that serves the backend's paris-* requests. The TypeScript side
(src/paris/gpu.ts) plans the partitions, generates the traces and turns the per-query times returned here into the
same metrics as its simulator (src/paris/sim.ts).

`ParisSession` keeps across requests of one backend process the models (one copy per GPU), the partitions (a green
context + stream each) and their graphs. Latency tables (`table`, protocol `paris-table`) are measured by
paris_table.py. An open-loop run (`run`, protocol `paris-run`) makes one partition per partition of the layout and one
graph per (partition, model, batch) the trace needs, captured once and kept while later runs use the same slices
(graphs on one partition share one memory pool: they only ever run one at a time, and no output is read); then
paris_replay.py runs the trace in real time, routing each query with paris_dispatch.py's ELSA port.

Several GPUs (`--gpus 2`): a partition names its GPU (`gpu`, a CUDA ordinal of this process) and this one process
drives them all: each GPU's slice layout is read off it when a run first puts a partition there, the partition's
green context and stream are made on that device, its graphs captured there (with that device current) from a copy
of the model on that device, so each GPU holds only its own partitions' graphs and models. One dispatcher and one
release loop serve every partition of every GPU, as the simulator's one dispatcher does (sim.ts has no notion of GPUs:
a server is a flat list of partitions). Why one process rather than one per GPU: ELSA decides each arrival on every
partition's backlog at that instant, and a partition's backlog changes when it completes; across processes each
completion would be a message to wherever the dispatcher lives and each routed query a message back (a pipe hop each
way on the request path, and two clocks to reconcile), where here both are a lock away on one clock. The energy is
summed over the server's GPUs (0..the highest used) and reported per GPU too.
"""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass, field

from . import zoo
from .capture import warm_up
from .cuda import BackendError
from .energy import Energy
from .execute import prepare_worker
from .paris_dispatch import Dispatcher
from .paris_replay import clocks, replay
from .paris_table import measure_table
from .partitions import destroy_partition, make_partition, read_layout


def at_batch(base, batch: int):
    """The zoo model `base` (a zoo.Built) at `batch`, with an input tensor of its own: its first item repeated (none of
    the zoo models branches on data, so the kernels are those of any input)."""
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
        return measure_table(self, msg, progress)

    # -- open-loop runs

    def use_partitions(self, partitions: list[dict]) -> list[_Part]:
        """This run's partitions, keeping those (and their graphs) whose GPU and slices the previous run used too
        (paris_serve.py builds a serving load's partitions with it)."""
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
                    # cuBLAS/cuDNN set up per-stream state on first use; inside a capture that breaks it
                    # (docs/design.md §8)
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
        clocks_before = clocks(energies)
        raw = replay(torch, disp, streams, graphs, arrival, qm, drop_after, first, energies)
        clocks_after = clocks(energies)
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
