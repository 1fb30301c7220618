"""The Python side of the TypeScript <-> GPU backend boundary (the TS side is src/execute/gpu/protocol.ts): the
backend's request loop. Frames: frames.py.
Messages (header "type"):
  TS -> Py   hello {}                                   -> ready {gpu, versions}
  bench      run {key, plan, mode, warmupS, windowS, checkOutputs, arrivals?: [per plan worker {kind: open,
                  arrivalsUs} | {kind: closed, periodsUs}] (arrivals.py; absent: the closed loop)}
                                                        -> progress {key, message}*, then result {key, ...} or error
                                                           (with arrivals, each worker's arrivalUs)
  serve      load {plan|null, workers: [{name, model, batch, dtype, source?, inputShape?}],
                   rings?: {name: {path, bytes}}}        -> progress {key: "load", message}*, then
                                                           loaded {workers: [{name, inputShape, inputDtype,
                                                           outputShape, outputDtype, fingerprint, mode, kernels,
                                                           switches}], rings?: {name: true | why not},
                                                           pipelineDepth: executions per worker it overlaps}
                                                           or error
             (load may carry plans: [{key, plan}], the plan per set of active models: each worker is also captured
             under every keyed plan that lists it, reported in its `plans` with its `memoryBytes`; an infer naming
             `plan: key` runs that capture, none the default one)
             infer {name, id, n, dtype} + body: the input's first n items, raw little-endian `dtype` (KServe name)
                                                        -> output {id, shape, datatype, computeUs} + body: the
                                                           output's first n items, or error {id, ...}
             infer {name, id, n, dtype, shm: {offset, bytes, outOffset, outBytes}}, no body: the input lies in the
                   worker's ring (shm.py)                -> output {id, shape, datatype, computeUs,
                                                           shm: {offset, bytes}}: the output in the ring's room
                                                           (or in the body if it did not fit), or error {id, ...}
             shm-register {id, name, kind: system|cuda, bytes; system: key, path, offset; cuda: rawHandle (base64),
                   deviceId}: a client's shared-memory region (regions.py), opened once; `name` is the server's id
                   for this registration          -> shm-registered {id, name, note?} or error {id, ...}
             shm-unregister {id, name}          -> shm-unregistered {id, name, closed}: closed now, or (closed
                                                   false) once the requests holding it are done
             infer {..., input?: {region, offset, bytes, range?}, output?: {region, offset, bytes}}: the input read
                   from a registered region (no body), the output written into one
                                                        -> output {id, shape, datatype, computeUs,
                                                           output?: {region, offset, bytes}} (no body when the
                                                           output went to a region), or error {id, ...}
             (policy paris-elsa, paris_serve.py: load carries partitions: [{id, gpu, slices, sms}] and each worker
             its batches; every worker is captured on every partition at each batch, and each infer names its
             partition: {..., partition}; the loaded workers add batches)
             power {id}                                 -> power {id, powerW, energyJ} (NVML; J since the first call;
                                                           summed over the GPUs of a paris-elsa load)
  paris      paris-table {key, model, batches, dtype, cellMs}
                                                        -> progress*, then latency-table {key, table, wallS} (one
                                                           model's eclip.latency-table/1, measured: paris.py)
             paris-run {key, partitions: [{id, slices, sms}], models: [{model, batches, sloUs}], dtype,
                        estUs[partition][model][batchIdx], dispatch, sloMargin, dropAfterSlo, firstMeasured,
                        trace: {arrivalUs, model, batchIdx}}
                                                        -> progress*, then paris-result {key, releaseUs, startUs,
                                                           endUs, partition, assigned, dropped, energyJ,
                                                           energyFromUs, energyToUs, captures, captureS, graphs,
                                                           wallS, clocks, notes} (per query, µs from the trace's
                                                           origin) or error
             paris-gpus {key, count}                    -> paris-gpus {key, deviceCount, gpus: [eclip.gpu/1 of GPUs
                                                           0..min(count, deviceCount)-1, each read off its device]}
             (a paris-run partition may carry gpu: the CUDA ordinal it is built on, default 0; the reply then adds
             gpus: the server's GPUs, and energyPerGpuJ)
             (eclip-kw: paris-run adds serves [model index per partition] and kernelWise {pool: [{id, slices, sms}],
             plans[model][batchIdx]: {groups, fingerprint}}; its partitions are then dedicated workers, each a
             kernel-wise graph per batch over the pool, built on every GPU the workers are on: paris.py)
             shutdown {}                                -> (exit 0)
  Py -> TS   error {message, fatal, id?, key?, trace?}: fatal means the CUDA context is poisoned; the process exits 3
             right after.
Replies to hello/run/load/paris-* come in request order, one request at a time. infer replies come
whenever their worker's thread finishes (workers run concurrently), matched by id; power is answered by the reading
loop at once.
"""

