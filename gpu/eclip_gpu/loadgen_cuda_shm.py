"""serve-bench's `--transport cuda-shm` client: Triton's CUDA shared-memory extension as a client uses it.

Run by src/serve-bench/clients/cuda-shm.ts as `python -m eclip_gpu.loadgen_cuda_shm` (standard library and cuda-bindings
only: no torch, no tritonclient). Each closed-loop client (one thread, one keep-alive HTTP connection) owns one device
buffer holding its request's inputs and room for its outputs, registered once by its cudaIpcMemHandle_t
(POST /v2/cudasharedmemory/region/{name}/register). Its infer requests are small JSON bodies whose inputs and
requested outputs name the region; after each answer the outputs are copied back to the host, as a real client
would read them. Regions are unregistered and buffers freed at the end and on failure.

Spoken to in JSON lines. stdin: the spec first ({url, deviceId, concurrency (slots), tag, models: [{name, plan?,
inputs: [{name, datatype, shape, b64}], outputs: [{name, datatype, shape, bytes}]}]}), then {"type": "go", "t0Ns":
CLOCK_MONOTONIC ns of the calls' time 0}, then {"type": "stop"}; end of input stops and cleans up. stdout:
{"type": "ready", "regions": [per model: [{region, inputAt, outputAt, byteSize}, ...]]} once every region is
registered, {"type": "calls", "calls": [per model: [[startMs, endMs, status,
ok, simulated, queueUs, computeUs, error, scheduledMs], ...]]} after stop, {"type": "error", "message"} on failure
(exit 1).
A model's `plan` says when its requests go out, as src/serve-bench/clients/load.ts's SendPlan: absent or
{"kind": "closed", "periodsMs"?}: each slot sends again as soon as it is answered (inside the periods when given);
{"kind": "open", "atMs": [...]}: one request at each time, a free slot taking the next time in order (one that passed
while every slot was busy is sent at once, late; scheduledMs records its time).
With "sender": "node" in the spec the process only holds the regions: it registers them, says where each tensor
lies in "ready", and sends no request (the TS side's Node clients do, as perf_analyzer's do: outputs left on the
device) until the end of its input, when it unregisters and frees them.
`--check` prints the first GPU's name, or why there is none (exit 2).
"""

from __future__ import annotations

import base64
import ctypes
import http.client
import json
import sys
import threading
import time
import urllib.parse

REGION_ALIGN = 64  # as src/serve-bench/clients/shm.ts lays regions out
IPC_HANDLE_BYTES = 64


