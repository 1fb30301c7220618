"""Drives eclip serve's gRPC front-end with Triton's own gRPC client, unchanged (run by grpc-tritonclient.test.ts).

argv: host:port, mode. Mode "echo": the server runs the tests' echo backend (each output starts with the first
input's bytes); every RPC, raw and typed contents, requested outputs, the stream, shared memory, errors. Mode "sim":
the simulator behind `eclip serve` (no outputs); health, metadata and one infer. Prints one JSON line.
"""

import base64
import json
import os
import queue
import sys

import grpc
import numpy as np
import tritonclient.grpc as g
import tritonclient.utils.shared_memory as shm
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

url, mode = sys.argv[1], sys.argv[2]
c = g.InferenceServerClient(url=url)
IMAGE = 3 * 224 * 224 * 2
LOGITS = 1000 * 2


def refused(f):
    """[gRPC status, message] of a call that should fail."""
    try:
        f()
        return "accepted"
    except InferenceServerException as e:
        return [e.status(), e.message()]


def image(n, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, 3, 224, 224)).astype(np.float16)
    i = g.InferInput("input", list(x.shape), "FP16")
    i.set_data_from_numpy(x)
    return x, i


out = {
    "live": c.is_server_live(),
    "ready": c.is_server_ready(),
    "model_ready": c.is_model_ready("vgg19"),
    "unknown_ready": c.is_model_ready("nope"),
    "server": c.get_server_metadata().name,
    "extensions": list(c.get_server_metadata().extensions),
    "inputs": c.get_model_metadata("vgg19", as_json=True)["inputs"],
}
cfg = c.get_model_config("albert", as_json=True)["config"]
out["config"] = {k: cfg[k] for k in ("name", "max_batch_size", "input", "output")}

if mode == "sim":
    x, i = image(1)
    r = c.infer("vgg19", [i], request_id="s1")
    out["infer"] = {
        "id": r.get_response().id,
        "simulated": r.get_response(as_json=True)["parameters"]["simulated"]["bool_param"],
        "logits": None if r.as_numpy("logits") is None else "present",
    }
    print(json.dumps(out))
    sys.exit(0)

# raw contents both ways, a requested output, a version
x, i = image(2)
r = c.infer("vgg19", [i], outputs=[g.InferRequestedOutput("logits")], request_id="r1", model_version="1")
logits = r.as_numpy("logits")
out["vgg19"] = {
    "id": r.get_response().id,
    "shape": list(logits.shape),
    "echo": bool(np.array_equal(logits.reshape(-1), x.reshape(-1)[:2000])),
}
ids = np.random.default_rng(1).integers(0, 30000, size=(2, 128), dtype=np.int64)
a = g.InferInput("input_ids", list(ids.shape), "INT64")
a.set_data_from_numpy(ids)
h = c.infer("albert", [a]).as_numpy("last_hidden_state")
out["albert"] = {
    "shape": list(h.shape),
    "echo": bool(np.array_equal(h.reshape(-1).view(np.uint8)[: ids.nbytes], ids.reshape(-1).view(np.uint8))),
}

# typed contents (tritonclient always sends raw bytes: through the generated stub, as other clients may send them)
stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(url))
req = service_pb2.ModelInferRequest(model_name="albert", id="typed")
t = req.inputs.add(name="input_ids", datatype="INT64", shape=[1, 128])
t.contents.int64_contents.extend(range(128))
res = stub.ModelInfer(req)
out["typed"] = np.frombuffer(res.raw_output_contents[0][:1024], dtype=np.int64).tolist() == list(range(128))
bad = service_pb2.ModelInferRequest(model_name="vgg19")
bad.inputs.add(name="input", datatype="FP16", shape=[1, 3, 224, 224]).contents.fp32_contents.extend([0.0])
try:
    stub.ModelInfer(bad)
    out["typed_fp16"] = "accepted"
except grpc.RpcError as e:
    out["typed_fp16"] = [str(e.code()), e.details()]

