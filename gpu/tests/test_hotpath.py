"""The native request path (hotpath.py, native/hotpath.c) on the CPU: the real C code, built with the machine's
compiler, against fake_cuda.c, a driver whose streams run their operations later on threads of their own, as a GPU
would. Requests go in as `infer` messages through Serving, replies come back as frames on a real pipe."""

import base64
import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from eclip_gpu import frames, hotpath
from eclip_gpu.frames import FrameReader
from eclip_gpu.serving import NativeWorker, ServedWorker, Serving

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.skipif(not (shutil.which("cc") or shutil.which("gcc") or os.environ.get("CC")),
                                reason="no C compiler: the native request path is not built here")

IN_ITEM, OUT_ITEM, BATCH = 64, 48, 4


@pytest.fixture(scope="module")
def libs(tmp_path_factory):
    """(hotpath library, fake driver library)."""
    root = tmp_path_factory.mktemp("native")
    lib = hotpath.build(cache=str(root))
    fake = root / "libfakecuda.so"
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    subprocess.run([cc, "-O1", "-shared", "-fPIC", "-pthread", "-o", str(fake), str(HERE / "fake_cuda.c")],
                   check=True)
    return lib, fake


class Device:
    """Fake device memory and graphs for one worker: out[i] = in[i % in_bytes] + 1 over the captured batch."""

    def __init__(self, fake, plans=1, delay_us=0):
        self.fake = fake
        self.static = (ctypes.c_uint8 * (BATCH * IN_ITEM))()
        self.outs = [(ctypes.c_uint8 * (BATCH * OUT_ITEM))() for _ in range(plans)]
        fake.fake_graph_new.restype = ctypes.c_void_p
        fake.fake_graph_new.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t,
                                        ctypes.c_int]
        fake.fake_stream_new.restype = ctypes.c_void_p
        self.stream = fake.fake_stream_new()
        self.graphs = [fake.fake_graph_new(ctypes.addressof(self.static), BATCH * IN_ITEM, ctypes.addressof(o),
                                           BATCH * OUT_ITEM, delay_us) for o in self.outs]


def expected(data: bytes, n: int) -> bytes:
    """What the fake graph answers for the first n items of an input (the rest of the batch zeroed)."""
    full = data[: n * IN_ITEM] + bytes((BATCH - n) * IN_ITEM)
    return bytes((full[i % len(full)] + 1) % 256 for i in range(n * OUT_ITEM))


class Backend:
    """A Serving with the native path on a pipe whose other end the test reads."""

    def __init__(self, libs, tmp_path, workers=("m",), plans=1, delay_us=0, depth=2):
        lib, fake_path = libs
        self.fake = ctypes.CDLL(str(fake_path), mode=ctypes.RTLD_GLOBAL)
        self.r, self.w = os.pipe()
        self.reader = FrameReader(self.r)
        self.serving = Serving(lambda h, b=b"": self.serving.hotpath.write(frames.encode(h, b)),
                               pin=lambda mm: (lambda: None),
                               cuda_opener=lambda raw, dev, n: (FakeTensor(n), lambda: None), native=True)
        os.environ["ECLIP_CACHE"] = str(Path(lib).parent)
        assert self.serving.start_hotpath(ctx=0, out_fd=self.w, libcuda=str(fake_path), route_frames=False) == "native"
        self.devices = {}
        self.fallbacks = []
        for name in workers:
            dev = Device(self.fake, plans, delay_us)
            handle = self.serving.hotpath.add_worker(
                name, dev.stream, ctypes.addressof(dev.static), BATCH, IN_ITEM, OUT_ITEM,
                f',{OUT_ITEM}],"datatype":"UINT8","computeUs":', depth)
            keys = [None] + [f"p{i}" for i in range(1, plans)]
            captures = {k: (g, ctypes.addressof(o)) for k, g, o in zip(keys, dev.graphs, dev.outs)}

            def execute(n, datatype, body, name=name):  # the Python path of a request C does not take
                self.fallbacks.append((name, n, datatype))
                return [n, OUT_ITEM], "UINT8", bytes(n * OUT_ITEM), 1.0

            w = ServedWorker(name, execute, {"name": name},
                             native=NativeWorker(handle, captures, "UINT8", BATCH, IN_ITEM, OUT_ITEM))
            self.serving.add_worker(w)
            self.devices[name] = dev
        self.files = []
        self.tmp = tmp_path

    def region(self, name, nbytes=4096):
        path = self.tmp / f"{name}.shm"
        path.write_bytes(bytes(nbytes))
        reply = self.serving.register_region({"name": name, "kind": "system", "path": str(path), "bytes": nbytes})
        assert reply["type"] == "shm-registered"
        return path

    def replies(self, count, timeout=10.0):
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            assert time.monotonic() < deadline, f"{len(got)} of {count} replies"
            header, body = self.reader.next()
            got.append((header, bytes(body)))
        return got

    def close(self):
        self.serving.close()
        os.close(self.w)
        os.close(self.r)


