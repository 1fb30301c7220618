"""A GPU backend without a GPU, for test/serve/gpu-backend.test.ts: the real frame loop (eclip_gpu.protocol.serve)
and the real Serving (one thread and queue per worker, replies under the send lock), with torch replaced by fakes:
a Runner that describes a made-up GPU, and a load that "captures" workers computing a known function of the input.

Each output item is the item's first input element, as FP16 (`logits` [n,1000] or `last_hidden_state` [n,128,768]),
so the test can tell that bytes, batching and splitting went through. Behaviour switches (files, so that a restarted
process behaves normally once the file is consumed):
  FAKE_CRASH_FILE   next infer: wait FAKE_CRASH_DELAY_MS, then the CUDA error that poisons a process (exit 3)
  FAKE_HANG_FILE    next infer never answers
  FAKE_LOAD_FAIL_FILE  next load answers an error
  FAKE_DELAY_MS     every infer takes this long
  FAKE_COMPUTE_US   the computeUs the replies report (default 123.4); several, comma-separated: each worker's replies
                    take them in turn
  FAKE_NO_RINGS     (set) the backend refuses the server's shared-memory rings: tensors go through the pipe
  FAKE_GPU_NAME     the GPU it reports at hello is named so (the H100's layout under another name)
An input whose first element is 13 gets a non-fatal error (the process goes on).

eclip-live (a load with `plans`): each worker is a pipelined one whose executions name the plans it was "captured"
under (gpu/tests/fake_capture.py), and model control (load-model, unload-model, add-plans) is the real
ModelControl with fake captures:
  FAKE_CONTROL_FAIL_FILE  next model control: the first capture of an already loaded worker fails (a load half way)
  FAKE_CONTROL_DELAY_MS   every capture of model control takes this long (the others serve meanwhile)

paris-elsa (a load with `partitions`): every model is "captured" on every partition, one worker per (model,
partition) named "<model>@<partition>" as paris_serve.py names them, so the real Serving.infer routes a request that
names its partition; the reply's computeUs is 100 + the partition's index in the load, so a test can tell which
worker ran it. `paris-gpus` answers FAKE_GPUS (default 1) GPUs, each with the layout in the file FAKE_GPU_JSON.
"""

import os
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "gpu"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "gpu" / "tests"))

from fake_capture import FakeCaptor, FakePipe  # noqa: E402

from eclip_gpu import protocol, serving  # noqa: E402
from eclip_gpu.model_control import ModelControl  # noqa: E402

FMT = {"FP16": "e", "FP32": "f", "INT64": "q"}
OUT_ITEM = {"albert": [128, 768]}


def consume(var: str) -> bool:
    """True for the one caller that removes the trigger file: workers of several models ask at once (an exists check
    before the unlink let two threads race, and the loser's unlink failed)."""
    f = os.environ.get(var)
    if not f:
        return False
    try:
        os.unlink(f)
        return True
    except FileNotFoundError:
        return False


class FakeEnergy:
    def __init__(self):
        self.t0 = time.monotonic()

    def read_mj(self):
        return int((time.monotonic() - self.t0) * 250_000)  # 250 W

    def power_w(self):
        return 250.0


class FakeRunner:
    def __init__(self):
        # the H100 layout synthetic profiles are made for (src/profile/synthetic.ts), as the real backend reports one
        slices = [{"id": i, "sms": 8, "remainder": False} for i in range(15)] + [{"id": 15, "sms": 12, "remainder": True}]
        # FAKE_GPU_NAME: another GPU of the same layout (an H200), to test what is picked or refused by the GPU's name
        self.gpu = {"format": "eclip.gpu/1", "name": os.environ.get("FAKE_GPU_NAME", "NVIDIA H100 80GB HBM3"),
                    "computeCapability": "9.0",
                    "smCount": 132, "sliceSize": 8, "smCoscheduledAlignment": 8, "slices": slices,
                    "measured": {"date": "1970-01-01T00:00:00Z", "method": "fake", "tool": "gpu_backend_fake.py"}}
        # as eclip_gpu.cuda.versions() reports the hardware queues the process was started with
        self.versions = {"torch": "fake",
                         "cudaDeviceMaxConnections": os.environ.get("CUDA_DEVICE_MAX_CONNECTIONS", "driver default (8)")}
        self.layout = self.pool = None
        self.energy = FakeEnergy()

    def close(self):
        pass


protocol.Runner = FakeRunner


class FakeParisSession:
    """paris-gpus of a made-up machine: FAKE_GPUS GPUs of FAKE_GPU_JSON's layout."""

    def __init__(self, layout=None, energy=None):
        pass

    def gpus(self, msg):
        import json  # noqa: PLC0415

        n = int(os.environ.get("FAKE_GPUS", "1"))
        layout = json.load(open(os.environ["FAKE_GPU_JSON"]))
        return {"deviceCount": n, "gpus": [layout for _ in range(min(int(msg.get("count", 1)), n))]}

    def close(self):
        pass


