"""The native request path on the GPU (GPU test): alexnet + albert served by native/hotpath.c — inputs and outputs in
a system region, a CUDA region (another process's cudaMalloc) and the server's ring, under the default capture and
a graph-mode plan — answer with the same bytes as the Python path gives the same input in the frame, and close to
the eager model; many requests in flight on both workers are each answered once, correctly; a region unregistered
under a request closes once that request is answered. Replies are read from a real pipe, as the server reads them."""

import os
import threading
import time

import pytest

from eclip_gpu import frames
from eclip_gpu.frames import FrameReader
from eclip_gpu.serving import Serving, _own_resources
from test_regions import _cuda_client
from test_serving import BATCH, Replies, _bytes, _eager, _graph_plan, _input, _workers

MODELS = [("alexnet", "fp16"), ("albert", "fp16")]
RING = 1 << 22


class PipeReplies:
    """Every reply frame of one Serving, from its reply pipe (the native path's C threads and Python's sends alike),
    matched by id."""

    def __init__(self):
        self.r, self.w = os.pipe()
        self.hotpath = None
        self.frames, self.cond = {}, threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def __call__(self, header, body=b""):
        self.hotpath.write(frames.encode(header, body))

    def _read(self):
        reader = FrameReader(self.r)
        while True:
            try:
                header, body = reader.next()
            except (EOFError, OSError):
                return
            with self.cond:
                self.frames[header.get("id")] = (header, bytes(body))
                self.cond.notify_all()

    def wait(self, id_, timeout=60):
        with self.cond:
            assert self.cond.wait_for(lambda: id_ in self.frames, timeout), f"no reply to {id_}"
            return self.frames.pop(id_)


@pytest.fixture(scope="module")
def native(tmp_path_factory):
    probe = Serving(Replies())
    kernels = {w["name"]: w["kernels"] for w in probe.load({"plan": None, "workers": _workers()})["workers"]}
    probe.close()
    replies = PipeReplies()
    s = Serving(replies, native=True)
    assert s.start_hotpath(out_fd=replies.w, route_frames=False) == "native"
    replies.hotpath = s.hotpath
    rings = {}
    for m, _ in MODELS:
        path = tmp_path_factory.mktemp("ring") / m
        path.write_bytes(bytes(RING))
        rings[m] = {"path": str(path), "bytes": RING}
    assert s.attach_rings(rings) == {m: True for m, _ in MODELS}
    plan = _graph_plan(_own_resources()[0], kernels)
    loaded = s.load({"plan": None, "plans": [{"key": "graph", "plan": plan}], "workers": _workers()})
    yield s, {w["name"]: w for w in loaded["workers"]}, loaded
    s.close()


def _datatype(model):
    return "INT64" if model == "albert" else "FP16"


def _out_bytes(info, n):
    return n * 2 * int(__import__("math").prod(info["outputShape"][1:]))


def _python_path(s, model, body, rid, plan=None):
    """The same input in the frame's body: GpuExecute (Python) runs it, on the same worker and stream."""
    s.infer({"type": "infer", "name": model, "id": rid, "n": BATCH, "dtype": _datatype(model),
             **({"plan": plan} if plan else {})}, body)
    header, out = s.send.wait(rid)
    assert header["type"] == "output", header
    return out


def _region(s, name, nbytes, data=b""):
    path = f"/dev/shm/eclip-native-{os.getpid()}-{name}"
    with open(path, "wb") as f:
        f.write(data + bytes(nbytes - len(data)))
    assert "note" not in s.register_region({"name": name, "kind": "system", "path": path, "bytes": nbytes})
    return path


def test_every_worker_is_on_the_native_path(native):
    _, infos, loaded = native
    assert loaded["requestPath"] == "native"
    assert [infos[m]["requestPath"] for m, _ in MODELS] == ["native", "native"]


@pytest.mark.parametrize("plan", [None, "graph"])
@pytest.mark.parametrize(("model", "dtype"), MODELS)
def test_a_system_region_in_and_out(native, model, dtype, plan):
    import torch

    s, infos, _ = native
    x = _input(model, BATCH, seed=11)
    body = _bytes(x)
    room = _out_bytes(infos[model], BATCH)
    name = f"sys-{model}-{plan}"
    path = _region(s, name, len(body) + room, body)
    rng = {"range": [0, 29999]} if model == "albert" else {}
    rid = abs(hash(name)) % 1_000_000
    s.infer({"type": "infer", "name": model, "id": rid, "n": BATCH, "dtype": _datatype(model),
             "input": {"region": name, "offset": 0, "bytes": len(body), **rng},
             "output": {"region": name, "offset": len(body), "bytes": room}, **({"plan": plan} if plan else {})}, b"")
    header, frame = s.send.wait(rid)
    assert header["type"] == "output", header
    assert header["output"] == {"region": name, "offset": len(body), "bytes": room} and frame == b""
    with open(path, "rb") as f:
        got = f.read()[len(body):]
    assert got == _python_path(s, model, body, f"{name}-py", plan)
    out = torch.frombuffer(bytearray(got), dtype=torch.float16).reshape(header["shape"]).float()
    ref = _eager(model, dtype, x)
    assert ((out - ref).norm() / ref.norm()).item() < 1e-2
    assert s.unregister_region({"name": name})["closed"] is True
    os.unlink(path)


