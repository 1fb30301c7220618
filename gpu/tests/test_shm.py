"""Shared-memory rings on the Python side (eclip_gpu.shm) and Serving's use of them, without a GPU: mapping and
unlinking the server's files, a refused ring, inputs read in place, outputs put in the room the request names (or in
the frame when they do not fit), and requests whose offsets lie outside the ring."""

import os
import tempfile

import pytest

from eclip_gpu.serving import Serving, ServedWorker
from eclip_gpu.shm import Ring, attach
from test_serving import _Replies


def _ring_file(nbytes):
    fd, path = tempfile.mkstemp(prefix="eclip-ring-test-")
    os.ftruncate(fd, nbytes)
    os.close(fd)
    return path


def test_attach_maps_every_ring_and_unlinks_its_file():
    a, b = _ring_file(4096), _ring_file(8192)
    rings, status = attach({"a": {"path": a, "bytes": 4096}, "b": {"path": b, "bytes": 8192}})
    assert status == {"a": True, "b": True}
    assert not os.path.exists(a) and not os.path.exists(b)
    assert rings["a"].nbytes == 4096 and rings["b"].nbytes == 8192
    for r in rings.values():
        r.close()


def test_a_ring_that_cannot_be_mapped_is_refused_with_its_reason():
    small = _ring_file(100)
    rings, status = attach({"gone": {"path": "/nonexistent/eclip-ring", "bytes": 4096},
                            "small": {"path": small, "bytes": 4096}, "bad": {"path": small, "bytes": -1}})
    assert rings == {}
    assert status["gone"].startswith("FileNotFoundError")
    assert "is 100 bytes, the ring 4096" in status["small"]
    assert "ring size -1" in status["bad"]
    assert not os.path.exists(small)


def test_a_ring_sees_what_the_other_side_writes_in_the_file_and_the_other_side_sees_its_writes():
    path = _ring_file(1 << 16)
    fd = os.open(path, os.O_RDWR)  # the server's descriptor, as Node holds it
    ring = Ring(path, 1 << 16)
    os.pwrite(fd, b"tensor bytes", 1000)
    assert bytes(ring.input({"offset": 1000, "bytes": 12})) == b"tensor bytes"
    assert ring.put_output({"outOffset": 2048, "outBytes": 64}, b"\x01\x02\x03") == {"offset": 2048, "bytes": 3}
    assert os.pread(fd, 3, 2048) == b"\x01\x02\x03"
    assert ring.put_output({"outOffset": 2048, "outBytes": 2}, b"\x01\x02\x03") is None  # does not fit
    with pytest.raises(ValueError, match="outside the ring"):
        ring.input({"offset": (1 << 16) - 4, "bytes": 8})
    with pytest.raises(ValueError, match="outside the ring"):
        ring.put_output({"outOffset": -64, "outBytes": 64}, b"x")
    os.close(fd)
    os.unlink(path)
    ring.close()


def _reverse(n, datatype, body):
    return [n, len(body) // n], "UINT8", bytes(body)[::-1], 3.0


def test_serving_reads_inputs_from_the_ring_and_puts_outputs_in_the_requests_room():
    replies = _Replies()
    s = Serving(replies, resources=lambda: None)
    path = _ring_file(1 << 16)
    fd = os.open(path, os.O_RDWR)
    assert s.attach_rings({"w": {"path": path, "bytes": 1 << 16}}) == {"w": True}
    s.add_worker(ServedWorker("w", _reverse, {}))
    os.pwrite(fd, b"abcdef", 128)
    s.infer({"type": "infer", "name": "w", "id": 1, "n": 2, "dtype": "UINT8",
             "shm": {"offset": 128, "bytes": 6, "outOffset": 192, "outBytes": 64}}, b"")
    # an output larger than its room comes in the frame
    os.pwrite(fd, b"xyz", 256)
    s.infer({"type": "infer", "name": "w", "id": 2, "n": 1, "dtype": "UINT8",
             "shm": {"offset": 256, "bytes": 3, "outOffset": 320, "outBytes": 2}}, b"")
    frames = replies.wait(2)
    h1, body1 = frames[0]
    assert h1 == {"type": "output", "id": 1, "shape": [2, 3], "datatype": "UINT8", "computeUs": 3.0,
                  "shm": {"offset": 192, "bytes": 6}} and body1 == b""
    assert os.pread(fd, 6, 192) == b"fedcba"
    h2, body2 = frames[1]
    assert "shm" not in h2 and body2 == b"zyx"
    s.close()
    os.close(fd)


def test_serving_answers_a_bad_shared_memory_request_with_an_error_and_goes_on():
    replies = _Replies()
    s = Serving(replies, resources=lambda: None)
    path = _ring_file(4096)
    s.attach_rings({"w": {"path": path, "bytes": 4096}})
    s.add_worker(ServedWorker("w", _reverse, {}))
    s.add_worker(ServedWorker("plain", _reverse, {}))
    s.infer({"type": "infer", "name": "w", "id": 1, "n": 1, "dtype": "UINT8",
             "shm": {"offset": 4000, "bytes": 200, "outOffset": 0, "outBytes": 64}}, b"")
    s.infer({"type": "infer", "name": "plain", "id": 2, "n": 1, "dtype": "UINT8",
             "shm": {"offset": 0, "bytes": 1, "outOffset": 64, "outBytes": 64}}, b"")
    s.infer({"type": "infer", "name": "plain", "id": 3, "n": 1, "dtype": "UINT8"}, b"ok")
    frames = {h["id"]: (h, b) for h, b in replies.wait(3)}
    assert frames[1][0]["type"] == "error" and "input [4000, +200) is outside the ring" in frames[1][0]["message"]
    assert frames[2][0]["type"] == "error" and "the worker has no ring" in frames[2][0]["message"]
    assert frames[3] == ({"type": "output", "id": 3, "shape": [1, 2], "datatype": "UINT8", "computeUs": 3.0}, b"ko")
    s.close()
