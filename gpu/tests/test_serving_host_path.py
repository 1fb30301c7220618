"""The GPU execute's host path (serving.GpuExecute) and the pipelined worker without a GPU. A fake torch and a fake
driver stand in over real host memory (numpy arrays play device memory, so the driver's copies really move bytes),
and both record what they are asked to do. What matters on the host: the input is read in place (no copy of its
own) and copied to the GPU asynchronously, the output is copied asynchronously to where it goes (a client's region,
the server's ring, else a pinned slot buffer allocated once), the thread waits on a blocking-sync event only when it
finishes an execution, a worker keeps up to `depth` executions in flight and answers them in order, and a lent
output never leaks into a reply that outlives its slot. The numbers themselves: gpu/tests_gpu/test_serving.py."""

import ctypes
import mmap
import threading
import time

import numpy
import pytest

from eclip_gpu import cuda, serving
from eclip_gpu.serving import GpuExecute, Serving, ServedWorker, gpu_execute
from eclip_gpu.shm import Ring


class _Dtype:
    def __init__(self, name, size):
        self.name, self.size = name, size

    def __str__(self):
        return f"torch.{self.name}"


class FakeTorch:
    float16, float32, int64, uint8 = _Dtype("float16", 2), _Dtype("float32", 4), _Dtype("int64", 8), _Dtype("uint8", 1)

    def __init__(self):
        self.log = []
        self.handles = 0
        self.events = {}
        torch = self

        class Event:
            def __init__(self, enable_timing=False, blocking=False):
                self.timing, self.blocking = enable_timing, blocking
                torch.handles += 1
                self.cuda_event = torch.handles
                torch.events[self.cuda_event] = self

            def record(self, stream):
                torch.log.append(("record", self.cuda_event))

            def synchronize(self):
                torch.log.append(("synchronize", self.cuda_event, self.blocking, self.timing))

            def elapsed_time(self, other):
                return 1.5

        class Cuda:
            @staticmethod
            def set_stream(s):
                torch.log.append(("set_stream", s.name))

        Cuda.Event = Event
        self.cuda = Cuda
        self.Tensor = T

    def frombuffer(self, buf, dtype):
        self.log.append(("frombuffer", type(buf).__name__))
        return T(numpy.frombuffer(buf, dtype=numpy.uint8), dtype, self)

    def empty(self, shape, dtype, pin_memory=False):
        n = 1
        for d in shape:
            n *= d
        t = T(numpy.zeros(n * dtype.size, dtype=numpy.uint8), dtype, self, list(shape))
        t.pinned = pin_memory
        self.log.append(("empty", tuple(shape), pin_memory))
        return t