protocol.ParisSession = FakeParisSession


def fake_execute(name: str, model: str, batch: int, item_shape: list[int], datatype_in: str, compute_us=123.4):
    out_item = OUT_ITEM.get(model, [1000])
    out_per = 1
    for d in out_item:
        out_per *= d

    times = [float(x) for x in os.environ.get("FAKE_COMPUTE_US", str(compute_us)).split(",")]
    count = [0]

    def execute(n, datatype, body):
        per_item = serving.check_input(name, n, batch, item_shape, datatype, len(body))
        if consume("FAKE_CRASH_FILE"):
            time.sleep(float(os.environ.get("FAKE_CRASH_DELAY_MS", "0")) / 1e3)
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        if consume("FAKE_HANG_FILE"):
            time.sleep(3600)
        time.sleep(float(os.environ.get("FAKE_DELAY_MS", "0")) / 1e3)
        size = struct.calcsize(FMT[datatype])
        firsts = [struct.unpack_from("<" + FMT[datatype], body, i * per_item)[0] for i in range(n)]
        if firsts and firsts[0] == 13:
            raise ValueError("unlucky input")
        assert size
        data = b"".join(struct.pack("<e", float(v)) * out_per for v in firsts)
        count[0] += 1
        return [n, *out_item], "FP16", data, times[(count[0] - 1) % len(times)]

    return execute


def fake_worker(w: dict):
    """A worker entry's fake execute, output bytes per item and `loaded` entry."""
    model, batch = w["model"], w["batch"]
    item = [128] if model == "albert" else [3, 224, 224]
    dt_in = "INT64" if model == "albert" else "FP16"
    out_item = OUT_ITEM.get(model, [1000])
    info = {"name": w["name"], "inputShape": [batch, *item], "inputDtype": dt_in,
            "outputShape": [batch, *out_item], "outputDtype": "FP16",
            "fingerprint": "fake", "mode": "whole", "kernels": 1, "switches": 0}
    out_item_bytes = 2
    for d in out_item:
        out_item_bytes *= d
    return fake_execute(w["name"], model, batch, item, dt_in), out_item_bytes, info


def fake_load(self, msg, progress=lambda m: None):
    if consume("FAKE_LOAD_FAIL_FILE"):
        raise serving.BackendError("capture failed on purpose")
    loaded = []
    partitions = msg.get("partitions")
    keyed = msg.get("plans")
    for w in msg["workers"]:
        execute, out_item_bytes, info = fake_worker(w)
        model, batch = w["model"], w["batch"]
        item, dt_in = info["inputShape"][1:], info["inputDtype"]
        if keyed is not None:
            keys = [k["key"] for k in keyed if any(pw["name"] == w["name"] for pw in k["plan"]["workers"])]
            info = {**info, "plans": {k: {"mode": "whole", "switches": 0} for k in keys}}
            pipe = FakePipe(w["name"], execute, out_item_bytes, keys)
            self.add_worker(serving.ServedWorker(w["name"], pipe.execute, info, pipeline=pipe))
        elif partitions is None:
            self.add_worker(serving.ServedWorker(w["name"], execute, info))
        else:
            for i, p in enumerate(partitions):
                key = f"{w['name']}@{p['id']}"
                self.add_worker(serving.ServedWorker(key, fake_execute(key, model, batch, item, dt_in, 100.0 + i),
                                                     {**info, "name": key}))
        loaded.append(info)
        progress(f"{w['name']}: fake capture")
    self.prepare(msg.get("prepare") or [], progress)  # the real one: imports what the repository's models need
    return {"type": "loaded", "workers": loaded}


serving.Serving.load = fake_load


def fake_control(serving_, send):
    """The real ModelControl over FakeCaptor: FAKE_CONTROL_FAIL_FILE fails the first capture of a loaded worker of the
    next request that makes one."""
    def fail(worker, key):
        return worker in serving_.workers and consume("FAKE_CONTROL_FAIL_FILE")

    delay = float(os.environ.get("FAKE_CONTROL_DELAY_MS", "0")) / 1e3
    return ModelControl(serving_, send, captor=FakeCaptor(serving_, fake_worker, fail=fail, delay_s=delay))


protocol.ModelControl = fake_control
if os.environ.get("FAKE_NO_RINGS"):
    serving.Serving.attach_rings = lambda self, specs: {n: "refused on purpose" for n in (specs or {})}

if __name__ == "__main__":
    protocol.serve()
