"""Serving with PARIS + ELSA: the GPU side of `eclip serve` with policy paris-elsa (the TS side is src/serve/paris*.ts).

The server (TypeScript) has chosen the partitions with PARIS over the host's GPUs and dispatches every request with
ELSA: it tracks each partition's backlog and sends a partition one request at a time, naming it (`infer` with
`partition`). This module builds what those requests run on, once, at `load` ({partitions, workers with batches}):

- each partition as a green context + stream on its GPU, from its slice ids (paris.py's
  ParisSession.use_partitions: the same partitions `eclip paris --backend gpu` builds; a partition names its GPU, a
  CUDA ordinal of this process);
- each served model once per GPU (ParisSession.built: a copy on that device) and, on every partition, one CUDA graph
  per batch size of the model's mix (plus its `batch`), captured on the partition's stream so that the graph keeps
  the partition (ParisSession.capture_graph), warmed up eagerly on every partition stream first (docs/design.md §8). Graphs
  of one partition share that partition's memory pool: a partition runs one request at a time (the server sends one
  at a time; a lock per partition makes sure of it here too);
- unlike paris.py's replay, whose graphs share one static input per (model, batch) and whose outputs nobody reads,
  every graph here has a static input of its own: requests on different partitions run at once and must not write
  each other's inputs.

A request of n items runs the graph of the smallest captured batch ≥ n: its bytes are copied into the first n items
of that graph's static input, the rest zeroed, the graph replayed, and the output's first n items returned — the
same execution as serving.py's (`gpu_execute`). The server picks the same batch for ELSA's estimate (src/serve/
paris-backend.ts `capturedBatch`). Each (model, partition) is a ServedWorker named "<model>@<partition>"
(Serving.infer routes a request that names a partition there); the model's shared-memory ring is the model's, as
without partitions. NVML power and energy are summed over the server's GPUs.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from .capture import warm_up
from .cuda import BackendError
from .paris import ParisSession, at_batch
from .serving import ServedWorker, gpu_execute, kserve_datatype, worker_key


def captured_batches(worker: dict) -> list[int]:
    """The batch sizes a served model is captured at: its mix's sizes and its `batch` (the largest), ascending."""
    sizes = {int(b) for b in worker.get("batches") or []} | {int(worker["batch"])}
    if min(sizes) < 1:
        raise BackendError(f"{worker['name']}: batch sizes must be >= 1, got {sorted(sizes)}")
    return sorted(sizes)


def batch_for(batches: list[int], n: int) -> int:
    """The captured batch a request of n items runs at: the smallest that holds it."""
    for b in batches:
        if b >= n:
            return b
    raise BackendError(f"{n} items, but the largest captured batch is {batches[-1]}")


def partitioned_execute(executes: dict, lock: threading.Lock):
    """One ServedWorker's execute over a model's graphs on one partition (`executes`: batch -> serving's execute):
    the graph of the smallest batch that holds the request, one replay at a time on the partition."""
    batches = sorted(executes)

    def execute(n, datatype, body):
        run = executes[batch_for(batches, n) if isinstance(n, int) else batches[-1]]
        with lock:
            return run(n, datatype, body)

    return execute


