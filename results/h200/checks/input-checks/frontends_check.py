# eclip serve with front-end processes on the GPU backend: Triton's clients over HTTP and gRPC, statistics as asked,
# the errors this session changed. Prints one line per check and "ALL OK" when every one passed.
import http.client
import sys

import numpy as np
import tritonclient.grpc as gc
import tritonclient.http as hc
from tritonclient.utils import InferenceServerException

http_url, grpc_url = sys.argv[1], sys.argv[2]
ok = True


def check(name, cond, info=""):
    global ok
    ok &= bool(cond)
    print(("PASS " if cond else "FAIL ") + name + (f" ({info})" if info else ""), flush=True)


x = np.random.default_rng(1).random((8, 3, 224, 224), dtype=np.float32).astype(np.float16)
h = hc.InferenceServerClient(http_url)
g = gc.InferenceServerClient(grpc_url)
hi = hc.InferInput("input", list(x.shape), "FP16")
hi.set_data_from_numpy(x, binary_data=True)
gi = gc.InferInput("input", list(x.shape), "FP16")
gi.set_data_from_numpy(x)
a = h.infer("alexnet", [hi]).as_numpy("logits")
b = g.infer("alexnet", [gi]).as_numpy("logits")
check("HTTP and gRPC infer: real logits, equal", a is not None and a.shape == (8, 1000) and np.array_equal(a, b), f"{None if a is None else a.shape}")


def successes(stats):
    return int(stats["model_stats"][0]["inference_stats"]["success"]["count"])


s0 = successes(g.get_inference_statistics("alexnet", as_json=True))
g.infer("alexnet", [gi])
s1 = successes(g.get_inference_statistics("alexnet", as_json=True))
check("gRPC statistics count a request answered just before", s1 == s0 + 1, f"{s0} -> {s1}")
sh = successes(h.get_inference_statistics("alexnet"))
check("HTTP and gRPC statistics agree", sh == s1, f"http {sh}, grpc {s1}")
try:
    out = gc.InferRequestedOutput("logits", class_count=3)
    g.infer("alexnet", [gi], outputs=[out])
    check("classification refused", False, "answered")
except InferenceServerException as e:
    check("classification refused", "classification" in str(e), str(e)[:160])
c = http.client.HTTPConnection(*http_url.split(":"))
c.request("POST", "/v2/models/alex%zznet/infer", body="{}", headers={"content-type": "application/json"})
r = c.getresponse()
body = r.read().decode()
check("a bad URL: 400 in the server's shape", r.status == 400 and body == '{"error":"the URL is not valid (bad percent-encoding)"}', body)
print("ALL OK" if ok else "SOME FAILED")