class FakeTensor:
    """A client's CUDA region as the native path sees it: an address (here, host memory)."""

    def __init__(self, n):
        self.buf = (ctypes.c_uint8 * n)()

    def data_ptr(self):
        return ctypes.addressof(self.buf)


@pytest.fixture
def backend(libs, tmp_path):
    made = []

    def make(**kw):
        b = Backend(libs, tmp_path, **kw)
        made.append(b)
        return b

    yield make
    for b in made:
        b.close()


def pattern(seed, n):
    return bytes((seed * 7 + i * 3) % 251 for i in range(n))


def test_inputs_and_outputs_in_a_system_region_never_pass_through_python(backend):
    b = backend()
    path = b.region("r1")
    data = pattern(1, 2 * IN_ITEM)
    with open(path, "r+b") as f:
        f.write(data)
    b.serving.infer({"type": "infer", "name": "m", "id": 7, "n": 2, "dtype": "UINT8",
                     "input": {"region": "r1", "offset": 0, "bytes": 2 * IN_ITEM},
                     "output": {"region": "r1", "offset": 1024, "bytes": 512}}, b"")
    [(h, body)] = b.replies(1)
    assert h["type"] == "output" and h["id"] == 7 and h["shape"] == [2, OUT_ITEM] and h["datatype"] == "UINT8"
    assert h["output"] == {"region": "r1", "offset": 1024, "bytes": 2 * OUT_ITEM} and body == b""
    assert h["computeUs"] >= 0
    assert path.read_bytes()[1024:1024 + 2 * OUT_ITEM] == expected(data, 2)
    assert b.fallbacks == []


def test_an_output_without_a_region_comes_in_the_frame_and_the_batch_is_padded_with_zeros(backend):
    b = backend()
    path = b.region("r1")
    data = pattern(2, IN_ITEM)
    with open(path, "r+b") as f:
        f.write(data)
    b.serving.infer({"type": "infer", "name": "m", "id": 1, "n": 1, "dtype": "UINT8",
                     "input": {"region": "r1", "offset": 0, "bytes": IN_ITEM}}, b"")
    [(h, body)] = b.replies(1)
    assert h == {"type": "output", "id": 1, "shape": [1, OUT_ITEM], "datatype": "UINT8", "computeUs": h["computeUs"]}
    assert body == expected(data, 1)
    assert bytes(b.devices["m"].static)[IN_ITEM:] == bytes((BATCH - 1) * IN_ITEM)


