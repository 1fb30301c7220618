"""Drives eclip serve with Triton's own HTTP client, unchanged (run by tritonclient.test.ts). Prints one JSON line."""

import json
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

url = sys.argv[1]
c = httpclient.InferenceServerClient(url=url)
out = {
    "live": c.is_server_live(),
    "ready": c.is_server_ready(),
    "model_ready": c.is_model_ready("albert"),
    "server": c.get_server_metadata()["name"],
    "inputs": c.get_model_metadata("vgg19")["inputs"],
    "max_batch_size": c.get_model_config("albert")["max_batch_size"],
}
ids = np.random.default_rng(0).integers(0, 30000, size=(2, 128), dtype=np.int64)
for binary in (False, True):
    inp = httpclient.InferInput("input_ids", list(ids.shape), "INT64")
    inp.set_data_from_numpy(ids, binary_data=binary)
    req_out = httpclient.InferRequestedOutput("last_hidden_state", binary_data=binary)
    r = c.infer("albert", [inp], outputs=[req_out], request_id="r1")
    key = "albert_binary" if binary else "albert_json"
    out[key] = {
        "simulated": r.get_response()["parameters"]["simulated"],
        "id": r.get_response().get("id"),
        "output": None if r.as_numpy("last_hidden_state") is None else "present",
    }
x = np.zeros((4, 3, 224, 224), dtype=np.float16)
inp = httpclient.InferInput("input", list(x.shape), "FP16")
inp.set_data_from_numpy(x)
out["vgg19"] = c.infer("vgg19", [inp], model_version="1").get_response()["parameters"]["simulated"]
try:
    bad = httpclient.InferInput("input", [1, 3, 224, 225], "FP16")
    bad.set_data_from_numpy(np.zeros((1, 3, 224, 225), dtype=np.float16))
    c.infer("vgg19", [bad])
    out["bad_shape"] = "accepted"
except InferenceServerException as e:
    out["bad_shape"] = str(e)
print(json.dumps(out))