def _align(n: int) -> int:
    return -(-n // REGION_ALIGN) * REGION_ALIGN


def region_layout(input_bytes: list[int], output_bytes: list[int]) -> tuple[list[int], list[int], int]:
    """Offsets of inputs then outputs in one region, each aligned; and the region's size."""
    at = 0
    ins, outs = [], []
    for n in input_bytes:
        ins.append(at)
        at = _align(at + n)
    for n in output_bytes:
        outs.append(at)
        at = _align(at + n)
    return ins, outs, max(at, REGION_ALIGN)


def _shm(region: str, offset: int, nbytes: int) -> dict:
    return {"shared_memory_region": region, "shared_memory_byte_size": nbytes, "shared_memory_offset": offset}


def infer_body(region: str, model: dict, input_at: list[int], output_at: list[int], input_bytes: list[int]) -> bytes:
    """The JSON infer request of one client: every input and requested output in its region."""
    return json.dumps({
        "inputs": [
            {"name": t["name"], "datatype": t["datatype"], "shape": t["shape"], "parameters": _shm(region, o, n)}
            for t, o, n in zip(model["inputs"], input_at, input_bytes, strict=True)
        ],
        "outputs": [
            {"name": o["name"], "parameters": _shm(region, at, o["bytes"])}
            for o, at in zip(model["outputs"], output_at, strict=True)
        ],
    }).encode()


def check_answer(status: int, body: bytes, region: str, outputs: list[dict], output_at: list[int]):
    """(ok, simulated, queue_us, compute_us, error) of an answer: a 200 must name every output asked for with its
    datatype and shape, in the region and at the offset asked for where it names one, unless the server says it
    simulated."""
    try:
        head = json.loads(body)
    except ValueError:
        return False, False, None, None, f"HTTP {status}: {body[:200].decode('utf8', 'replace')}"
    if status != 200:
        return False, False, None, None, f"HTTP {status}: {head.get('error', 'no reason given')}"
    p = head.get("parameters") or {}
    simulated = p.get("simulated") is True
    if not simulated:
        got_all = {o.get("name"): o for o in head.get("outputs") or []}
        for o, at in zip(outputs, output_at, strict=True):
            got = got_all.get(o["name"])
            if got is None:
                return False, False, None, None, f'output "{o["name"]}" missing'
            if got.get("datatype") != o["datatype"] or got.get("shape") != o["shape"]:
                return False, False, None, None, (
                    f'output "{o["name"]}" is {got.get("datatype")} {got.get("shape")}, '
                    f'expected {o["datatype"]} {o["shape"]}')
            gp = got.get("parameters") or {}
            # eclip serve names the region it wrote, Triton none: only another place named is wrong
            elsewhere = (gp.get("shared_memory_region") != region or gp.get("shared_memory_byte_size") != o["bytes"]
                         or gp.get("shared_memory_offset", 0) != at)
            if "shared_memory_region" in gp and elsewhere:
                return False, False, None, None, f'output "{o["name"]}": answered in another region or place ({gp})'

    def num(v):
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    return True, simulated, num(p.get("queue_us")), num(p.get("compute_us")), None


class CudaDevice:
    """Device buffers through the CUDA runtime (cuda-bindings): malloc, copies, IPC handles."""

    def __init__(self, device_id: int):
        from cuda.bindings import runtime as cudart  # noqa: PLC0415

        self.rt = cudart
        self.device_id = device_id
        self._ok(cudart.cudaSetDevice(device_id), "cudaSetDevice")

    def _ok(self, result, what):
        err = result[0]
        if int(err) != 0:
            raise RuntimeError(f"{what} failed: {self.rt.cudaGetErrorName(err)[1].decode()}")
        return result[1] if len(result) > 1 else None

    def bind_thread(self):
        self._ok(self.rt.cudaSetDevice(self.device_id), "cudaSetDevice")

    def alloc(self, nbytes: int) -> int:
        return int(self._ok(self.rt.cudaMalloc(nbytes), "cudaMalloc"))

    def free(self, ptr: int):
        self._ok(self.rt.cudaFree(ptr), "cudaFree")

    def to_device(self, ptr: int, data: bytes):
        src = ctypes.create_string_buffer(data, len(data))
        self._ok(self.rt.cudaMemcpy(ptr, ctypes.addressof(src), len(data),
                                    self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice), "cudaMemcpy (to the device)")

    def to_host(self, host, ptr: int, nbytes: int):
        self._ok(self.rt.cudaMemcpy(ctypes.addressof(host), ptr, nbytes,
                                    self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost), "cudaMemcpy (to the host)")

    def ipc_handle(self, ptr: int) -> bytes:
        handle = self._ok(self.rt.cudaIpcGetMemHandle(ptr), "cudaIpcGetMemHandle")
        return ctypes.string_at(handle.getPtr(), IPC_HANDLE_BYTES)


def device_check() -> tuple[bool, str]:
    """Whether this process can make device buffers: (True, GPU name) or (False, why not)."""
    try:
        from cuda.bindings import runtime as cudart  # noqa: PLC0415
    except ImportError as e:
        return False, f"cuda-bindings is not installed ({e})"
    err, n = cudart.cudaGetDeviceCount()
    if int(err) != 0:
        return False, f"no CUDA device ({cudart.cudaGetErrorName(err)[1].decode()})"
    if n == 0:
        return False, "no CUDA device"
    err, prop = cudart.cudaGetDeviceProperties(0)
    name = prop.name.decode() if int(err) == 0 else "a CUDA device"
    return True, name.rstrip("\0")


class Slot:
    """One closed-loop client: its region (device buffer), its connection, its calls."""

    def __init__(self, dev, conn_factory, model: dict, region: str):
        self.dev, self.model, self.region = dev, model, region
        datas = [base64.b64decode(t["b64"]) for t in model["inputs"]]
        self.input_bytes = [len(d) for d in datas]
        self.input_at, self.output_at, self.nbytes = region_layout(self.input_bytes,
                                                                   [o["bytes"] for o in model["outputs"]])
        self.ptr = dev.alloc(self.nbytes)
        for d, at in zip(datas, self.input_at, strict=True):
            dev.to_device(self.ptr + at, d)
        self.body = infer_body(region, model, self.input_at, self.output_at, self.input_bytes)
        self.path = f"/v2/models/{urllib.parse.quote(model['name'], safe='')}/infer"
        self.outputs = [ctypes.create_string_buffer(o["bytes"]) for o in model["outputs"]]
        self.conn = conn_factory()
        self.calls: list[list] = []

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """One request on the slot's keep-alive connection; (0, why) when no answer came (the connection is remade)."""
        try:
            self.conn.request("POST", path, body, {"content-type": "application/json"})
            r = self.conn.getresponse()
            return r.status, r.read()
        except (OSError, http.client.HTTPException) as e:
            self.conn.close()
            return 0, str(e).encode()

    def loop(self, at, stop: threading.Event, plan: "SendPlan"):
        self.dev.bind_thread()
        while not stop.is_set():
            scheduled = plan.next(at, stop)
            if scheduled is False:
                return
            start = at()
            status, body = self.post(self.path, self.body)
            if status == 0:
                ok, sim, q, c, err = False, False, None, None, body.decode("utf8", "replace")
            else:
                ok, sim, q, c, err = check_answer(status, body, self.region, self.model["outputs"], self.output_at)
            if ok:  # the outputs, where a client reads them
                for buf, o, off in zip(self.outputs, self.model["outputs"], self.output_at, strict=True):
                    self.dev.to_host(buf, self.ptr + off, o["bytes"])
            self.calls.append([start, at(), status, ok, sim, q, c, err, scheduled])


class SendPlan:
    """When one model's requests go out, shared by its slots' threads: `next` waits for a slot's next send and returns
    its scheduled time (None in a closed loop), or False when the slot is done."""

    def __init__(self, plan: dict | None):
        self.kind = (plan or {}).get("kind", "closed")
        self.times = list((plan or {}).get("atMs" if self.kind == "open" else "periodsMs") or [])
        self.closed_always = self.kind == "closed" and not (plan or {}).get("periodsMs")
        self.i = 0
        self.lock = threading.Lock()

    def next(self, at, stop: threading.Event):
        if self.closed_always:
            return None
        if self.kind == "open":
            with self.lock:
                if self.i >= len(self.times):
                    return False
                t = self.times[self.i]
                self.i += 1
            if stop.wait(max(0.0, (t - at()) / 1000)):
                return False
            return t
        # closed inside periods [start, end): wait for the one in force or next
        p = 0
        while p < len(self.times) and at() >= self.times[p + 1]:
            p += 2
        if p >= len(self.times) or stop.wait(max(0.0, (self.times[p] - at()) / 1000)):
            return False
        return None


def run(spec: dict, lines, send, dev_factory=CudaDevice) -> None:
    """Registers every slot's region, runs the loops between "go" and "stop", sends the calls; always cleans up."""
    url = urllib.parse.urlsplit(spec["url"])

    def conn():
        return http.client.HTTPConnection(url.hostname, url.port, timeout=60)

    control = conn()

    def post(path: str, obj) -> None:
        control.request("POST", path, json.dumps(obj).encode() if obj is not None else b"",
                        {"content-type": "application/json"})
        r = control.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"POST {path}: HTTP {r.status} {body[:300].decode('utf8', 'replace')}")

    dev = dev_factory(int(spec.get("deviceId", 0)))
    slots: list[list[Slot]] = []
    registered: list[str] = []
    try:
        for i, m in enumerate(spec["models"]):
            mine: list[Slot] = []
            slots.append(mine)
            for j in range(int(spec["concurrency"])):
                region = f"eclip-sb-{spec.get('tag', 'cuda')}-{i}-{j}"
                s = Slot(dev, conn, m, region)
                mine.append(s)
                post(f"/v2/cudasharedmemory/region/{urllib.parse.quote(region, safe='')}/register", {
                    "raw_handle": {"b64": base64.b64encode(dev.ipc_handle(s.ptr)).decode()},
                    "device_id": dev.device_id, "byte_size": s.nbytes})
                registered.append(region)
        send({"type": "ready", "regions": [[{"region": s.region, "inputAt": s.input_at, "outputAt": s.output_at,
                                                "byteSize": s.nbytes} for s in ss] for ss in slots]})
        if spec.get("sender") == "node":
            # the TS side sends the requests naming these regions: hold them until the end of input
            for _ in lines:
                pass
            return
        msg = next(lines, None)
        if msg is None or msg.get("type") != "go":
            return
        t0 = int(msg["t0Ns"])

        def at():
            return (time.monotonic_ns() - t0) / 1e6

        stop = threading.Event()
        plans = [SendPlan(m.get("plan")) for m in spec["models"]]
        threads = [threading.Thread(target=s.loop, args=(at, stop, plans[i]), daemon=True)
                   for i, ss in enumerate(slots) for s in ss]
        for t in threads:
            t.start()
        next(lines, None)  # "stop", or the end of input
        stop.set()
        for t in threads:
            t.join()
        send({"type": "calls", "calls": [[c for s in ss for c in s.calls] for ss in slots]})
    finally:
        for region in registered:
            try:
                post(f"/v2/cudasharedmemory/region/{urllib.parse.quote(region, safe='')}/unregister", None)
            except (OSError, RuntimeError, http.client.HTTPException):
                pass
        for ss in slots:
            for s in ss:
                s.conn.close()
                dev.free(s.ptr)
        control.close()


def main(argv: list[str]) -> int:
    if "--check" in argv:
        ok, what = device_check()
        print(what)
        return 0 if ok else 2
    out_lock = threading.Lock()

    def send(obj):
        with out_lock:
            try:
                sys.stdout.write(json.dumps(obj) + "\n")
                sys.stdout.flush()
            except BrokenPipeError:
                pass  # the TS side is gone: nobody to tell

    lines = (json.loads(line) for line in sys.stdin if line.strip())
    try:
        spec = next(lines, None)
        if spec is None:
            return 0
        ok, why = device_check()
        if not ok:
            raise RuntimeError(f"the cuda-shm client needs a CUDA GPU: {why}")
        run(spec, lines, send)
        return 0
    except Exception as e:  # noqa: BLE001 — every failure goes back to the TS side as one clear line
        send({"type": "error", "message": f"{type(e).__name__}: {e}"})
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