def test_ring_inputs_and_outputs(backend, tmp_path):
    b = backend()
    ring = tmp_path / "ring"
    ring.write_bytes(bytes(8192))
    status = b.serving.attach_rings({"m": {"path": str(ring), "bytes": 8192}})
    assert status == {"m": True}
    data = pattern(3, 3 * IN_ITEM)
    b.serving.rings["m"].view[256:256 + len(data)] = data
    b.serving.infer({"type": "infer", "name": "m", "id": 2, "n": 3, "dtype": "UINT8",
                     "shm": {"offset": 256, "bytes": 3 * IN_ITEM, "outOffset": 4096, "outBytes": 1024}}, b"")
    # an output room too small: the output comes in the frame instead
    b.serving.infer({"type": "infer", "name": "m", "id": 3, "n": 3, "dtype": "UINT8",
                     "shm": {"offset": 256, "bytes": 3 * IN_ITEM, "outOffset": 4096, "outBytes": 10}}, b"")
    (h1, body1), (h2, body2) = b.replies(2)
    assert h1["id"] == 2 and h1["shm"] == {"offset": 4096, "bytes": 3 * OUT_ITEM} and body1 == b""
    assert bytes(b.serving.rings["m"].view[4096:4096 + 3 * OUT_ITEM]) == expected(data, 3)
    assert h2["id"] == 3 and "shm" not in h2 and body2 == expected(data, 3)


def test_many_requests_of_several_workers_are_answered_each_once_in_order_per_worker(backend):
    b = backend(workers=("a", "b"), delay_us=300)
    b.region("r1", 1 << 16)
    sent = {}
    region = b.serving.regions["r1"]
    for i in range(60):
        name = "ab"[i % 2]
        data = pattern(i, IN_ITEM)
        region.view[i * IN_ITEM:(i + 1) * IN_ITEM] = data
        sent[i] = (name, data)
        b.serving.infer({"type": "infer", "name": name, "id": i, "n": 1, "dtype": "UINT8",
                         "input": {"region": "r1", "offset": i * IN_ITEM, "bytes": IN_ITEM},
                         "output": {"region": "r1", "offset": 32768 + i * OUT_ITEM, "bytes": OUT_ITEM}}, b"")
    got = b.replies(60)
    ids = [h["id"] for h, _ in got]
    assert sorted(ids) == list(range(60))
    for name in "ab":  # a worker's replies in its requests' order
        mine = [i for i in ids if sent[i][0] == name]
        assert mine == sorted(mine)
    for i, (name, data) in sent.items():
        assert bytes(region.view[32768 + i * OUT_ITEM:32768 + (i + 1) * OUT_ITEM]) == expected(data, 1), i


def test_a_request_queued_behind_the_executions_in_flight_says_how_long_it_waited(backend):
    b = backend(delay_us=20_000, depth=1)
    b.region("r1")
    for i in range(3):
        b.serving.infer({"type": "infer", "name": "m", "id": i, "n": 1, "dtype": "UINT8",
                         "input": {"region": "r1", "offset": 0, "bytes": IN_ITEM}}, b"")
    got = {h["id"]: h for h, _ in b.replies(3)}
    assert got[0].get("waitedUs", 0) < 5_000  # started at once
    # each waited for the executions before it (20 ms each) to end before it was started
    assert got[1]["waitedUs"] >= 15_000
    assert got[2]["waitedUs"] >= 35_000
    assert all(h["type"] == "output" for h in got.values())


def test_a_plan_key_picks_its_capture_and_an_unknown_one_goes_to_python(backend):
    b = backend(plans=2)
    b.region("r1")
    msg = {"type": "infer", "name": "m", "id": 1, "n": 1, "dtype": "UINT8",
           "input": {"region": "r1", "offset": 0, "bytes": IN_ITEM}, "plan": "p1"}
    b.serving.infer(msg, b"")
    [(h, _)] = b.replies(1)
    assert h["type"] == "output"
    dev = b.devices["m"]
    assert bytes(dev.outs[1])[:OUT_ITEM] == bytes([1] * OUT_ITEM) and bytes(dev.outs[0]) == bytes(BATCH * OUT_ITEM)
    b.serving.infer({**msg, "id": 2, "plan": "nope"}, b"")  # the Python path answers it (its error)
    [(h, _)] = b.replies(1)
    assert h["type"] == "error" and h["id"] == 2 and "nope" in h["message"]


