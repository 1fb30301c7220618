"""Drives `eclip serve --backend gpu` with Triton's HTTP client and its CUDA shared-memory utilities, unchanged (run
by serve-shm-tritonclient.test.ts on a GPU machine): the input and the output in device buffers of this process,
registered by their IPC handles; the output compared with the same request sent as binary data. Prints one JSON
line."""

import json
import sys

import numpy as np
import tritonclient.http as httpclient
import tritonclient.utils.cuda_shared_memory as cudashm
from tritonclient.utils import InferenceServerException

url, batch = sys.argv[1], int(sys.argv[2])
c = httpclient.InferenceServerClient(url=url)
x = np.random.default_rng(2).standard_normal((batch, 3, 224, 224)).astype(np.float16)
out_bytes = batch * 1000 * 2
h_in = cudashm.create_shared_memory_region("cin", x.nbytes, 0)
h_out = cudashm.create_shared_memory_region("cout", out_bytes, 0)
out = {}
try:
    cudashm.set_shared_memory_region(h_in, [x])
    c.register_cuda_shared_memory("cin", cudashm.get_raw_handle(h_in), 0, x.nbytes)
    c.register_cuda_shared_memory("cout", cudashm.get_raw_handle(h_out), 0, out_bytes)
    out["status"] = sorted(r["name"] for r in c.get_cuda_shared_memory_status())
    inp = httpclient.InferInput("input", list(x.shape), "FP16")
    inp.set_shared_memory("cin", x.nbytes)
    req_out = httpclient.InferRequestedOutput("logits", binary_data=True)
    req_out.set_shared_memory("cout", out_bytes)
    r = c.infer("alexnet", [inp], outputs=[req_out])
    out["response_outputs"] = r.get_response()["outputs"]
    got = cudashm.get_contents_as_numpy(h_out, np.float16, [batch, 1000])
    ref_in = httpclient.InferInput("input", list(x.shape), "FP16")
    ref_in.set_data_from_numpy(x, binary_data=True)
    ref = c.infer("alexnet", [ref_in]).as_numpy("logits")
    out["equal_to_binary"] = bool(np.array_equal(got, ref))
    out["finite"] = bool(np.isfinite(got.astype(np.float32)).all())
    try:
        c.register_cuda_shared_memory("cin", cudashm.get_raw_handle(h_in), 0, x.nbytes)
        out["twice"] = "accepted"
    except InferenceServerException as e:
        out["twice"] = str(e)
    c.unregister_cuda_shared_memory()
    out["after_unregister_all"] = c.get_cuda_shared_memory_status()
finally:
    cudashm.destroy_shared_memory_region(h_in)
    cudashm.destroy_shared_memory_region(h_out)
print(json.dumps(out))