from __future__ import annotations

import os
import sys
import traceback

from . import paris_serve
from .cuda import is_fatal
from .frames import read_frame, send
from .paris import ParisSession
from .runner import Runner
from .serving import Serving


def serve() -> None:
    """The backend loop: hello/run/load one at a time, in order; infer handed to the worker's thread (serving.py).
    Dies loudly (exit 3) on a poisoned CUDA context."""
    runner = None

    def get_runner():
        nonlocal runner
        if runner is None:
            runner = Runner()  # imports torch and initialises CUDA: only once a request needs the GPU
        return runner

    def resources():
        r = get_runner()
        return r.layout, r.pool, r.energy

    serving = Serving(send, resources, load_partitions=paris_serve.load)
    paris = None

    def get_paris():
        nonlocal paris
        if paris is None:
            r = get_runner()
            paris = ParisSession(r.layout, r.energy)
        return paris
    while True:
        try:
            msg, body = read_frame()
        except EOFError:
            serving.close()
            return
        kind = msg.get("type")
        try:
            if kind == "infer":  # the hot path first
                serving.infer(msg, body)
            elif kind == "shm-register":
                send({**serving.register_region(msg), "id": msg.get("id")})
            elif kind == "shm-unregister":
                send({**serving.unregister_region(msg), "id": msg.get("id")})
            elif kind == "power":
                send({**serving.power(), "id": msg.get("id")})
            elif kind == "load":
                get_runner()
                rings = serving.attach_rings(msg.get("rings")) if msg.get("rings") else None
                reply = serving.load(msg, progress=lambda m: send({"type": "progress", "key": "load", "message": m}))
                send({**reply, "rings": rings} if rings is not None else reply)
            elif kind == "hello":
                r = get_runner()
                send({"type": "ready", "gpu": r.gpu, "versions": r.versions})
            elif kind == "run":
                runner = get_runner()
                key = msg.get("key", "")
                result = runner.run(msg, progress=lambda m, k=key: send({"type": "progress", "key": k, "message": m}))
                send({"type": "result", "key": key, **result})
            elif kind in ("paris-table", "paris-run", "paris-gpus"):
                key = msg.get("key", "")
                say = lambda m, k=key: send({"type": "progress", "key": k, "message": m})  # noqa: E731
                if kind == "paris-table":
                    send({"type": "latency-table", "key": key, **get_paris().table(msg, say)})
                elif kind == "paris-gpus":
                    send({"type": "paris-gpus", "key": key, **get_paris().gpus(msg)})
                else:
                    send({"type": "paris-result", "key": key, **get_paris().run(msg, say)})
            elif kind == "shutdown":
                serving.close()
                if paris:
                    paris.close()
                if runner:
                    runner.close()
                return
            else:
                send({"type": "error", "message": f"unknown message type {kind!r}", "fatal": False})
        except Exception as e:  # noqa: BLE001 - every failure is reported to the TS side
            text = f"{type(e).__name__}: {e}"
            fatal = is_fatal(text)
            err = {"type": "error", "key": msg.get("key"), "message": text, "fatal": fatal,
                   "trace": traceback.format_exc(limit=6)}
            if "id" in msg:  # infer/power: the TS side matches the error to its request
                err["id"] = msg["id"]
            send(err)
            if fatal:
                sys.stderr.write(f"eclip_gpu: fatal CUDA error, exiting so the process can be restarted: {text}\n")
                sys.stderr.flush()
                os._exit(3)


def main() -> None:
    serve()


if __name__ == "__main__":
    main()
