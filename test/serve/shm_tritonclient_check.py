"""Drives eclip serve's shared-memory extensions with Triton's own HTTP client and shared-memory utilities, unchanged
(run by shm-tritonclient.test.ts on the simulator, and by test/gpu/serve-shm-tritonclient.test.ts on a GPU with
`--real`: outputs then land in the region and are compared with the same request sent as binary data). Prints one
JSON line."""

import json
import os
import subprocess
import sys

import numpy as np
import tritonclient.http as httpclient
import tritonclient.utils.shared_memory as shm
from tritonclient.utils import InferenceServerException

url, batch = sys.argv[1], int(sys.argv[2])
real = "--real" in sys.argv
c = httpclient.InferenceServerClient(url=url)
out = {"extensions": c.get_server_metadata()["extensions"]}
tag = f"{os.getpid()}"

x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224)).astype(np.float16)
in_bytes, out_bytes = x.nbytes, batch * 1000 * 2
h_in = shm.create_shared_memory_region(f"in{tag}", f"/eclip_in_{tag}", in_bytes)
h_out = shm.create_shared_memory_region(f"out{tag}", f"/eclip_out_{tag}", out_bytes)
try:
    shm.set_shared_memory_region(h_in, [x])
    c.register_system_shared_memory(f"in{tag}", f"/eclip_in_{tag}", in_bytes)
    c.register_system_shared_memory(f"out{tag}", f"/eclip_out_{tag}", out_bytes)
    out["status"] = sorted(r["name"] for r in c.get_system_shared_memory_status())
    out["status_one"] = c.get_system_shared_memory_status(f"in{tag}")

    inp = httpclient.InferInput("input", list(x.shape), "FP16")
    inp.set_shared_memory(f"in{tag}", in_bytes)
    req_out = httpclient.InferRequestedOutput("logits", binary_data=True)
    req_out.set_shared_memory(f"out{tag}", out_bytes)
    r = c.infer("alexnet", [inp], outputs=[req_out], request_id="s1")
    resp = r.get_response()
    out["response_outputs"] = resp["outputs"]
    out["simulated"] = resp["parameters"].get("simulated")
    if real:
        got = shm.get_contents_as_numpy(h_out, np.float16, [batch, 1000])
        ref_in = httpclient.InferInput("input", list(x.shape), "FP16")
        ref_in.set_data_from_numpy(x, binary_data=True)
        ref = c.infer("alexnet", [ref_in]).as_numpy("logits")
        out["equal_to_binary"] = bool(np.array_equal(got, ref))
        out["finite"] = bool(np.isfinite(got.astype(np.float32)).all())
        # FP32 in shared memory for an FP16 model: converted on the GPU, the same logits
        x32 = x.astype(np.float32)
        h32 = shm.create_shared_memory_region(f"in32{tag}", f"/eclip_in32_{tag}", x32.nbytes)
        shm.set_shared_memory_region(h32, [x32])
        c.register_system_shared_memory(f"in32{tag}", f"/eclip_in32_{tag}", x32.nbytes)
        i32 = httpclient.InferInput("input", list(x.shape), "FP32")
        i32.set_shared_memory(f"in32{tag}", x32.nbytes)
        c.infer("alexnet", [i32], outputs=[req_out])
        out["fp32_equal"] = bool(np.array_equal(shm.get_contents_as_numpy(h_out, np.float16, [batch, 1000]), ref))
        c.unregister_system_shared_memory(f"in32{tag}")
        shm.destroy_shared_memory_region(h32)

    def error(fn):
        try:
            fn()
            return "accepted"
        except InferenceServerException as e:
            return str(e)

    out["twice"] = error(lambda: c.register_system_shared_memory(f"in{tag}", f"/eclip_in_{tag}", in_bytes))
    out["no_key"] = error(lambda: c.register_system_shared_memory("nokey", "/eclip_no_such_key", 16))
    out["past_end"] = error(lambda: c.register_system_shared_memory("past", f"/eclip_in_{tag}", in_bytes, offset=8))
    unknown = httpclient.InferInput("input", list(x.shape), "FP16")
    unknown.set_shared_memory("no_such_region", in_bytes)
    out["unknown_region"] = error(lambda: c.infer("alexnet", [unknown]))
    small = httpclient.InferInput("input", list(x.shape), "FP16")
    small.set_shared_memory(f"in{tag}", in_bytes, offset=2)
    out["too_small"] = error(lambda: c.infer("alexnet", [small]))
    wrong = httpclient.InferInput("input", list(x.shape), "FP32")
    wrong.set_shared_memory(f"in{tag}", in_bytes)
    out["wrong_size"] = error(lambda: c.infer("alexnet", [wrong]))

    # a client that dies with its region registered: the server goes on, the region can still be unregistered
    child = (
        "import sys, os, tritonclient.http as h, tritonclient.utils.shared_memory as s\n"
        f"r = s.create_shared_memory_region('dead{tag}', '/eclip_dead_{tag}', 4096)\n"
        f"h.InferenceServerClient(url='{url}').register_system_shared_memory('dead{tag}', '/eclip_dead_{tag}', 4096)\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", child], check=True)
    out["dead_listed"] = f"dead{tag}" in [r["name"] for r in c.get_system_shared_memory_status()]
    out["after_dead"] = c.infer("alexnet", [inp], outputs=[req_out]).get_response()["model_name"]
    c.unregister_system_shared_memory(f"dead{tag}")
    c.unregister_system_shared_memory()
    out["after_unregister_all"] = c.get_system_shared_memory_status()
finally:
    shm.destroy_shared_memory_region(h_in)
    shm.destroy_shared_memory_region(h_out)
    try:
        os.unlink(f"/dev/shm/eclip_dead_{tag}")
    except OSError:
        pass
print(json.dumps(out))
