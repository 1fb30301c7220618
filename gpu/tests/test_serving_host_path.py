"""The GPU execute's host path (serving._gpu_execute) without a GPU: a fake torch records what it is asked to do.
What matters on the host (README, "Host cost of the served path"): the input is read in place (no copy of its own)
and copied to the GPU asynchronously, the output comes back by an asynchronous copy into a pinned buffer allocated
once, the thread waits on a blocking-sync event (never spins in a synchronous copy), and a lent output never leaks
into a reply that outlives the next execution. The numbers themselves: gpu/tests_gpu/test_serving.py."""

import mmap
import threading

import pytest

from eclip_gpu import serving
from eclip_gpu.serving import Serving, ServedWorker, _gpu_execute


@pytest.fixture(autouse=True)
def _fake_pinned(monkeypatch):
    """cuda.pinned_empty registers host memory with the driver: here the fake torch's pinned empty stands in."""
    monkeypatch.setattr(serving, "pinned_empty", lambda torch, shape, dtype: torch.empty(shape, dtype, pin_memory=True))


class _Dtype:
    def __init__(self, name, size):
        self.name, self.size = name, size

    def __str__(self):
        return f"torch.{self.name}"


class FakeTorch:
    float16, float32, int64, uint8 = _Dtype("float16", 2), _Dtype("float32", 4), _Dtype("int64", 8), _Dtype("uint8", 1)

    def __init__(self):
        self.log = []
        torch = self

        class Event:
            def __init__(self, enable_timing=False, blocking=False):
                self.timing, self.blocking = enable_timing, blocking

            def record(self, stream):
                torch.log.append(("record", self))

            def synchronize(self):
                torch.log.append(("synchronize", self))

            def elapsed_time(self, other):
                return 1.5

        class Cuda:
            @staticmethod
            def set_stream(s):
                torch.log.append(("set_stream", s))

        Cuda.Event = Event
        self.cuda = Cuda

    def frombuffer(self, buf, dtype):
        self.log.append(("frombuffer", type(buf).__name__))
        return T(memoryview(buf).cast("B"), dtype, self)

    def empty(self, shape, dtype, pin_memory=False):
        n = 1
        for d in shape:
            n *= d
        t = T(memoryview(bytearray(n * dtype.size)), dtype, self, list(shape))
        t.pinned = pin_memory
        self.log.append(("empty", tuple(shape), pin_memory))
        return t


class T:
    """A flat tensor over bytes, with just what _gpu_execute uses."""

    def __init__(self, mem, dtype, torch, shape=None):
        self.mem, self.dtype, self.torch = mem, dtype, torch
        self.shape = shape or [len(mem) // dtype.size]
        self.pinned = False

    def data_ptr(self):
        return 0  # aligned

    def element_size(self):
        return self.dtype.size

    def reshape(self, *shape):
        return T(self.mem, self.dtype, self.torch, list(shape))

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
        self.mem[:] = bytes(src.mem)[: len(self.mem)]  # (no dtype conversion: the tests copy like to like)
        return self

    def zero_(self):
        self.mem[:] = bytes(len(self.mem))

    def view(self, dtype):
        t = T(self.mem, dtype, self.torch, [*self.shape[:-1], self.shape[-1] * self.dtype.size])
        t.pinned = self.pinned
        return t

    def numpy(self):
        return self.mem  # a buffer over the same bytes, as numpy's would be


def _worker(torch, batch=2, item=4):
    static = T(memoryview(bytearray(batch * item * 2)), torch.float16, torch, [batch, item])
    output = T(memoryview(bytearray(batch * item * 2)), torch.float16, torch, [batch, item])
    execd = type("Execd", (), {})()
    execd.origin, execd.output = "stream", output

    def request():  # the "graph": output = input + 1 per byte
        torch.log.append(("replay",))
        output.mem[:] = bytes((b + 1) % 256 for b in static.mem)

    execd.request = request
    return static, execd


def test_the_input_is_read_in_place_and_the_output_comes_back_through_a_pinned_buffer():
    torch = FakeTorch()
    static, execd = _worker(torch)
    execute = _gpu_execute(torch, "m", static, execd)
    assert ("empty", (2, 4), True) in torch.log  # the pinned output buffer: once, at load
    torch.log.clear()
    ring = mmap.mmap(-1, 4096)
    ring[64:72] = bytes(range(1, 9))
    shape, dtype, data, us = execute(1, "FP16", memoryview(ring)[64:72])
    assert (shape, dtype, us) == ([1, 4], "FP16", 1500.0)
    assert bytes(memoryview(data)) == bytes(range(2, 10))
    kinds = [e[0] for e in torch.log]
    # the ring's bytes themselves (a memoryview, no bytearray copy), copied to the GPU without blocking
    assert torch.log[0] == ("frombuffer", "memoryview")
    assert ("copy_", "", True) in torch.log and kinds.index("copy_") < kinds.index("replay")
    # after the replay: an async copy into pinned memory, then a blocking event waited on (the only wait)
    after = torch.log[kinds.index("replay"):]
    assert ("copy_", "pinned", True) in after
    syncs = [e for e in torch.log if e[0] == "synchronize"]
    assert len(syncs) == 1 and syncs[0][1].blocking and not syncs[0][1].timing
    assert kinds.index("synchronize") > max(i for i, e in enumerate(torch.log) if e[0] == "copy_")


def test_a_read_only_input_is_copied_once():
    torch = FakeTorch()
    static, execd = _worker(torch)
    execute = _gpu_execute(torch, "m", static, execd)
    torch.log.clear()
    _, _, data, _ = execute(2, "FP16", bytes(range(16)))
    assert torch.log[0] == ("frombuffer", "bytearray")
    assert bytes(memoryview(data)) == bytes(range(1, 17))


def test_a_lent_output_sent_through_the_pipe_is_the_replys_own():
    """The GPU execute's data is a view of its pinned buffer, rewritten by the next execution: a send that keeps the
    body (tests' fakes; protocol.send writes at once) still holds the first reply's bytes."""
    torch = FakeTorch()
    static, execd = _worker(torch)
    replies, cond = {}, threading.Condition()

    def send(header, body=b""):
        with cond:
            replies[header["id"]] = (header, body)
            cond.notify_all()

    s = Serving(send, resources=lambda: (None, None, None))
    s.add_worker(ServedWorker("m", _gpu_execute(torch, "m", static, execd), {}))
    try:
        s.infer({"name": "m", "id": 1, "n": 2, "dtype": "FP16"}, memoryview(bytearray(range(16))))
        s.infer({"name": "m", "id": 2, "n": 2, "dtype": "FP16"}, memoryview(bytearray(range(100, 116))))
        with cond:
            assert cond.wait_for(lambda: len(replies) == 2, 5)
        assert replies[1][0]["type"] == "output" and bytes(replies[1][1]) == bytes(range(1, 17))
        assert bytes(replies[2][1]) == bytes(range(101, 117))
    finally:
        s.close()