def test_what_c_does_not_take_goes_through_python(backend):
    b = backend()
    b.region("r1")
    # the input in the frame's body, and a datatype to convert: GpuExecute's work, not C's
    b.serving.infer({"type": "infer", "name": "m", "id": 1, "n": 1, "dtype": "UINT8"}, bytes(IN_ITEM))
    b.serving.infer({"type": "infer", "name": "m", "id": 2, "n": 1, "dtype": "FP16",
                     "input": {"region": "r1", "offset": 0, "bytes": 2 * IN_ITEM}}, b"")
    got = b.replies(2)
    assert sorted(h["id"] for h, _ in got) == [1, 2]
    assert [f[:2] for f in b.fallbacks] == [("m", 1), ("m", 1)]


def test_bad_spans_are_refused_by_the_python_path_with_its_message(backend):
    b = backend()
    b.region("r1", 1024)
    b.serving.infer({"type": "infer", "name": "m", "id": 1, "n": 1, "dtype": "UINT8",
                     "input": {"region": "r1", "offset": 1000, "bytes": IN_ITEM}}, b"")
    b.serving.infer({"type": "infer", "name": "m", "id": 2, "n": 1, "dtype": "UINT8",
                     "input": {"region": "nope", "offset": 0, "bytes": IN_ITEM}}, b"")
    (h1, _), (h2, _) = b.replies(2)
    assert h1["type"] == "error" and "outside region 'r1'" in h1["message"]
    assert h2["type"] == "error" and "no region 'nope'" in h2["message"]


def test_a_region_unregistered_under_a_request_closes_once_it_is_answered(backend):
    b = backend(delay_us=200_000)
    b.region("r1")
    region = b.serving.regions["r1"]
    b.serving.infer({"type": "infer", "name": "m", "id": 1, "n": 1, "dtype": "UINT8",
                     "input": {"region": "r1", "offset": 0, "bytes": IN_ITEM},
                     "output": {"region": "r1", "offset": 512, "bytes": OUT_ITEM}}, b"")
    assert b.serving.unregister_region({"name": "r1"}) == {"type": "shm-unregistered", "name": "r1", "closed": False}
    assert not region.closed
    [(h, _)] = b.replies(1)
    assert h["type"] == "output"
    deadline = time.monotonic() + 5
    while not region.closed:
        assert time.monotonic() < deadline, "the region was never closed"
        time.sleep(0.01)
    # a later request naming it: refused by name
    b.serving.infer({"type": "infer", "name": "m", "id": 2, "n": 1, "dtype": "UINT8",
                     "input": {"region": "r1", "offset": 0, "bytes": IN_ITEM}}, b"")
    [(h, _)] = b.replies(1)
    assert h["type"] == "error" and "no region 'r1'" in h["message"]


def test_an_idle_region_closes_at_once_and_its_slot_is_reused(backend):
    b = backend()
    b.region("r1")
    region = b.serving.regions["r1"]
    slot = region.native[1]
    assert b.serving.unregister_region({"name": "r1"})["closed"] is True and region.closed
    b.region("r2")
    assert b.serving.regions["r2"].native[1] == slot


def test_a_cuda_region_is_copied_device_to_device(backend):
    b = backend()
    reply = b.serving.register_region({"name": "c1", "kind": "cuda", "rawHandle": base64.b64encode(bytes(64)).decode(), "deviceId": 0,
                                       "bytes": 1024})
    assert reply["type"] == "shm-registered"
    region = b.serving.regions["c1"]
    data = pattern(5, IN_ITEM)
    ctypes.memmove(region.native_addr, data, IN_ITEM)
    b.serving.infer({"type": "infer", "name": "m", "id": 4, "n": 1, "dtype": "UINT8",
                     "input": {"region": "c1", "offset": 0, "bytes": IN_ITEM},
                     "output": {"region": "c1", "offset": 512, "bytes": OUT_ITEM}}, b"")
    [(h, _)] = b.replies(1)
    assert h["output"] == {"region": "c1", "offset": 512, "bytes": OUT_ITEM}
    assert ctypes.string_at(region.native_addr + 512, OUT_ITEM) == expected(data, 1)