@pytest.mark.parametrize(("model", "dtype"), MODELS)
def test_the_ring_in_and_out_and_an_output_in_the_frame(native, model, dtype):
    s, infos, _ = native
    body = _bytes(_input(model, 1, seed=5))
    ring = s.rings[model]
    ring.view[0:len(body)] = body
    out = _out_bytes(infos[model], 1)
    s.infer({"type": "infer", "name": model, "id": 501, "n": 1, "dtype": _datatype(model),
             "shm": {"offset": 0, "bytes": len(body), "outOffset": 1 << 20, "outBytes": out}}, b"")
    s.infer({"type": "infer", "name": model, "id": 502, "n": 1, "dtype": _datatype(model),
             "shm": {"offset": 0, "bytes": len(body), "outOffset": 1 << 20, "outBytes": 1}}, b"")
    h1, _ = s.send.wait(501)
    h2, frame = s.send.wait(502)
    assert h1["shm"] == {"offset": 1 << 20, "bytes": out}, h1
    assert bytes(ring.view[1 << 20:(1 << 20) + out]) == frame and len(frame) == out, h2
    s.infer({"type": "infer", "name": model, "id": "py", "n": 1, "dtype": _datatype(model)}, body)
    _, py = s.send.wait("py")
    assert py == frame


def test_a_cuda_region_in_and_out(native, tmp_path):
    s, infos, _ = native
    body = _bytes(_input("alexnet", BATCH, seed=3))
    room = _out_bytes(infos["alexnet"], BATCH)
    off = (len(body) + 255) // 256 * 256
    client, handle = _cuda_client(tmp_path, body, off + room)
    try:
        s.register_region({"name": "cu", "kind": "cuda", "rawHandle": handle, "deviceId": 0, "bytes": off + room})
        s.infer({"type": "infer", "name": "alexnet", "id": 601, "n": BATCH, "dtype": "FP16",
                 "input": {"region": "cu", "offset": 0, "bytes": len(body)},
                 "output": {"region": "cu", "offset": off, "bytes": room}}, b"")
        header, _ = s.send.wait(601)
        assert header["output"] == {"region": "cu", "offset": off, "bytes": room}, header
        got = s.regions["cu"].device(off, room).cpu().numpy().tobytes()
        assert got == _python_path(s, "alexnet", body, "cu-py")
        assert s.unregister_region({"name": "cu"})["closed"] is True
    finally:
        client.communicate("exit\n", timeout=30)


def test_many_requests_in_flight_are_each_answered_once_with_their_own_output(native):
    s, infos, _ = native
    inputs = {m: [_bytes(_input(m, BATCH, seed=20 + k)) for k in range(4)] for m, _ in MODELS}
    refs = {m: [_python_path(s, m, b, f"ref-{m}-{k}") for k, b in enumerate(bs)] for m, bs in inputs.items()}
    span = max(len(b) for bs in inputs.values() for b in bs)
    room = max(_out_bytes(infos[m], BATCH) for m, _ in MODELS)
    count = 200
    path = _region(s, "many", count * (span + room))
    region = s.regions["many"]
    for i in range(count):
        m = MODELS[i % 2][0]
        b = inputs[m][i % 4]
        region.view[i * span:i * span + len(b)] = b
    t0 = time.perf_counter()
    for i in range(count):
        m = MODELS[i % 2][0]
        s.infer({"type": "infer", "name": m, "id": 10_000 + i, "n": BATCH, "dtype": _datatype(m),
                 "input": {"region": "many", "offset": i * span, "bytes": len(inputs[m][i % 4])},
                 "output": {"region": "many", "offset": count * span + i * room, "bytes": room}}, b"")
    for i in range(count):
        m = MODELS[i % 2][0]
        header, _ = s.send.wait(10_000 + i)
        assert header["type"] == "output", header
        got = bytes(region.view[count * span + i * room:count * span + i * room + _out_bytes(infos[m], BATCH)])
        assert got == refs[m][i % 4], f"request {i} ({m})"
    assert time.perf_counter() - t0 < 60
    assert s.unregister_region({"name": "many"})["closed"] is True
    os.unlink(path)


def test_a_region_unregistered_under_requests_closes_after_them(native):
    s, infos, _ = native
    body = _bytes(_input("albert", BATCH, seed=9))
    room = _out_bytes(infos["albert"], BATCH)
    path = _region(s, "late", len(body) + 8 * room, body)
    region = s.regions["late"]
    for i in range(8):
        s.infer({"type": "infer", "name": "albert", "id": 700 + i, "n": BATCH, "dtype": "INT64",
                 "input": {"region": "late", "offset": 0, "bytes": len(body)},
                 "output": {"region": "late", "offset": len(body) + i * room, "bytes": room}}, b"")
    closed_now = s.unregister_region({"name": "late"})["closed"]
    for i in range(8):
        assert s.send.wait(700 + i)[0]["type"] == "output"
    deadline = time.monotonic() + 10
    while not region.closed:
        assert time.monotonic() < deadline, "the region was not closed after its last request"
        time.sleep(0.01)
    assert closed_now in (True, False)
    os.unlink(path)
