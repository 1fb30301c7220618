"""Serving's logic that needs no GPU (no torch import): byte/shape checks, how a plan's worker is captured, the
per-worker threads and id-matched replies, and the new protocol frames. The captures themselves: gpu/tests_gpu."""

import os
import threading
import time

import pytest

from eclip_gpu import frames
from eclip_gpu.cuda import BackendError
from eclip_gpu.frames import encode, read_frame
from eclip_gpu.serving import DATATYPE_BYTES, Serving, ServedWorker, check_input, kserve_datatype, worker_mode


def test_input_bytes_must_be_n_items_of_the_captured_shape():
    assert check_input("vgg19", 2, 4, [3, 224, 224], "FP16", 2 * 3 * 224 * 224 * 2) == 3 * 224 * 224 * 2
    # an FP32 input for an FP16 model: twice the bytes, converted on the GPU
    assert check_input("vgg19", 1, 4, [3, 224, 224], "FP32", 3 * 224 * 224 * 4) == 3 * 224 * 224 * 4
    assert check_input("albert", 4, 4, [128], "INT64", 4 * 128 * 8) == 1024


@pytest.mark.parametrize(
    ("n", "dtype", "nbytes", "message"),
    [
        (0, "INT64", 0, r"0 items, expected 1 … 4"),
        (5, "INT64", 5 * 1024, r"5 items, expected 1 … 4"),
        ("2", "INT64", 2048, r"'2' items"),
        (2, "INT64", 2047, r"input body is 2047 bytes; 2 × \[128\] INT64 is 2048 bytes"),
        (2, "FP16", 2048, r"input body is 2048 bytes; 2 × \[128\] FP16 is 512 bytes"),
        (2, "COMPLEX", 2048, r"unknown datatype 'COMPLEX'"),
    ],
)
def test_input_mismatches_are_refused_by_name(n, dtype, nbytes, message):
    with pytest.raises(BackendError, match=message):
        check_input("albert", n, 4, [128], dtype, nbytes)


def test_datatype_sizes_match_kserve():
    assert DATATYPE_BYTES == {"BOOL": 1, "UINT8": 1, "INT8": 1, "INT16": 2, "INT32": 4, "INT64": 8, "FP16": 2,
                              "BF16": 2, "FP32": 4, "FP64": 8}


class _FakeDtype:
    def __init__(self, name):
        self.name = name

    def __str__(self):
        return f"torch.{self.name}"


def test_kserve_datatype_of_torch_dtypes():
    assert [kserve_datatype(_FakeDtype(n)) for n in ("float16", "bfloat16", "float32", "int64", "bool")] == [
        "FP16", "BF16", "FP32", "INT64", "BOOL"]
    with pytest.raises(BackendError, match="complex64"):
        kserve_datatype(_FakeDtype("complex64"))


def test_capture_mode_of_a_plan_worker():
    groups = [{"first": 0, "last": 9, "partition": 1}, {"first": 10, "last": 20, "partition": 0}]
    assert worker_mode(None, None) == ("whole", None)  # no plan: the whole GPU
    assert worker_mode("baseline", groups[:1]) == ("whole", None)  # an ordinary full-GPU stream
    assert worker_mode("model-wise", groups[:1]) == ("whole", groups[:1])  # the graph on its partition
    assert worker_mode("eclip", groups[:1]) == ("whole", groups[:1])
    assert worker_mode("eclip", groups) == ("graph", groups)
    assert worker_mode("kw-prealloc", groups) == ("graph", groups)


class _Replies:
    def __init__(self):
        self.frames = []
        self.cond = threading.Condition()

    def __call__(self, header, body=b""):
        with self.cond:
            self.frames.append((header, bytes(body)))  # a copy: the sender may reuse its buffer
            self.cond.notify_all()

    def wait(self, n, timeout=5.0):
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.frames) >= n, timeout), self.frames
            return list(self.frames)


