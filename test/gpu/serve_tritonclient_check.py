"""Drives `eclip serve --backend gpu` with Triton's own HTTP client, unchanged (run by serve-tritonclient.test.ts on
a GPU machine). Prints one JSON line: what the test asserts on."""

import json
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

url, batch = sys.argv[1], int(sys.argv[2])
c = httpclient.InferenceServerClient(url=url)
out = {"live": c.is_server_live(), "ready": c.is_server_ready(), "model_ready": c.is_model_ready("albert")}
n = min(2, batch)
ids = np.random.default_rng(0).integers(0, 30000, size=(n, 128), dtype=np.int64)
got = {}
for binary in (False, True):
    inp = httpclient.InferInput("input_ids", list(ids.shape), "INT64")
    inp.set_data_from_numpy(ids, binary_data=binary)
    req_out = httpclient.InferRequestedOutput("last_hidden_state", binary_data=binary)
    r = c.infer("albert", [inp], outputs=[req_out], request_id="r1")
    a = r.as_numpy("last_hidden_state")
    got[binary] = a
    out["albert_binary" if binary else "albert_json"] = {
        "simulated": r.get_response()["parameters"].get("simulated"),
        "id": r.get_response().get("id"),
        "shape": None if a is None else list(a.shape),
        "dtype": None if a is None else str(a.dtype),
        "finite": None if a is None else bool(np.isfinite(a.astype(np.float32)).all()),
    }
# the same input twice (JSON, then binary): the graph is deterministic, so the outputs are equal
out["json_equals_binary"] = bool(got[False] is not None and np.array_equal(got[False], got[True]))
x = np.random.default_rng(1).standard_normal((batch, 3, 224, 224)).astype(np.float16)
inp = httpclient.InferInput("input", list(x.shape), "FP16")
inp.set_data_from_numpy(x, binary_data=True)
logits = c.infer("alexnet", [inp], model_version="1").as_numpy("logits")
out["alexnet"] = {"shape": list(logits.shape), "finite": bool(np.isfinite(logits.astype(np.float32)).all())}
# the same image as FP32: converted to FP16 by the backend, the same logits
inp32 = httpclient.InferInput("input", list(x.shape), "FP32")
inp32.set_data_from_numpy(x.astype(np.float32), binary_data=True)
out["alexnet_fp32_equal"] = bool(np.array_equal(c.infer("alexnet", [inp32]).as_numpy("logits"), logits))
try:
    bad = httpclient.InferInput("input", [1, 3, 224, 225], "FP16")
    bad.set_data_from_numpy(np.zeros((1, 3, 224, 225), dtype=np.float16))
    c.infer("alexnet", [bad])
    out["bad_shape"] = "accepted"
except InferenceServerException as e:
    out["bad_shape"] = str(e)
print(json.dumps(out))