def test_a_cuda_error_is_answered_by_id_and_the_worker_goes_on(backend):
    b = backend()
    b.region("r1")
    msg = {"type": "infer", "name": "m", "n": 1, "dtype": "UINT8",
           "input": {"region": "r1", "offset": 0, "bytes": IN_ITEM}}
    b.fake.fake_fail(b"cuGraphLaunch", 1)
    b.serving.infer({**msg, "id": 1}, b"")
    b.serving.infer({**msg, "id": 2}, b"")
    (h1, _), (h2, _) = b.replies(2)
    assert h1 == {"type": "error", "id": 1, "fatal": False,
                  "message": "m: cuGraphLaunch failed: CUDA_ERROR_INVALID_VALUE (1)"}
    assert h2["type"] == "output" and h2["id"] == 2
    assert b.serving.regions["r1"].native[0].region_users(b.serving.regions["r1"].native[1]) == 0


def test_closing_answers_waiting_requests_and_finishes_started_ones(backend):
    b = backend(delay_us=50_000, depth=1)
    b.region("r1")
    for i in range(4):
        b.serving.infer({"type": "infer", "name": "m", "id": i, "n": 1, "dtype": "UINT8",
                         "input": {"region": "r1", "offset": 0, "bytes": IN_ITEM}}, b"")
    closer = threading.Thread(target=lambda: b.serving.hotpath.close_worker(b.serving.workers["m"].native.handle))
    closer.start()
    got = b.replies(4)
    closer.join(5)
    b.serving.workers["m"].native = None
    kinds = {h["id"]: h["type"] for h, _ in got}
    assert kinds[0] == "output" and sorted(kinds) == [0, 1, 2, 3]
    assert all(h["message"] == "m: the backend is closing" for h, _ in got if h["type"] == "error")


def test_python_frames_and_native_replies_share_the_pipe_whole(backend):
    b = backend(delay_us=100)
    b.region("r1", 1 << 16)
    chatter_frames = 2000

    def chatter():
        for i in range(chatter_frames):
            b.serving.send({"type": "progress", "key": "x", "message": "p" * (i % 300)}, bytes(i % 5000))

    seen, progress, other = set(), [0], []

    def read():
        # the pipe is read all along, as the server does (a full pipe blocks its writers), until every frame is in
        while len(seen) < 200 or progress[0] < chatter_frames:
            h, _ = b.reader.next()
            if h["type"] == "output":
                seen.add(h["id"])
            elif h["type"] == "progress":
                progress[0] += 1
            else:
                other.append(h)

    r = threading.Thread(target=read, daemon=True)  # daemon: a failed run must not hang the test process
    t = threading.Thread(target=chatter, daemon=True)
    r.start()
    t.start()
    for i in range(200):
        b.serving.infer({"type": "infer", "name": "m", "id": i, "n": 1, "dtype": "UINT8",
                         "input": {"region": "r1", "offset": 0, "bytes": IN_ITEM}}, b"")
    t.join(timeout=30)
    r.join(timeout=30)
    assert not r.is_alive(), f"{len(seen)} of 200 answers and {progress[0]} of {chatter_frames} other frames read"
    assert other == [] and seen == set(range(200))