# errors
_, one = image(1)
out["unknown_model"] = refused(lambda: c.infer("nope", [one]))
out["bad_version"] = refused(lambda: c.infer("vgg19", [one], model_version="9"))
wrong = g.InferInput("input", [1, 3, 224, 225], "FP16")
wrong.set_data_from_numpy(np.zeros((1, 3, 224, 225), dtype=np.float16))
out["bad_shape"] = refused(lambda: c.infer("vgg19", [wrong]))
i32 = g.InferInput("input_ids", [1, 128], "INT32")
i32.set_data_from_numpy(np.zeros((1, 128), dtype=np.int32))
out["bad_datatype"] = refused(lambda: c.infer("albert", [i32]))
try:
    stats = c.get_inference_statistics("vgg19", as_json=True)["model_stats"]
    out["statistics"] = [s["name"] for s in stats]
except InferenceServerException as e:
    out["statistics"] = [e.status(), e.message()]

# the stream: answers matched by id, a failure as an error
answers = queue.Queue()
c.start_stream(callback=lambda result, error: answers.put((result, error)))
c.async_stream_infer("vgg19", [one], request_id="s1")
c.async_stream_infer("nope", [one], request_id="s2")
c.async_stream_infer("vgg19", [one], request_id="s3")
got = [answers.get(timeout=20) for _ in range(3)]
c.stop_stream()
out["stream"] = sorted(
    [r.get_response().id, r.as_numpy("logits").shape[0]] if r is not None else ["error", e.message()] for r, e in got
)

# system shared memory: the input read from a region, the output written to one
key = f"/eclip_grpc_check_{os.getpid()}"
region = shm.create_shared_memory_region("io", key, IMAGE + LOGITS)
try:
    xs = np.random.default_rng(2).standard_normal((1, 3, 224, 224)).astype(np.float16)
    shm.set_shared_memory_region(region, [xs])
    c.register_system_shared_memory("in", key, IMAGE)
    c.register_system_shared_memory("out", key, LOGITS, offset=IMAGE)
    status = c.get_system_shared_memory_status(as_json=True)["regions"]
    out["shm_status"] = sorted(status)
    out["shm_twice"] = refused(lambda: c.register_system_shared_memory("in", key, IMAGE))
    si = g.InferInput("input", [1, 3, 224, 224], "FP16")
    si.set_shared_memory("in", IMAGE)
    so = g.InferRequestedOutput("logits")
    so.set_shared_memory("out", LOGITS)
    r = c.infer("vgg19", [si], outputs=[so])
    p = r.get_output("logits").parameters
    out["shm_output"] = [p["shared_memory_region"].string_param, p["shared_memory_byte_size"].int64_param]
    small = g.InferRequestedOutput("logits")
    small.set_shared_memory("out", LOGITS // 2)
    out["shm_too_small"] = refused(lambda: c.infer("vgg19", [si], outputs=[small]))
    c.unregister_system_shared_memory("in")
    out["shm_after_unregister"] = refused(lambda: c.infer("vgg19", [si]))
    c.unregister_system_shared_memory()
    out["shm_empty"] = c.get_system_shared_memory_status(as_json=True).get("regions", {})
finally:
    shm.destroy_shared_memory_region(region)

# CUDA shared memory: the simulator records a well-formed handle (no GPU to open it on); the client takes the
# handle in base64, as cuda_shared_memory.get_raw_handle gives it
c.register_cuda_shared_memory("dev", base64.b64encode(bytes(range(64))), 0, 1024)
out["cuda_status"] = c.get_cuda_shared_memory_status(as_json=True)["regions"]["dev"]
out["cuda_bad_handle"] = refused(lambda: c.register_cuda_shared_memory("bad", base64.b64encode(bytes(8)), 0, 1024))
c.unregister_cuda_shared_memory()
out["cuda_empty"] = c.get_cuda_shared_memory_status(as_json=True).get("regions", {})
print(json.dumps(out))
