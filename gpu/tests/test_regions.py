"""Clients' shared-memory regions on the backend side (eclip_gpu.regions) and Serving's use of them, without a GPU:
a system region mapped at any offset and seen in place, page-locking (faked) undone at close and its failure only
noted, requests that read their input from a region and write their output into one, the faults (unknown region,
a span outside the region, a name twice, a token id out of range), a region unregistered while a request holds it
(closed only when that request is done), a client gone with its region registered, and CUDA regions with a fake
opener (the real IPC handle is opened in gpu/tests_gpu/test_regions.py)."""

import os
import struct
import tempfile
import threading

import pytest

from eclip_gpu.cuda import BackendError
from eclip_gpu.regions import CudaRegion, SystemRegion, open_region
from eclip_gpu.serving import Serving, ServedWorker, check_range
from test_serving import _Replies


def _shm_file(nbytes, data=b""):
    fd, path = tempfile.mkstemp(prefix="eclip-region-test-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    os.ftruncate(fd, nbytes)
    os.pwrite(fd, data, 0)
    os.close(fd)
    return path


def _reverse(n, datatype, body):
    return [n, len(body) // n], "UINT8", bytes(body)[::-1], 3.0


def _no_pin(mm):
    raise OSError("not here")


def _serving(**kw):
    replies = _Replies()
    return Serving(replies, resources=lambda: None, pin=kw.pop("pin", _no_pin), **kw), replies


def test_a_system_region_maps_its_span_at_any_offset_and_sees_the_clients_writes():
    path = _shm_file(3 * 4096)
    pinned = []
    r = SystemRegion("r", path, 5000, 100, pin=lambda mm: (pinned.append(len(mm)), lambda: pinned.append("undone"))[1])
    assert pinned == [5000 - 4096 + 100] and r.pin_note is None  # only the registered span's pages
    fd = os.open(path, os.O_RDWR)
    os.pwrite(fd, b"client bytes", 5010)
    assert bytes(r.host(10, 12)) == b"client bytes"
    r.host(50, 3)[:] = b"out"
    assert os.pread(fd, 3, 5050) == b"out"
    with pytest.raises(BackendError, match=r"tensor \[90, \+20\) is outside region 'r' \(100 bytes\)"):
        r.host(90, 20)
    assert r.unregister() is True and pinned[-1] == "undone"
    os.close(fd)
    os.unlink(path)


def test_a_region_past_the_file_or_a_missing_file_is_refused_and_pinning_failure_is_only_noted():
    path = _shm_file(1000)
    with pytest.raises(BackendError, match=r"is 1000 bytes; offset 900 \+ 200 bytes runs past its end"):
        SystemRegion("r", path, 900, 200)
    with pytest.raises(FileNotFoundError):
        open_region({"name": "x", "kind": "system", "path": "/dev/shm/eclip-no-such", "offset": 0, "bytes": 8})
    r = SystemRegion("r", path, 0, 1000, pin=_no_pin)
    assert r.pin_note.startswith("not page-locked (OSError: not here)")
    r.unregister()
    os.unlink(path)


def test_serving_reads_the_input_from_a_region_and_writes_the_output_into_one():
    s, replies = _serving()
    path = _shm_file(8192, b"abcdef")
    assert s.register_region({"name": "1:io", "kind": "system", "path": path, "offset": 0, "bytes": 8192}) == {
        "type": "shm-registered", "name": "1:io", "note": "not page-locked (OSError: not here); copies go through "
                                                         "pageable memory"}
    s.add_worker(ServedWorker("w", _reverse, {}))
    s.infer({"type": "infer", "name": "w", "id": 1, "n": 2, "dtype": "UINT8",
             "input": {"region": "1:io", "offset": 0, "bytes": 6}, "output": {"region": "1:io", "offset": 4096,
                                                                                "bytes": 64}}, b"")
    # input in the region, output in the frame; input in the frame, output in the region
    s.infer({"type": "infer", "name": "w", "id": 2, "n": 1, "dtype": "UINT8",
             "input": {"region": "1:io", "offset": 1, "bytes": 2}}, b"")
    s.infer({"type": "infer", "name": "w", "id": 3, "n": 1, "dtype": "UINT8",
             "output": {"region": "1:io", "offset": 100, "bytes": 3}}, b"xyz")
    frames = {h["id"]: (h, b) for h, b in replies.wait(3)}
    assert frames[1] == ({"type": "output", "id": 1, "shape": [2, 3], "datatype": "UINT8", "computeUs": 3.0,
                          "output": {"region": "1:io", "offset": 4096, "bytes": 6}}, b"")
    assert frames[2] == ({"type": "output", "id": 2, "shape": [1, 2], "datatype": "UINT8", "computeUs": 3.0}, b"cb")
    assert frames[3][0]["output"] == {"region": "1:io", "offset": 100, "bytes": 3} and frames[3][1] == b""
    with open(path, "rb") as f:
        data = f.read()
    assert data[4096:4102] == b"fedcba" and data[100:103] == b"zyx"
    assert s.regions["1:io"].users == 0
    s.close()
    os.unlink(path)


def test_bad_region_references_are_error_replies_and_the_worker_goes_on():
    s, replies = _serving()
    path = _shm_file(4096)
    s.register_region({"name": "r", "kind": "system", "path": path, "offset": 0, "bytes": 100})
    with pytest.raises(BackendError, match="region 'r' is registered already"):
        s.register_region({"name": "r", "kind": "system", "path": path, "offset": 0, "bytes": 100})
    s.add_worker(ServedWorker("w", _reverse, {}))
    s.infer({"type": "infer", "name": "w", "id": 1, "n": 1, "dtype": "UINT8",
             "input": {"region": "nope", "offset": 0, "bytes": 1}}, b"")
    s.infer({"type": "infer", "name": "w", "id": 2, "n": 1, "dtype": "UINT8",
             "input": {"region": "r", "offset": 90, "bytes": 20}}, b"")
    s.infer({"type": "infer", "name": "w", "id": 3, "n": 1, "dtype": "UINT8",
             "input": {"region": "r", "offset": 0, "bytes": 4}, "output": {"region": "r", "offset": 0, "bytes": 2}},
            b"")  # the output (4 bytes) does not fit its 2-byte span
    s.infer({"type": "infer", "name": "w", "id": 4, "n": 1, "dtype": "UINT8"}, b"ok")
    frames = {h["id"]: h for h, _ in replies.wait(4)}
    assert frames[1]["type"] == "error" and "w: input: no region 'nope'" in frames[1]["message"]
    assert frames[2]["type"] == "error" and "input [90, +20) is outside region 'r'" in frames[2]["message"]
    assert frames[3]["type"] == "error" and "the output is 4 bytes, its region span 2" in frames[3]["message"]
    assert not frames[3]["fatal"]
    assert frames[4]["type"] == "output"
    assert s.regions["r"].users == 0  # every failed request let go of it
    s.close()
    os.unlink(path)


def test_token_ids_in_a_region_are_checked_against_the_range_the_server_names():
    body = struct.pack("<4q", 1, 2, 29999, 3)
    check_range("albert", body, "INT64", [0, 29999])
    with pytest.raises(BackendError, match=r"albert: input element 2: 30000 is outside \[0, 29999\]"):
        check_range("albert", struct.pack("<4q", 1, 2, 30000, 3), "INT64", [0, 29999])
    s, replies = _serving()
    path = _shm_file(4096, struct.pack("<2q", 5, -1))
    s.register_region({"name": "ids", "kind": "system", "path": path, "offset": 0, "bytes": 16})
    s.add_worker(ServedWorker("albert", _reverse, {}))
    s.infer({"type": "infer", "name": "albert", "id": 1, "n": 1, "dtype": "INT64",
             "input": {"region": "ids", "offset": 0, "bytes": 16, "range": [0, 29999]}}, b"")
    (h, _), = replies.wait(1)
    assert h["type"] == "error" and not h["fatal"] and "input element 1: -1 is outside [0, 29999]" in h["message"]
    s.close()
    os.unlink(path)


def test_unregistering_a_region_a_request_holds_closes_it_only_when_that_request_is_done():
    s, replies = _serving()
    path = _shm_file(4096, b"held")
    s.register_region({"name": "r", "kind": "system", "path": path, "offset": 0, "bytes": 4096})
    region = s.regions["r"]
    started, go = threading.Event(), threading.Event()

    def slow(n, datatype, body):
        started.set()
        go.wait(5)
        return [n, len(body)], "UINT8", bytes(body), 1.0  # reads the region after the unregister

    s.add_worker(ServedWorker("w", slow, {}))
    s.infer({"type": "infer", "name": "w", "id": 1, "n": 1, "dtype": "UINT8",
             "input": {"region": "r", "offset": 0, "bytes": 4}}, b"")
    # queued behind it, also holding the region
    s.infer({"type": "infer", "name": "w", "id": 2, "n": 1, "dtype": "UINT8",
             "input": {"region": "r", "offset": 0, "bytes": 4}}, b"")
    assert started.wait(5)
    assert s.unregister_region({"name": "r"}) == {"type": "shm-unregistered", "name": "r", "closed": False}
    assert "r" not in s.regions and not region.closed and region.users == 2
    s.infer({"type": "infer", "name": "w", "id": 3, "n": 1, "dtype": "UINT8",
             "input": {"region": "r", "offset": 0, "bytes": 4}}, b"")
    go.set()
    frames = {h["id"]: (h, b) for h, b in replies.wait(3)}
    assert frames[1][1] == b"held" and frames[2][1] == b"held"  # nothing accepted was lost
    assert frames[3][0]["type"] == "error" and "no region 'r'" in frames[3][0]["message"]
    assert region.closed and region.users == 0
    with pytest.raises(BackendError, match="no region 'r'"):
        s.unregister_region({"name": "r"})
    s.close()
    os.unlink(path)


def test_a_client_gone_with_its_region_registered_changes_nothing_for_the_backend():
    s, replies = _serving()
    path = _shm_file(4096, b"still here")
    s.register_region({"name": "r", "kind": "system", "path": path, "offset": 0, "bytes": 4096})
    os.unlink(path)  # the client's exit removed the object; the mapping keeps its memory
    s.add_worker(ServedWorker("w", _reverse, {}))
    s.infer({"type": "infer", "name": "w", "id": 1, "n": 1, "dtype": "UINT8",
             "input": {"region": "r", "offset": 0, "bytes": 10}}, b"")
    (h, body), = replies.wait(1)
    assert body == b"ereh llits"
    assert s.unregister_region({"name": "r"})["closed"] is True
    s.close()


class _FakeDevice:
    """A stand-in for a uint8 device tensor: slices and numel, over a bytearray."""

    def __init__(self, buf, lo=0, hi=None):
        self.buf, self.lo, self.hi = buf, lo, len(buf) if hi is None else hi

    def __getitem__(self, sl):
        return _FakeDevice(self.buf, self.lo + sl.start, self.lo + sl.stop)

    def __len__(self):
        return self.hi - self.lo

    def numel(self):
        return len(self)


def test_cuda_regions_open_once_go_to_a_direct_worker_and_close_when_unregistered():
    opened, closed = [], []
    device = bytearray(256)

    def opener(raw, device_id, nbytes):
        opened.append((len(raw), device_id, nbytes))
        return _FakeDevice(device), lambda: closed.append(True)

    s, replies = _serving(cuda_opener=opener)
    raw = bytes(range(64))
    import base64

    s.register_region({"name": "g", "kind": "cuda", "rawHandle": base64.b64encode(raw).decode(), "deviceId": 0,
                       "bytes": 256})
    assert opened == [(64, 0, 256)]
    with pytest.raises(BackendError, match="the IPC handle must be 64 bytes"):
        s.register_region({"name": "h", "kind": "cuda", "rawHandle": base64.b64encode(b"x").decode(), "deviceId": 0,
                           "bytes": 8})
    seen = {}

    def direct(n, datatype, body, src=None, dst=None, value_range=None):
        seen.update(src=(src.lo, src.hi), dst=(dst.lo, dst.hi), range=value_range)
        return [n, 4], "FP16", None, 2.0

    s.add_worker(ServedWorker("d", direct, {}, direct=True))
    s.add_worker(ServedWorker("host-only", _reverse, {}))
    s.infer({"type": "infer", "name": "d", "id": 1, "n": 1, "dtype": "FP16",
             "input": {"region": "g", "offset": 0, "bytes": 8, "range": [0, 9]},
             "output": {"region": "g", "offset": 128, "bytes": 8}}, b"")
    s.infer({"type": "infer", "name": "host-only", "id": 2, "n": 1, "dtype": "UINT8",
             "input": {"region": "g", "offset": 0, "bytes": 8}}, b"")
    frames = {h["id"]: h for h, _ in replies.wait(2)}
    assert seen == {"src": (0, 8), "dst": (128, 136), "range": [0, 9]}
    assert frames[1]["output"] == {"region": "g", "offset": 128, "bytes": 8}
    assert frames[2]["type"] == "error" and "cannot use CUDA shared memory" in frames[2]["message"]
    assert isinstance(s.regions["g"], CudaRegion)
    assert s.unregister_region({"name": "g"})["closed"] is True and closed == [True]
    s.close()


# ── the GPU execute's region paths, on the fake torch of test_serving_host_path (what it is asked to do) ────────


# The GPU execute's own copies into and out of regions (host or device): test_serving_host_path.py.