class T:
    """A tensor over a flat uint8 numpy array (its address is its data_ptr), with just what GpuExecute uses."""

    def __init__(self, mem, dtype, torch, shape=None):
        self.mem, self.dtype, self.torch = mem, dtype, torch
        self.shape = shape or [len(mem) // dtype.size]
        self.pinned = False

    def data_ptr(self):
        return self.mem.ctypes.data

    def element_size(self):
        return self.dtype.size

    def numel(self):
        return len(self.mem) // self.dtype.size

    def reshape(self, *shape):
        t = T(self.mem, self.dtype, self.torch, list(shape) if shape != (-1,) else None)
        t.pinned = self.pinned
        return t

    def _item_bytes(self):
        n = self.dtype.size
        for d in self.shape[1:]:
            n *= d
        return n

    def __getitem__(self, s):
        b = self._item_bytes()
        start, stop = s.start or 0, self.shape[0] if s.stop is None else s.stop
        t = T(self.mem[start * b: stop * b], self.dtype, self.torch, [stop - start, *self.shape[1:]])
        t.pinned = self.pinned
        return t

    def copy_(self, src, non_blocking=False):
        self.torch.log.append(("copy_", "pinned" if self.pinned or src.pinned else "", non_blocking))
        self.mem[:] = src.mem[: len(self.mem)]  # (no dtype conversion: the tests copy like to like)
        return self

    def zero_(self):
        self.mem[:] = 0

    def view(self, dtype):
        t = T(self.mem, dtype, self.torch, [*self.shape[:-1], self.shape[-1] * self.dtype.size // dtype.size])
        t.pinned = self.pinned
        return t

    def numpy(self):
        return self.mem


class FakeDriver:
    """The driver calls GpuExecute makes, done at once on host memory (numpy arrays are the 'device'): the
    enqueueing ones (fastcu's, GIL held) and the wait (cuda-bindings')."""

    def __init__(self, log):
        self.log = log

    def htod(self, dst, src, n, stream):
        self.log.append(("HtoD", n))
        ctypes.memmove(dst, src, n)

    def dtod(self, dst, src, n, stream):
        self.log.append(("DtoD", n))
        ctypes.memmove(dst, src, n)

    def dtoh(self, dst, src, n, stream):
        self.log.append(("DtoH", n))
        ctypes.memmove(dst, src, n)

    def memset8(self, dst, value, n, stream):
        self.log.append(("memset", n))
        ctypes.memset(dst, value, n)

    def record(self, event, stream):
        self.log.append(("record", event))

    def launch(self, graph_exec, stream):
        self.log.append(("launch", graph_exec))

    def elapsed_ms(self, start, end):
        return 1.5

    def cuEventSynchronize(self, event):
        self.log.append(("synchronize", event, "driver"))
        return (0,)


class _Stream:
    name, cuda_stream = "stream", 7

    def synchronize(self):
        pass


@pytest.fixture
def gpu(monkeypatch):
    """(fake torch, its log, make(depth, fast) -> (GpuExecute, static, execd)): batch 2, items of 4 FP16; the
    'graph' adds 1 to every byte of the static input into the output."""
    torch = FakeTorch()
    monkeypatch.setattr(serving, "pinned_empty", lambda torch, shape, dtype: torch.empty(shape, dtype, pin_memory=True))
    fake = FakeDriver(torch.log)
    monkeypatch.setattr(cuda, "driver", lambda: fake)
    monkeypatch.setattr(serving, "driver", lambda: fake)  # imported by name at the top of serving.py
    monkeypatch.setattr(serving, "fastcu", lambda: fake)

    def make(depth=2, fast=True, batch=2, item=4, plans=()):
        static = T(numpy.zeros(batch * item * 2, dtype=numpy.uint8), torch.float16, torch, [batch, item])

        def capture(add):  # a "graph" whose output is its input + `add`, byte by byte
            output = T(numpy.zeros(batch * item * 2, dtype=numpy.uint8), torch.float16, torch, [batch, item])
            execd = type("Execd", (), {})()
            execd.origin, execd.output = _Stream(), output

            def request():
                torch.log.append(("replay", add))
                output.mem[:] = ((static.mem.astype(numpy.uint16) + add) % 256).astype(numpy.uint8)

            execd.request = request
            return execd

        execd = capture(1)
        variants = {key: capture(add) for key, add in plans}
        return GpuExecute(torch, "m", static, execd, depth=depth, fast=fast, variants=variants), static, execd

    return torch, make


def test_fast_path_reads_the_input_in_place_and_copies_asynchronously(gpu):
    torch, make = gpu
    ex, static, _ = make()
    assert torch.log.count(("empty", (2, 4), True)) == 2  # a pinned output buffer per slot, once, at load
    torch.log.clear()
    ring = mmap.mmap(-1, 4096)
    ring[64:72] = bytes(range(1, 9))
    span = memoryview(ring)[64:72]
    shape, dtype, data, us = ex.execute(1, "FP16", span)
    assert (shape, dtype, us) == ([1, 4], "FP16", 1500.0)
    assert bytes(data) == bytes(range(2, 10))
    kinds = [e[0] for e in torch.log]
    # no torch copy of the input: the driver copies from the ring's own bytes, pads the batch, launches between two
    # timing events, copies the output into the slot's pinned buffer, records completion; one wait, at the end
    assert "frombuffer" not in kinds and "copy_" not in kinds
    assert kinds == ["HtoD", "memset", "record", "replay", "record", "DtoH", "record", "synchronize"]
    assert ("replay", 1) in torch.log  # the default capture
    assert ("HtoD", 8) in torch.log and ("memset", 8) in torch.log and ("DtoH", 8) in torch.log
    done = torch.events[torch.log[-1][1]]
    assert done.blocking and not done.timing  # a blocking-sync event (the thread sleeps), not a timing one
    assert bytes(static.mem[8:]) == bytes(8)  # the rest of the batch zeroed
    span.release()
    ring.close()


def test_two_executions_in_flight_keep_their_own_outputs(gpu):
    torch, make = gpu
    ex, _, _ = make(depth=2)
    a = ex.start(2, "FP16", bytes(range(16)))
    b = ex.start(2, "FP16", bytes(range(100, 116)))
    assert a is not b
    assert bytes(ex.finish(a)[2]) == bytes(range(1, 17))
    assert bytes(ex.finish(b)[2]) == bytes(range(101, 117))


def test_outputs_go_straight_to_a_host_or_device_destination(gpu):
    torch, make = gpu
    ex, static, _ = make()
    region = memoryview(bytearray(64))  # a client's mapping
    torch.log.clear()
    shape, datatype, data, us = ex.execute(2, "FP16", memoryview(bytearray(range(16))), dst=region[8:40])
    assert (shape, datatype, data) == ([2, 4], "FP16", None)
    assert bytes(region[8:24]) == bytes(range(1, 17)) and bytes(region[24:40]) == bytes(16)
    assert [e for e in torch.log if e[0] in ("DtoH", "DtoD")] == [("DtoH", 16)]
    device = T(numpy.arange(16, dtype=numpy.uint8), torch.uint8, torch)  # a CUDA region's bytes
    out = T(numpy.zeros(16, dtype=numpy.uint8), torch.uint8, torch)
    shape, _, data, _ = ex.execute(2, "FP16", None, src=device, dst=out)
    assert data is None and shape == [2, 4] and bytes(out.mem) == bytes(range(1, 17))
    assert bytes(static.mem) == bytes(range(16))  # copied device-to-device into the graph's input
    with pytest.raises(serving.BackendError, match="the output is 16 bytes, its region span 8"):
        ex.execute(2, "FP16", memoryview(bytearray(range(16))), dst=region[0:8])


def test_another_datatype_goes_through_torch_which_converts(gpu):
    torch, make = gpu
    ex, _, _ = make()
    torch.log.clear()
    # FP32 bytes for an FP16 model (the fake copies bytes as they are; the real torch converts on the GPU)
    ex.execute(1, "FP32", memoryview(bytearray(range(16))))
    kinds = [e[0] for e in torch.log]
    assert "HtoD" not in kinds and ("copy_", "", True) in torch.log


def test_without_the_fast_path_every_copy_is_torchs(gpu):
    torch, make = gpu
    ex, _, _ = make(depth=1, fast=False)
    torch.log.clear()
    _, _, data, _ = ex.execute(2, "FP16", bytes(range(16)))
    assert bytes(data) == bytes(range(1, 17))
    kinds = [e[0] for e in torch.log]
    assert not {"HtoD", "DtoH", "memset"} & set(kinds)
    assert ("copy_", "pinned", True) in torch.log  # the output into the pinned slot buffer, asynchronously


def _serving(torch, pipe, **extra):
    replies, cond = {}, threading.Condition()

    def send(header, body=b""):
        with cond:
            replies[header["id"]] = (header, bytes(body))
            cond.notify_all()

    s = Serving(send, resources=lambda: (None, None, None), pin=lambda mm: (lambda: None), **extra)
    s.add_worker(ServedWorker("m", pipe.execute, {}, direct=True, pipeline=pipe))
    return s, replies, cond


def test_a_pipelined_worker_answers_in_order_with_outputs_of_their_own(gpu):
    torch, make = gpu
    ex, _, _ = make(depth=2)
    s, replies, cond = _serving(torch, ex)
    try:
        for i in range(6):
            s.infer({"name": "m", "id": i, "n": 2, "dtype": "FP16"}, memoryview(bytearray(range(10 * i, 10 * i + 16))))
        with cond:
            assert cond.wait_for(lambda: len(replies) == 6, 5)
        for i in range(6):
            header, body = replies[i]
            assert header["type"] == "output" and header["shape"] == [2, 4]
            assert body == bytes((b + 1) % 256 for b in range(10 * i, 10 * i + 16))
        # never more than `depth` started before the oldest was finished
        inflight = peak = 0
        for e in torch.log:
            if e[0] == "replay":
                inflight += 1
                peak = max(peak, inflight)
            elif e[0] == "synchronize":
                inflight -= 1
        assert peak <= 2
    finally:
        s.close()


def test_a_job_queued_behind_the_pipeline_says_how_long_it_waited(gpu):
    torch, make = gpu
    ex, _, _ = make(depth=1)
    gate, finish = threading.Event(), ex.finish
    ex.finish = lambda slot: (gate.wait(5), finish(slot))[1]  # the first execution ends when the test says
    s, replies, cond = _serving(torch, ex)
    try:
        for i in range(2):
            s.infer({"name": "m", "id": i, "n": 2, "dtype": "FP16"}, memoryview(bytearray(range(16))))
        time.sleep(0.05)
        gate.set()
        with cond:
            assert cond.wait_for(lambda: len(replies) == 2, 5)
        assert "waitedUs" not in replies[0][0]  # started at once
        assert replies[1][0]["waitedUs"] >= 40_000  # queued until the first ended
    finally:
        s.close()


def test_a_pipelined_worker_writes_into_the_rings_output_room(gpu, tmp_path):
    torch, make = gpu
    ex, _, _ = make(depth=2)
    path = tmp_path / "ring"
    path.write_bytes(bytes(4096))
    s, replies, cond = _serving(torch, ex)
    try:
        assert s.attach_rings({"m": {"path": str(path), "bytes": 4096}}) == {"m": True}
        ring: Ring = s.rings["m"]
        ring.view[0:16] = bytes(range(16))
        s.infer({"name": "m", "id": 1, "n": 2, "dtype": "FP16",
                 "shm": {"offset": 0, "bytes": 16, "outOffset": 1024, "outBytes": 64}}, b"")
        # an output room too small: the output comes in the frame
        s.infer({"name": "m", "id": 2, "n": 2, "dtype": "FP16",
                 "shm": {"offset": 0, "bytes": 16, "outOffset": 2048, "outBytes": 8}}, b"")
        with cond:
            assert cond.wait_for(lambda: len(replies) == 2, 5)
        assert replies[1][0]["shm"] == {"offset": 1024, "bytes": 16} and replies[1][1] == b""
        assert bytes(ring.view[1024:1040]) == bytes(range(1, 17))
        assert "shm" not in replies[2][0] and replies[2][1] == bytes(range(1, 17))
    finally:
        s.close()


def test_a_failed_start_is_answered_and_the_worker_goes_on(gpu):
    torch, make = gpu
    ex, _, _ = make(depth=2)
    s, replies, cond = _serving(torch, ex)
    try:
        s.infer({"name": "m", "id": 1, "n": 3, "dtype": "FP16"}, memoryview(bytearray(24)))  # 3 > the batch
        s.infer({"name": "m", "id": 2, "n": 1, "dtype": "FP16"}, memoryview(bytearray(range(8))))
        with cond:
            assert cond.wait_for(lambda: len(replies) == 2, 5)
        assert replies[1][0]["type"] == "error" and "expected 1 … 2" in replies[1][0]["message"]
        assert replies[2][0]["type"] == "output" and replies[2][1] == bytes(range(1, 9))
    finally:
        s.close()


def test_the_synchronous_execute_of_paris_workers_is_one_slot_of_torch_copies(gpu, monkeypatch):
    torch, make = gpu
    _, static, execd = make()
    execute = gpu_execute(torch, "m", static, execd)
    torch.log.clear()
    _, _, data, _ = execute(2, "FP16", bytes(range(16)))
    assert bytes(data) == bytes(range(1, 17))
    assert not {"HtoD", "DtoH"} & {e[0] for e in torch.log}


def test_closing_answers_the_jobs_still_waiting_for_a_slot(gpu, monkeypatch):
    torch, make = gpu
    ex, _, _ = make(depth=1)
    gate = threading.Event()
    plain = FakeDriver.cuEventSynchronize

    def held(self, event):  # the GPU "runs" until the gate opens
        gate.wait(5)
        return plain(self, event)

    monkeypatch.setattr(FakeDriver, "cuEventSynchronize", held)
    s, replies, cond = _serving(torch, ex)
    for i in range(3):
        s.infer({"name": "m", "id": i, "n": 1, "dtype": "FP16"}, memoryview(bytearray(range(8))))
    closer = threading.Thread(target=s.close)
    closer.start()
    gate.set()
    closer.join(10)
    assert sorted(replies) == [0, 1, 2]  # every accepted job answered: finished, or told the backend is closing
    for header, _ in replies.values():
        assert header["type"] == "output" or "the backend is closing" in header["message"], header


def test_each_execution_runs_the_capture_of_the_plan_it_names(gpu):
    torch, make = gpu
    ex, _, _ = make(plans=[("a+b", 2), ("a", 3)])
    body = bytes(range(16))
    assert bytes(ex.execute(2, "FP16", body)[2]) == bytes(range(1, 17))
    assert bytes(ex.execute(2, "FP16", body, plan="a+b")[2]) == bytes(range(2, 18))
    # in flight together under different plans: each keeps its own output
    x, y = ex.start(2, "FP16", body, plan="a"), ex.start(2, "FP16", body)
    assert bytes(ex.finish(x)[2]) == bytes(range(3, 19)) and bytes(ex.finish(y)[2]) == bytes(range(1, 17))
    with pytest.raises(serving.BackendError, match=r"no capture under plan 'b' \(captured: \['a', 'a\+b'\]\)"):
        ex.start(2, "FP16", body, plan="b")


def test_serving_routes_an_infer_to_the_plan_it_names(gpu):
    torch, make = gpu
    ex, _, _ = make(plans=[("solo", 5)])
    s, replies, cond = _serving(torch, ex)
    try:
        s.infer({"name": "m", "id": 1, "n": 1, "dtype": "FP16", "plan": "solo"}, memoryview(bytearray(range(8))))
        s.infer({"name": "m", "id": 2, "n": 1, "dtype": "FP16", "plan": "nope"}, memoryview(bytearray(range(8))))
        s.infer({"name": "m", "id": 3, "n": 1, "dtype": "FP16"}, memoryview(bytearray(range(8))))
        with cond:
            assert cond.wait_for(lambda: len(replies) == 3, 5)
        assert replies[1][1] == bytes(range(5, 13)) and replies[3][1] == bytes(range(1, 9))
        assert replies[2][0]["type"] == "error" and "no capture under plan 'nope'" in replies[2][0]["message"]
    finally:
        s.close()