def load(serving, msg: dict, progress) -> dict:
    """Builds the partitions, captures every (partition, model, batch) graph and starts the workers; the `loaded`
    reply has one entry per served model (shapes at its largest captured batch)."""
    import torch  # noqa: PLC0415 - torch only on the GPU machine, imported when a load needs it

    if serving.workers:
        raise BackendError("this backend already has loaded workers; start a fresh process to load others")
    partitions = msg["partitions"]
    if not partitions:
        raise BackendError("paris-elsa load without partitions")
    ids = [str(p["id"]) for p in partitions]
    if len(set(ids)) != len(ids):
        raise BackendError(f"partition ids must be unique: {ids}")
    for w in msg["workers"]:
        if w.get("source"):
            raise BackendError(f"{w['name']}: paris-elsa serves zoo models (latency tables are measured by name)")
    t0 = time.perf_counter()
    layout, _pool, energy = serving.resources()
    session = ParisSession(layout, energy)
    serving.paris = session  # torn down by Serving.close: graphs, then partitions (docs/design.md §8)
    # every partition once, before any capture (creating one costs ~1.8 ms: never on the request path)
    parts = session.use_partitions(partitions)
    gpus = sorted({p.gpu for p in parts})
    for p, spec in zip(parts, partitions):
        if p.partition.sms != int(spec["sms"]):
            raise BackendError(f"partition {spec['id']}: slices {spec['slices']} hold {p.partition.sms} SMs on GPU "
                               f"{p.gpu}, the server planned {spec['sms']}")
    progress(f"{len(parts)} partitions on {len(gpus)} GPU(s): "
             + ", ".join(f"{i} {p.partition.sms} SMs (GPU {p.gpu})" for i, p in zip(ids, parts)))
    graphs = 0
    loaded = []
    executes: dict[tuple[str, str], dict] = {}  # (model name, partition id) -> batch -> execute
    for w in msg["workers"]:
        name, model, dtype = w["name"], w["model"], w["dtype"]
        batches = captured_batches(w)
        shapes = None
        for gpu in gpus:
            on = [(pid, p) for pid, p in zip(ids, parts) if p.gpu == gpu]
            base = session.built(model, 1, dtype, gpu)  # the model's copy on this GPU (weights shared by its graphs)
            for b in batches:
                with torch.cuda.device(gpu):
                    # a static input of its own per partition: requests on different partitions run at once
                    mine = [at_batch(base, b) for _ in on]
                    # cuBLAS/cuDNN set up per-stream state on first use; inside a capture that breaks it
                    # (docs/design.md §8)
                    warm_up(mine[0], [p.partition.torch_stream for _, p in on], iters=1)
                    for (pid, p), built in zip(on, mine):
                        stream = p.partition.torch_stream
                        g, out = session.capture_graph(built, stream, p.pool)
                        if not isinstance(out, torch.Tensor):
                            raise BackendError(f"{name}: the model's output is {type(out).__name__}, not one tensor")
                        with torch.cuda.stream(stream):
                            g.replay()  # the first replay uploads the graph: not on the request path
                        stream.synchronize()
                        # kept with the partition (ParisSession.close drops graphs before their partition); the
                        # graph holds raw pointers to the model's weights and this input: they live with it
                        p.graphs[("serve", name, b)] = (g, out, built)
                        replay = SimpleNamespace(origin=stream, request=g.replay, output=out)
                        executes.setdefault((name, pid), {})[b] = gpu_execute(
                            torch, f"{worker_key(name, pid)} b{b}", built.inputs[0], replay)
                        graphs += 1
                        if b == batches[-1]:
                            shapes = (list(built.inputs[0].shape), kserve_datatype(built.inputs[0].dtype),
                                      list(out.shape), kserve_datatype(out.dtype))
                # the eager warm-up's activations are cached per partition stream: hand them back after every class
                # (as paris.py does), so many partitions × large batches never crowd out the libraries' memory
                torch.cuda.synchronize(gpu)
                torch.cuda.empty_cache()
        in_shape, in_dtype, out_shape, out_dtype = shapes
        loaded.append({"name": name, "inputShape": in_shape, "inputDtype": in_dtype, "outputShape": out_shape,
                       "outputDtype": out_dtype, "fingerprint": "", "mode": "paris", "kernels": 0, "switches": 0,
                       "batches": batches})
        progress(f"{name}: captured at batches {batches} on {len(parts)} partitions")
    locks = {pid: threading.Lock() for pid in ids}
    for (name, pid), by_batch in executes.items():
        info = {"name": worker_key(name, pid), "partition": pid, "batches": sorted(by_batch)}
        serving.add_worker(ServedWorker(worker_key(name, pid), partitioned_execute(by_batch, locks[pid]), info))
    # power and energy of the whole server: every GPU it has partitions on
    energies = [e for e in (session.energy_of(g) for g in range(max(gpus) + 1)) if e is not None]
    if energies:
        serving.energies = energies
    free = ", ".join(f"GPU {g} {torch.cuda.mem_get_info(g)[0] / 2**30:.1f} GiB free" for g in gpus)
    progress(f"loaded {len(loaded)} models: {graphs} graphs on {len(parts)} partitions in "
             f"{time.perf_counter() - t0:.1f} s ({free})")
    return {"type": "loaded", "workers": loaded}
