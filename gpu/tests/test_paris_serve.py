"""paris-elsa serving without a GPU (no torch): which captured batch a request runs at, one replay at a time per
partition, Serving routing a request that names its partition to that partition's worker (the ring stays the
model's), power summed over the server's GPUs, and a load with partitions handed to paris_serve. The captures
themselves: gpu/tests_gpu/test_paris_serve.py."""

import os
import tempfile
import threading
import time

import pytest

from eclip_gpu.cuda import BackendError
from eclip_gpu.paris_serve import batch_for, captured_batches, partitioned_execute
from eclip_gpu.serving import worker_key
from eclip_gpu.serving import Serving, ServedWorker
from test_serving import _Replies


def test_a_model_is_captured_at_its_mix_and_its_batch_and_a_request_runs_at_the_smallest_that_holds_it():
    assert captured_batches({"name": "a", "batch": 32, "batches": [8, 1, 2, 8]}) == [1, 2, 8, 32]
    assert captured_batches({"name": "a", "batch": 4}) == [4]
    bs = [1, 2, 8, 32]
    assert [batch_for(bs, n) for n in (1, 2, 3, 8, 9, 32)] == [1, 2, 8, 8, 32, 32]
    with pytest.raises(BackendError, match="33 items, but the largest captured batch is 32"):
        batch_for(bs, 33)
    assert worker_key("albert", "g1p3") == "albert@g1p3"


def test_one_replay_at_a_time_per_partition_on_the_graph_of_the_right_batch():
    ran, active, most = [], [0], [0]
    guard = threading.Lock()

    def graph(b):
        def run(n, datatype, body):
            with guard:
                active[0] += 1
                most[0] = max(most[0], active[0])
            time.sleep(0.02)
            with guard:
                active[0] -= 1
            ran.append((b, n))
            return [n], datatype, body, 1.0

        return run

    lock = threading.Lock()
    a = partitioned_execute({1: graph(1), 8: graph(8)}, lock)
    b = partitioned_execute({4: graph(4)}, lock)  # another model on the same partition
    ts = [threading.Thread(target=f, args=(n, "UINT8", b"x")) for f, n in ((a, 1), (a, 5), (b, 3), (a, 8))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(ran) == [(1, 1), (4, 3), (8, 5), (8, 8)]
    assert most[0] == 1, "two graphs of one partition (one memory pool) ran at once"


def _echo(tag: bytes):
    def execute(n, datatype, body):
        return [n], datatype, tag + bytes(body), 7.0

    return execute


def test_serving_routes_a_request_that_names_a_partition_to_that_partitions_worker():
    replies = _Replies()
    s = Serving(replies, resources=lambda: None)
    for pid in ("g0p0", "g1p0"):
        s.add_worker(ServedWorker(worker_key("albert", pid), _echo(pid.encode()), {}))
    s.infer({"type": "infer", "name": "albert", "id": 1, "n": 1, "dtype": "UINT8", "partition": "g1p0"}, b"!")
    s.infer({"type": "infer", "name": "albert", "id": 2, "n": 1, "dtype": "UINT8", "partition": "g0p0"}, b"?")
    s.infer({"type": "infer", "name": "albert", "id": 3, "n": 1, "dtype": "UINT8", "partition": "g9p9"}, b"?")
    s.infer({"type": "infer", "name": "albert", "id": 4, "n": 1, "dtype": "UINT8"}, b"?")  # no partition named
    by_id = {h["id"]: (h, body) for h, body in replies.wait(4)}
    assert by_id[1][1] == b"g1p0!" and by_id[2][1] == b"g0p0?"
    assert by_id[3][0]["type"] == "error" and by_id[3][0]["message"] == "no loaded worker 'albert' on partition 'g9p9'"
    assert by_id[4][0]["message"] == "no loaded worker 'albert'"
    s.close()


def test_the_models_ring_carries_the_tensors_of_every_partition():
    replies = _Replies()
    s = Serving(replies, resources=lambda: None)
    s.add_worker(ServedWorker(worker_key("m", "g0p1"), _echo(b"<"), {}))
    fd, path = tempfile.mkstemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    os.ftruncate(fd, 256)
    os.close(fd)
    assert s.attach_rings({"m": {"path": path, "bytes": 256}}) == {"m": True}  # mapped, and the file unlinked
    assert not os.path.exists(path)
    ring = s.rings["m"]
    ring.view[0:3] = b"abc"
    s.infer({"type": "infer", "name": "m", "id": 5, "n": 1, "dtype": "UINT8", "partition": "g0p1",
             "shm": {"offset": 0, "bytes": 3, "outOffset": 64, "outBytes": 64}}, b"")
    (h, body), = replies.wait(1)
    assert h["type"] == "output" and h["shm"] == {"offset": 64, "bytes": 4} and body == b""
    assert bytes(ring.view[64:68]) == b"<abc"
    s.close()


class _Energy:
    def __init__(self, mj, w):
        self.mj, self.w = mj, w

    def read_mj(self):
        return self.mj

    def power_w(self):
        return self.w


def test_power_and_energy_are_summed_over_the_servers_gpus():
    s = Serving(_Replies(), resources=lambda: (None, None, _Energy(0, 99.0)))
    assert s.power()["powerW"] == 99.0  # one GPU: the process's own
    e0, e1 = _Energy(1000, 200.0), _Energy(5000, 300.0)
    s = Serving(_Replies(), resources=lambda: (None, None, _Energy(0, 99.0)))
    s.energies = [e0, e1]
    assert s.power() == {"type": "power", "powerW": 500.0, "energyJ": 0.0}
    e0.mj += 2000
    e1.mj += 500
    assert s.power()["energyJ"] == 2.5


def test_a_load_with_partitions_goes_to_paris_serve_and_close_tears_its_session_down():
    seen = []

    class _Session:
        closed = False

        def close(self):
            _Session.closed = True

    def fake_load(serving, msg, progress):
        seen.append(msg["partitions"])
        serving.paris = _Session()
        return {"type": "loaded", "workers": []}

    s = Serving(_Replies(), resources=lambda: None, load_partitions=fake_load)
    parts = [{"id": "g0p0", "gpu": 0, "slices": [0, 1], "sms": 16}]
    assert s.load({"type": "load", "plan": None, "workers": [], "partitions": parts}) == {"type": "loaded",
                                                                                            "workers": []}
    assert seen == [parts]
    s.close()
    assert _Session.closed and s.paris is None
