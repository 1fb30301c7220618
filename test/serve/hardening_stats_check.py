"""tritonclient.http's get_inference_statistics against eclip serve (test/serve/hardening-stats.test.ts starts it):
runs two vgg19 inferences and one bad request, then prints what the client reads, as JSON."""
import json
import sys

import numpy as np
import tritonclient.http as http
from tritonclient.utils import InferenceServerException

c = http.InferenceServerClient(sys.argv[1])
x = http.InferInput("input", [1, 3, 224, 224], "FP16")
x.set_data_from_numpy(np.zeros((1, 3, 224, 224), dtype=np.float16))
for _ in range(2):
    c.infer("vgg19", [x])
bad = http.InferInput("input", [1, 3, 224, 224], "FP32")
bad.set_data_from_numpy(np.zeros((1, 3, 224, 224), dtype=np.float32))
try:
    c.infer("vgg19", [http.InferInput("nope", [1], "FP16")])
except InferenceServerException:
    pass
every = c.get_inference_statistics()
one = c.get_inference_statistics("vgg19")
versioned = c.get_inference_statistics("vgg19", "1")
try:
    c.get_inference_statistics("nosuchmodel")
    unknown = None
except InferenceServerException as e:
    unknown = str(e)
print(json.dumps({"every": every, "one": one, "versioned": versioned, "unknown": unknown,
                  "extensions": c.get_server_metadata()["extensions"]}))
