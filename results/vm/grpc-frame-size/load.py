# tritonclient load: PROCS processes per model served (default 1) of MODELS (comma-separated names; default
# mix4's: alexnet,resnet152,vgg19), each sending fp16 224² images in batches of BATCH (default 8: 2.4 MB) one at a
# time, at RATE requests/s (0: each as soon as the last was answered) for DURATION s, as ModelInfer calls (MODE
# unary, the default), on one ModelStreamInfer stream per process (stream), or over HTTP with tritonclient.http's
# binary tensors (http: HOST:PORT is then the HTTP listener's); grpc-shm and http-shm: the same calls naming system
# shared-memory regions of the process's own, each request's tensor written into its input region first and its
# output read back from its output region. Prints how many were answered, and on stderr the CPU seconds the
# processes used.
# Usage: python load.py HOST:PORT RATE DURATION [PROCS] [MODE]
import multiprocessing as mp
import os
import queue
import resource
import sys
import time

import numpy as np
import tritonclient.grpc as grpcclient

url, rate, duration = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
procs_per_model = int(sys.argv[4]) if len(sys.argv) > 4 else 1
batch = int(os.environ.get("BATCH", "8"))
mode = sys.argv[5] if len(sys.argv) > 5 else "unary"


def send(model, counts):
    x = np.random.default_rng(1).random((batch, 3, 224, 224), dtype=np.float32).astype(np.float16)
    lib = grpcclient
    if mode.startswith("http"):
        import tritonclient.http as lib
    client = lib.InferenceServerClient(url)
    inp = lib.InferInput("input", list(x.shape), "FP16")
    outputs, regions = None, []
    if mode.endswith("shm"):
        import tritonclient.utils.shared_memory as shm

        tag = f"{os.getpid()}"
        sizes = {"in": x.nbytes, "out": batch * 1000 * 2}  # the zoo's image models: (batch, 1000) fp16 logits
        for k, size in sizes.items():
            regions.append(shm.create_shared_memory_region(f"{k}{tag}", f"/load_{k}_{tag}", size))
            client.register_system_shared_memory(f"{k}{tag}", f"/load_{k}_{tag}", size)
        inp.set_shared_memory(f"in{tag}", sizes["in"])
        out = lib.InferRequestedOutput("logits")
        out.set_shared_memory(f"out{tag}", sizes["out"])
        outputs = [out]
    elif mode == "http":
        inp.set_data_from_numpy(x, binary_data=True)
    else:
        inp.set_data_from_numpy(x)
    answers = queue.Queue()
    if mode == "stream":
        client.start_stream(callback=lambda result, error: answers.put(error))
    n, t0 = 0, time.perf_counter()
    due = t0
    while time.perf_counter() - t0 < duration:
        if mode == "stream":
            client.async_stream_infer(model, [inp])
            error = answers.get()
            if error is not None:
                raise error
        elif regions:
            shm.set_shared_memory_region(regions[0], [x])
            client.infer(model, [inp], outputs=outputs)
            shm.get_contents_as_numpy(regions[1], np.float16, [batch, 1000])
        else:
            client.infer(model, [inp])
        n += 1
        if rate > 0:
            due += 1 / rate
            time.sleep(max(0.0, due - time.perf_counter()))
    if mode == "stream":
        client.stop_stream()
    for r in regions:
        shm.destroy_shared_memory_region(r)
    counts.put(n)


if __name__ == "__main__":
    counts = mp.Queue()
    models = tuple(os.environ.get("MODELS", "alexnet,resnet152,vgg19").split(",")) * procs_per_model
    procs = [mp.Process(target=send, args=(m, counts)) for m in models]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    print(sum(counts.get() for _ in procs))
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(f"clients_cpu_s {used.ru_utime + used.ru_stime:.2f}", file=sys.stderr)