def test_a_poisoning_cuda_error_is_answered_then_ends_the_process(libs, tmp_path):
    lib, fake = libs
    script = textwrap.dedent(f"""
        import ctypes, os, sys
        sys.path.insert(0, {str(HERE.parent)!r}); sys.path.insert(0, {str(HERE)!r})
        os.environ["ECLIP_CACHE"] = {str(Path(lib).parent)!r}
        import test_hotpath as t
        b = t.Backend(({str(lib)!r}, {str(fake)!r}), __import__("pathlib").Path({str(tmp_path)!r}))
        os.dup2(1, b.w)
        b.region("r1")
        b.fake.fake_fail(b"cuGraphLaunch", 700)
        b.serving.infer({{"type": "infer", "name": "m", "id": 9, "n": 1, "dtype": "UINT8",
                          "input": {{"region": "r1", "offset": 0, "bytes": {IN_ITEM}}}}}, b"")
        import time; time.sleep(5)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=30, check=False)
    assert done.returncode == 3, done.stderr.decode()[-2000:]
    assert b"fatal CUDA error" in done.stderr and b"CUDA_ERROR_ILLEGAL_ADDRESS" in done.stderr
    out = done.stdout
    header = json.loads(out[8:8 + int.from_bytes(out[4:8], "little")])
    assert header == {"type": "error", "id": 9, "fatal": True,
                      "message": "m: cuGraphLaunch failed: CUDA_ERROR_ILLEGAL_ADDRESS (700)"}


def test_which_path_serves_and_why_not_native(libs, tmp_path, monkeypatch):
    lib, fake = libs
    assert Serving(lambda h, b=b"": None).start_hotpath(ctx=0) == "python"  # not asked for: the GPU tests' Serving
    monkeypatch.setenv("ECLIP_NATIVE", "0")
    assert Serving(lambda h, b=b"": None, native=True).start_hotpath(ctx=0) == "python (ECLIP_NATIVE=0)"
    monkeypatch.delenv("ECLIP_NATIVE")
    monkeypatch.setenv("ECLIP_CACHE", str(tmp_path))  # nothing built there yet: it compiles, and fails
    monkeypatch.setenv("CC", "false")
    note = Serving(lambda h, b=b"": None, native=True).start_hotpath(ctx=0)
    assert note.startswith("python (false -O2") and "failed" in note
    monkeypatch.setenv("CC", shutil.which("cc") or shutil.which("gcc"))
    note = Serving(lambda h, b=b"": None, native=True).start_hotpath(ctx=0, libcuda=str(tmp_path / "nope.so"))
    assert note.startswith("python (cannot load") and "nope.so" in note


def test_timing_splits_the_streams_time_when_asked(backend, monkeypatch, capfd):
    monkeypatch.setenv("ECLIP_HOTPATH_TIMING", "1")
    b = backend(delay_us=5_000)
    path = b.region("r1")
    data = pattern(3, IN_ITEM)
    with open(path, "r+b") as f:
        f.write(data)

    def infer(i):
        b.serving.infer({"type": "infer", "name": "m", "id": i, "n": 1, "dtype": "UINT8",
                         "input": {"region": "r1", "offset": 0, "bytes": IN_ITEM},
                         "output": {"region": "r1", "offset": 1024, "bytes": OUT_ITEM}}, b"")

    for i in range(3):  # back to back: the stream is never idle between them
        infer(i)
    b.replies(3)
    time.sleep(0.05)  # the stream idles 50 ms before the fourth
    before_ms = time.monotonic_ns() / 1e6
    infer(3)
    after_ms = time.monotonic_ns() / 1e6
    [(h, _)] = b.replies(1)
    assert h["type"] == "output" and path.read_bytes()[1024:1024 + OUT_ITEM] == expected(data, 1)
    b.serving.close()
    err = capfd.readouterr().err.splitlines()
    lines = [x for x in err if x.startswith("eclip_gpu: timing m:")]
    assert lines[0].startswith("eclip_gpu: timing m: 1 executions")  # at the first answer
    # at close: the three since, the 50-ms pause a pause, not idle time (the fake driver's stream, a host thread, may
    # pause once more on its own)
    last = re.match(r"eclip_gpu: timing m: 3 executions, mean µs: input ([\d.]+), graph ([\d.]+), output ([\d.]+), "
                    r"idle before ([\d.]+) \(([\d.]+)% over 50 µs\), [12] pauses over 1 ms \(max (\d+) µs\), "
                    r"enqueue µs ([\d.]+) \(max (\d+)\), at ([\d.]+) ms \(monotonic\)$", lines[-1])
    assert last and len(lines) == 2, lines
    graph, idle, peak = float(last[2]), float(last[4]), int(last[6])
    assert 4_500 <= graph <= 20_000
    assert 40_000 <= peak <= 1_000_000
    assert idle <= 1_000
    # the host time of the starts (the fake driver's calls only queue): well under the graph's, the mean within the max
    enqueue, enqueue_max = float(last[7]), int(last[8])
    assert 0 < enqueue <= enqueue_max + 1 and enqueue_max < 4_500
    assert after_ms <= float(last[9]) <= time.monotonic_ns() / 1e6
    # each pause a line of its own, with when the execution that ended it was enqueued (the host's monotonic clock)
    pauses = [re.match(r"eclip_gpu: pause m: (\d+) µs, ended by an execution enqueued at ([\d.]+) ms \(monotonic\), "
                       r"(\d+) µs after it was submitted$", x)
              for x in err if x.startswith("eclip_gpu: pause m:")]
    assert all(pauses) and 1 <= len(pauses) <= 2, err
    longest = max(pauses, key=lambda m: int(m[1]))
    assert int(longest[1]) == peak and before_ms <= float(longest[2]) <= after_ms
    assert int(longest[3]) < 1_000  # the fourth found the stream idle: started at once


def test_no_timing_unless_asked(backend, capfd):
    b = backend()
    b.region("r1")
    b.serving.infer({"type": "infer", "name": "m", "id": 1, "n": 1, "dtype": "UINT8",
                     "input": {"region": "r1", "offset": 0, "bytes": IN_ITEM}}, b"")
    b.replies(1)
    b.serving.close()
    assert "eclip_gpu: timing" not in capfd.readouterr().err


def test_python_held_lines_name_when_the_gil_was_held(monkeypatch):
    from eclip_gpu import hotpath
    lines: list[str] = []
    stop = threading.Event()
    t = threading.Thread(target=hotpath._watch_python, kwargs={"write": lines.append, "stop": stop}, daemon=True)
    t.start()
    time.sleep(0.02)
    before_ms = time.monotonic_ns() / 1e6
    sum(range(30_000_000))  # one C call: the GIL held throughout (no switch inside it)
    held_ms = time.monotonic_ns() / 1e6 - before_ms
    time.sleep(0.02)
    stop.set()
    t.join(1)
    found = [re.match(r"eclip_gpu: python held at ([\d.]+) ms \(monotonic\) for (\d+) µs$", x) for x in lines
             if "wake-ups" not in x]
    assert all(found), lines
    assert any(abs(float(m[1]) - before_ms) < 5 and 0.7 * held_ms * 1e3 <= int(m[2]) <= held_ms * 1e3 + 5_000
               for m in found), (lines, held_ms)


def test_python_wake_up_lines_count_every_late_wake_up():
    from eclip_gpu import hotpath
    lines: list[str] = []
    stop = threading.Event()
    t = threading.Thread(target=hotpath._watch_python, kwargs={"write": lines.append, "stop": stop, "every_s": 0.05},
                         daemon=True)
    t.start()
    time.sleep(0.12)
    sum(range(10_000_000))  # the GIL held in one C call: one wake-up that late
    time.sleep(0.12)
    stop.set()
    t.join(1)
    ups = [re.match(r"eclip_gpu: python wake-ups to ([\d.]+) ms \(monotonic\): (\d+), (\d+) over 100 µs late, "
                    r"late µs mean ([\d.]+) max (\d+)$", x) for x in lines if "wake-ups" in x]
    assert len(ups) >= 3 and all(ups), lines
    ends = [float(m[1]) for m in ups]
    assert ends == sorted(ends) and all(b - a >= 49 for a, b in zip(ends, ends[1:]))
    held = max(ups, key=lambda m: int(m[5]))
    assert int(held[5]) >= 20_000 and int(held[3]) >= 1 and float(held[4]) <= int(held[5])
    assert all(int(m[2]) >= 1 and int(m[3]) <= int(m[2]) for m in ups)
