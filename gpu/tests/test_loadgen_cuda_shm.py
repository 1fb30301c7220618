"""serve-bench's cuda-shm client (eclip_gpu.loadgen_cuda_shm) without CUDA: the region layout, the request body,
the answer check, and a whole run — register, closed loops between "go" and "stop", outputs read back, unregister,
buffers freed — against a small Triton-like HTTP server, with host memory standing in for the device."""

import base64
import ctypes
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from eclip_gpu import loadgen_cuda_shm as lg

OUT = [{"name": "logits", "datatype": "FP16", "shape": [2, 1000], "bytes": 4000}]


def test_layout_is_inputs_then_outputs_aligned_as_the_ts_clients_lay_them_out():
    ins, outs, size = lg.region_layout([602112, 10], [4000])
    assert ins == [0, 602112]
    assert outs == [602176]  # 602112 + 10, rounded up to 64
    assert size == 602176 + 4032
    assert lg.region_layout([], []) == ([], [], 64)


def test_request_names_the_region_and_carries_no_data():
    model = {"name": "m", "inputs": [{"name": "input", "datatype": "FP16", "shape": [2, 3]}], "outputs": OUT}
    body = json.loads(lg.infer_body("r", model, [0], [64], [12]))
    assert body["inputs"] == [{"name": "input", "datatype": "FP16", "shape": [2, 3], "parameters": {
        "shared_memory_region": "r", "shared_memory_byte_size": 12, "shared_memory_offset": 0}}]
    assert body["outputs"] == [{"name": "logits", "parameters": {
        "shared_memory_region": "r", "shared_memory_byte_size": 4000, "shared_memory_offset": 64}}]


def test_answer_check():
    good = {"name": "logits", "datatype": "FP16", "shape": [2, 1000],
            "parameters": {"shared_memory_region": "r", "shared_memory_byte_size": 4000, "shared_memory_offset": 64}}

    def check(obj, status=200):
        return lg.check_answer(status, json.dumps(obj).encode(), "r", OUT, [64])

    assert check({"outputs": [good], "parameters": {"queue_us": 3, "compute_us": 9}}) == (True, False, 3, 9, None)
    assert check({"outputs": [], "parameters": {"simulated": True}})[:2] == (True, True)
    assert check({"outputs": [{**good, "parameters": {}}]})[0] is True  # Triton names no region for it
    assert check({"outputs": []})[4] == 'output "logits" missing'
    assert "another region" in check({"outputs": [{**good, "parameters": {"shared_memory_region": "x"}}]})[4]
    assert "expected FP16" in check({"outputs": [{**good, "datatype": "FP32"}]})[4]
    assert check({"error": "queue full"}, 429)[4] == "HTTP 429: queue full"
    assert lg.check_answer(502, b"<html>", "r", OUT, [64])[4].startswith("HTTP 502: <html>")


class HostDevice:
    """Host memory in place of device buffers; the 'IPC handle' is the pointer, so the server can write outputs."""

    memory: dict[int, ctypes.Array] = {}

    def __init__(self, device_id):
        self.device_id = device_id
        self.freed = []

    def bind_thread(self):
        pass

    def alloc(self, n):
        buf = ctypes.create_string_buffer(n)
        self.memory[ctypes.addressof(buf)] = buf
        return ctypes.addressof(buf)

    def free(self, ptr):
        self.freed.append(ptr)

    def to_device(self, ptr, data):
        ctypes.memmove(ptr, data, len(data))

    def to_host(self, host, ptr, n):
        ctypes.memmove(ctypes.addressof(host), ptr, n)

    def ipc_handle(self, ptr):
        return ptr.to_bytes(8, "little") + bytes(56)


