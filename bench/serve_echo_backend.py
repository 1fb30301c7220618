"""A stand-in for the GPU backend, for bench/serve-host-bench.ts and tests ONLY: no CUDA, no torch, no model runs.

It is the real backend loop (eclip_gpu.protocol.serve: frames on fds 3/4) and the real Serving (one thread and queue
per worker, replies under the send lock) with two things replaced: the Runner (a made-up GPU, a fake energy counter)
and `load`, whose "captures" are echo workers. An echo worker checks the input like the GPU worker does, reads every
input byte once (a checksum, as the copy to the GPU would), and answers with an output of the captured shape whose
bytes are the input's bytes repeated, with a compute time of 0 (a user model, `source`, is the identity: its output
is its input, byte for byte). So the host path — HTTP, the server, the Node <->
Python transport — is measured at its own pace; nothing about a GPU or a policy is. Numbers taken with it are host
numbers and must be labelled so.

ECLIP_ECHO_SERVICE_US=S makes each worker answer at a GPU's pace instead of at once: a request takes S µs of service
after the previous one of its worker ends (or after it arrives, if the worker was idle), and the server is told to
keep two executions per model in flight (the GPU backend's pipeline depth), so replies come spread out as a GPU's
do and do not coalesce in bursts no GPU would make.
"""

import math
import os
import sys
import time
import zlib
from pathlib import Path

# the package of this checkout, or ECLIP_ECHO_GPU's (serve-host-bench's --cli: another checkout's backend, this echo)
sys.path.insert(0, os.environ.get("ECLIP_ECHO_GPU") or str(Path(__file__).resolve().parents[1] / "gpu"))

from eclip_gpu import protocol, serving  # noqa: E402

# model -> (input item shape, input datatype, output item shape); the zoo's tensors (src/serve/io-specs.ts)
MODELS = {"albert": ([128], "INT64", [128, 768])}
VISION = ([3, 224, 224], None, [1000])


class _Energy:
    def __init__(self):
        self.t0 = time.monotonic()

    def read_mj(self):
        return int((time.monotonic() - self.t0) * 100_000)  # a flat 100 W: not a measurement

    def power_w(self):
        return 100.0


class _Runner:
    def __init__(self):
        # the H100 layout synthetic profiles are made for (src/profile/synthetic.ts): the server checks the plan
        # against the GPU the backend reports, as it does on a GPU
        slices = [{"id": i, "sms": 8, "remainder": False} for i in range(15)] + [{"id": 15, "sms": 12, "remainder": True}]
        self.gpu = {"format": "eclip.gpu/1", "name": "NVIDIA H100 80GB HBM3", "computeCapability": "9.0",
                    "smCount": 132, "sliceSize": 8, "smCoscheduledAlignment": 8, "slices": slices,
                    "measured": {"date": "1970-01-01T00:00:00Z", "method": "echo (no GPU)",
                                 "tool": "bench/serve_echo_backend.py"}}
        self.versions = {"backend": "echo"}
        self.layout = self.pool = None
        self.energy = _Energy()

    def close(self):
        pass


protocol.Runner = _Runner


SERVICE_S = float(os.environ.get("ECLIP_ECHO_SERVICE_US", "0")) / 1e6


def echo_execute(name: str, batch: int, item_shape: list[int], out_item: list[int], out_dtype: str):
    out_per_item = math.prod(out_item) * serving.DATATYPE_BYTES[out_dtype]
    sink = []
    # when this worker's last request ends (its service paced on a deadline: sleep overshoots do not add up)
    ends = [0.0]

    def execute(n, datatype, body):
        began = time.monotonic()
        serving.check_input(name, n, batch, item_shape, datatype, len(body))
        sink[:] = [zlib.adler32(body)]  # every input byte read once
        want = n * out_per_item
        head = bytes(body[: min(len(body), want)])
        data = (head * (want // len(head) + 1))[:want]
        if SERVICE_S > 0:
            end = max(began, ends[0]) + SERVICE_S
            ends[0] = end
            wait = end - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        return [n, *out_item], out_dtype, data, SERVICE_S * 1e6

    return execute


def echo_load(self, msg, progress=lambda m: None):
    sys.setswitchinterval(serving.GIL_SWITCH_S)  # as the GPU backend's load does: woken threads wait less for the GIL
    loaded = []
    for w in msg["workers"]:
        model, batch = w["model"], w["batch"]
        dt_model = {"fp16": "FP16", "bf16": "BF16"}.get(w["dtype"], "FP32")
        if w.get("source"):  # a user model: the identity on its input (bytes back exactly as they came)
            item, dt_in, out_item = w["inputShape"], dt_model, w["inputShape"]
        else:
            item, dt_in, out_item = MODELS.get(model, VISION)
        dt_in = dt_in or dt_model
        info = {"name": w["name"], "inputShape": [batch, *item], "inputDtype": dt_in,
                "outputShape": [batch, *out_item], "outputDtype": dt_model, "fingerprint": "echo", "mode": "echo",
                "kernels": 0, "switches": 0}
        self.add_worker(serving.ServedWorker(w["name"], echo_execute(w["name"], batch, item, out_item, dt_model),
                                             info))
        loaded.append(info)
        progress(f"{w['name']}: echo worker (no model runs)")
    return {"type": "loaded", "workers": loaded, **({"pipelineDepth": 2} if SERVICE_S > 0 else {})}


serving.Serving.load = echo_load

if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    protocol.serve()