def _echo(delay_s=0.0, fail_on=None):
    def execute(n, datatype, body):
        if fail_on is not None and body[:1] == fail_on:
            raise RuntimeError(fail_on.decode())
        time.sleep(delay_s)
        return [n, len(body) // n], "UINT8", body[::-1], 12.5

    return execute


def test_requests_of_different_workers_run_concurrently_and_replies_carry_their_ids():
    replies = _Replies()
    s = Serving(replies, resources=lambda: None)
    s.add_worker(ServedWorker("slow", _echo(0.3), {}))
    s.add_worker(ServedWorker("fast", _echo(0.0), {}))
    t0 = time.perf_counter()
    s.infer({"type": "infer", "name": "slow", "id": 1, "n": 1, "dtype": "UINT8"}, b"ab")
    s.infer({"type": "infer", "name": "fast", "id": 2, "n": 2, "dtype": "UINT8"}, b"cdef")
    s.infer({"type": "infer", "name": "slow", "id": 3, "n": 1, "dtype": "UINT8"}, b"gh")
    frames = replies.wait(3)
    # the fast worker answers first although it was asked second; a worker's own requests stay in order
    assert [h["id"] for h, _ in frames] == [2, 1, 3]
    assert time.perf_counter() - t0 >= 0.6
    assert frames[0] == ({"type": "output", "id": 2, "shape": [2, 2], "datatype": "UINT8", "computeUs": 12.5},
                         b"fedc")
    s.close()


def test_a_failed_execution_is_an_error_reply_with_its_id_and_the_worker_goes_on():
    replies = _Replies()
    fatal = []
    s = Serving(replies, resources=lambda: None, exit_fatal=fatal.append)
    s.add_worker(ServedWorker("w", _echo(fail_on=b"x"), {}))
    s.infer({"type": "infer", "name": "w", "id": 7, "n": 1, "dtype": "UINT8"}, b"x")
    s.infer({"type": "infer", "name": "w", "id": 8, "n": 1, "dtype": "UINT8"}, b"y")
    s.infer({"type": "infer", "name": "nope", "id": 9, "n": 1, "dtype": "UINT8"}, b"y")
    frames = replies.wait(3)
    by_id = {h["id"]: h for h, _ in frames}
    assert by_id[7]["type"] == "error" and by_id[7]["fatal"] is False and "w: RuntimeError: x" in by_id[7]["message"]
    assert by_id[8]["type"] == "output"
    assert by_id[9] == {"type": "error", "id": 9, "message": "no loaded worker 'nope'", "fatal": False}
    assert fatal == []
    s.close()


def test_a_poisoning_cuda_error_is_reported_then_ends_the_process():
    replies = _Replies()
    fatal = []

    def boom(n, datatype, body):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    s = Serving(replies, resources=lambda: None, exit_fatal=fatal.append)
    s.add_worker(ServedWorker("w", boom, {}))
    s.infer({"type": "infer", "name": "w", "id": 1, "n": 1, "dtype": "UINT8"}, b"x")
    (h, _), = replies.wait(1)
    deadline = time.time() + 5
    while not fatal and time.time() < deadline:
        time.sleep(0.01)
    assert h["fatal"] is True and h["id"] == 1
    assert fatal and "illegal memory access" in fatal[0]


def test_a_worker_is_loaded_once():
    s = Serving(_Replies(), resources=lambda: None)
    s.add_worker(ServedWorker("w", _echo(), {}))
    with pytest.raises(BackendError, match="loaded twice"):
        s.add_worker(ServedWorker("w", _echo(), {}))
    s.close()


def test_serve_messages_round_trip_with_raw_tensor_bodies():
    r, w = os.pipe()
    tokens = bytes(range(256)) * 4
    os.write(w, encode({"type": "load", "plan": None,
                        "workers": [{"name": "albert", "model": "albert", "batch": 4, "dtype": "fp16"}]}))
    os.write(w, encode({"type": "infer", "name": "albert", "id": 3, "n": 1, "dtype": "INT64"}, tokens))
    os.write(w, encode({"type": "output", "id": 3, "shape": [1, 128, 768], "datatype": "FP16", "computeUs": 1.5},
                       b"\x00\x3c" * 4))
    os.write(w, encode({"type": "power", "id": 4}))
    os.close(w)
    h, body = read_frame(r)
    assert h["type"] == "load" and h["plan"] is None and h["workers"][0]["batch"] == 4 and body == b""
    h, body = read_frame(r)
    assert h == {"type": "infer", "name": "albert", "id": 3, "n": 1, "dtype": "INT64"} and body == tokens
    h, body = read_frame(r)
    assert h["computeUs"] == 1.5 and body == b"\x00\x3c" * 4
    assert read_frame(r) == ({"type": "power", "id": 4}, b"")


def test_concurrent_sends_never_interleave_frames():
    # frames larger than a pipe's buffer are written in several os.write calls: without the lock, two worker
    # threads' replies would interleave and the TS side would read garbage
    r, w = os.pipe()
    n_threads, per_thread, size = 4, 5, 200_000
    got = []

    def reader():
        for _ in range(n_threads * per_thread):
            got.append(read_frame(r))

    rt = threading.Thread(target=reader)
    rt.start()

    def writer(t):
        for i in range(per_thread):
            frames.send({"type": "output", "id": t * 100 + i}, bytes([t]) * size, fd=w)

    ws = [threading.Thread(target=writer, args=(t,)) for t in range(n_threads)]
    for t in ws:
        t.start()
    for t in ws:
        t.join()
    rt.join(timeout=10)
    os.close(w)
    os.close(r)
    assert len(got) == n_threads * per_thread
    for h, body in got:
        t = h["id"] // 100
        assert body == bytes([t]) * size