def serve(regions, log):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            path = self.path
            log.append(path)
            if path.endswith("/register"):
                req = json.loads(body)
                raw = base64.b64decode(req["raw_handle"]["b64"])
                assert len(raw) == 64 and req["device_id"] == 0
                regions[path.split("/")[-2]] = (int.from_bytes(raw[:8], "little"), req["byte_size"])
                out = b""
            elif path.endswith("/unregister"):
                regions.pop(path.split("/")[-2], None)
                out = b""
            else:
                req = json.loads(body)
                o = req["outputs"][0]["parameters"]
                ptr, _ = regions[o["shared_memory_region"]]
                # the "model": the output is the input's first 4000 bytes
                i = req["inputs"][0]["parameters"]
                ctypes.memmove(ptr + o["shared_memory_offset"], ptr + i["shared_memory_offset"], 4000)
                out = json.dumps({"model_name": "m", "outputs": [
                    {"name": "logits", "datatype": "FP16", "shape": [2, 1000], "parameters": o}],
                    "parameters": {"queue_us": 5, "compute_us": 7}}).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def test_a_whole_run_registers_loops_reads_outputs_and_gives_everything_back():
    regions, log = {}, []
    srv = serve(regions, log)
    data = bytes(range(256)) * 40  # 10240 bytes
    spec = {"url": f"http://127.0.0.1:{srv.server_address[1]}", "concurrency": 2, "tag": "t", "models": [
        {"name": "m", "inputs": [{"name": "input", "datatype": "FP16", "shape": [2, 5120],
                                  "b64": base64.b64encode(data).decode()}], "outputs": OUT}]}
    sent = []
    devices = []
    stop_after = threading.Event()

    def lines():
        yield {"type": "go", "t0Ns": "0"}
        stop_after.wait(0.3)
        yield {"type": "stop"}

    def dev(device_id):
        devices.append(HostDevice(device_id))
        return devices[0]

    def send(m):
        sent.append(m)

    orig = lg.Slot.loop

    def loop(self, at, stop, plan):
        orig(self, at, stop, plan)
        outputs.append(bytes(self.outputs[0]))

    outputs = []
    lg.Slot.loop = loop
    try:
        lg.run(spec, lines(), send, dev_factory=dev)
    finally:
        lg.Slot.loop = orig
        srv.shutdown()
    assert sent[0] == {"type": "ready", "regions": [[
        {"region": f"eclip-sb-t-0-{j}", "inputAt": [0], "outputAt": [10240], "byteSize": 14272} for j in range(2)]]}
    calls = sent[1]["calls"]
    assert sent[1]["type"] == "calls" and len(calls) == 1
    assert len(calls[0]) > 4
    start, end, status, ok, sim, q, c, err, scheduled = calls[0][0]
    assert (status, ok, sim, q, c, err, scheduled) == (200, True, False, 5, 7, None, None) and end >= start
    assert outputs == [data[:4000], data[:4000]], "each client read its outputs back"
    registered = [p for p in log if p.endswith("/register")]
    assert registered == [f"/v2/cudasharedmemory/region/eclip-sb-t-0-{j}/register" for j in range(2)]
    assert regions == {}, "every region unregistered"
    assert len(devices[0].freed) == 2, "every buffer freed"


def test_with_node_sending_it_holds_the_regions_sends_nothing_and_gives_everything_back():
    regions, log = {}, []
    srv = serve(regions, log)
    data = bytes(range(256)) * 40
    spec = {"url": f"http://127.0.0.1:{srv.server_address[1]}", "concurrency": 2, "tag": "n", "sender": "node",
            "models": [{"name": "m", "inputs": [{"name": "input", "datatype": "FP16", "shape": [2, 5120],
                                                 "b64": base64.b64encode(data).decode()}], "outputs": OUT}]}
    sent, devices, held = [], [], []

    def lines():
        # while the TS side would send: the regions are registered and hold the inputs
        held.append(dict(regions))
        yield {"type": "go", "t0Ns": "0"}
        yield {"type": "stop"}

    def dev(device_id):
        devices.append(HostDevice(device_id))
        return devices[0]

    try:
        lg.run(spec, lines(), sent.append, dev_factory=dev)
    finally:
        srv.shutdown()
    assert [m["type"] for m in sent] == ["ready"], "no calls: the Node clients made them"
    assert [r["region"] for r in sent[0]["regions"][0]] == ["eclip-sb-n-0-0", "eclip-sb-n-0-1"]
    assert sorted(held[0]) == ["eclip-sb-n-0-0", "eclip-sb-n-0-1"]
    ptr, size = held[0]["eclip-sb-n-0-0"]
    assert size == 14272 and ctypes.string_at(ptr, len(data)) == data
    assert not any("/infer" in p for p in log), "no request from the Python side"
    assert regions == {} and len(devices[0].freed) == 2


def test_an_open_loop_plan_hands_out_each_time_once_in_order_and_waits_for_it():
    plan = lg.SendPlan({"kind": "open", "atMs": [0, 0, 30, 60]})
    stop = threading.Event()
    t0 = time.monotonic()

    def at():
        return (time.monotonic() - t0) * 1000

    got = [plan.next(at, stop) for _ in range(4)]
    assert got == [0, 0, 30, 60]
    assert at() >= 60, "the slot waited for the last time"
    assert plan.next(at, stop) is False, "no time left"
    # a stop cuts a wait short
    later = lg.SendPlan({"kind": "open", "atMs": [at() + 10_000]})
    stop.set()
    assert later.next(at, stop) is False
    # closed inside periods: a slot waits for the next period and is done after the last
    periods = lg.SendPlan({"kind": "closed", "periodsMs": [at() + 20, at() + 40]})
    assert periods.next(at, threading.Event()) is None
    time.sleep(0.05)
    assert periods.next(at, threading.Event()) is False
    assert lg.SendPlan(None).next(at, stop) is None, "the closed loop, as before"


def test_a_refused_registration_is_one_clear_error_and_cleans_up():
    spec = {"url": "http://127.0.0.1:9", "concurrency": 1, "models": [
        {"name": "m", "inputs": [{"name": "input", "datatype": "FP16", "shape": [1], "b64": "AAA="}], "outputs": OUT}]}
    devices = []

    def dev(i):
        devices.append(HostDevice(i))
        return devices[0]

    try:
        lg.run(spec, iter(()), lambda m: None, dev_factory=dev)
        raise AssertionError("expected a failure")
    except OSError:
        pass
    assert len(devices[0].freed) == 1


def test_check_without_cuda_says_why(capsys):
    ok, why = lg.device_check()
    if ok:
        return  # a machine with a GPU
    assert lg.main(["--check"]) == 2
    assert capsys.readouterr().out.strip() == why
