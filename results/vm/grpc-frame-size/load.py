# tritonclient.grpc load: PROCS processes per model served (default 1) of MODELS (comma-separated names; default
# mix4's: alexnet,resnet152,vgg19), each sending batch-8 fp16 224² images (2.4 MB) one at a time, at RATE requests/s (0: each as soon as the last was answered) for
# DURATION s, as ModelInfer calls (MODE unary, the default), on one ModelStreamInfer stream per process (stream), or
# over HTTP with tritonclient.http's binary tensors (http: HOST:PORT is then the HTTP listener's); prints how many
# were answered, and on stderr the CPU seconds the processes used.
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
mode = sys.argv[5] if len(sys.argv) > 5 else "unary"


def send(model, counts):
    x = np.random.default_rng(1).random((8, 3, 224, 224), dtype=np.float32).astype(np.float16)
    if mode == "http":
        import tritonclient.http as httpclient

        client = httpclient.InferenceServerClient(url)
        inp = httpclient.InferInput("input", list(x.shape), "FP16")
        inp.set_data_from_numpy(x, binary_data=True)
    else:
        client = grpcclient.InferenceServerClient(url)
        inp = grpcclient.InferInput("input", list(x.shape), "FP16")
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
        else:
            client.infer(model, [inp])
        n += 1
        if rate > 0:
            due += 1 / rate
            time.sleep(max(0.0, due - time.perf_counter()))
    if mode == "stream":
        client.stop_stream()
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
