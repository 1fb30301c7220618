"""A stand-in for the GPU backend that answers at once, for bench/engine-path-bench.ts ONLY: no CUDA, no torch, no
Serving, no worker threads. It reads frames as they come and answers every `infer` right away (its output "written"
where the request says: into the client's region it names, nothing is written), so that the server's side of the
boundary, not this process, is what runs out of CPU first. Every reply to the frames of one read leaves in one write.
Numbers taken with it are host numbers of the server alone and must be labelled so.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gpu"))

from eclip_gpu.frames import OUT_FD, FrameReader, _frame_parts, _write_all  # noqa: E402

GPU = {"format": "eclip.gpu/1", "name": "NVIDIA H100 80GB HBM3", "computeCapability": "9.0", "smCount": 132,
       "sliceSize": 8, "smCoscheduledAlignment": 8,
       "slices": [{"id": i, "sms": 8, "remainder": False} for i in range(15)] + [{"id": 15, "sms": 12,
                                                                                   "remainder": True}],
       "measured": {"date": "1970-01-01T00:00:00Z", "method": "instant (no GPU)", "tool": "bench/instant_backend.py"}}
OUT_ITEM = {"albert": [128, 768]}


def reply(msg: dict, shapes: dict) -> dict | None:
    kind = msg.get("type")
    if kind == "infer":
        out = shapes[msg["name"]]
        r = {"type": "output", "id": msg["id"], "shape": [msg["n"], *out], "datatype": "FP16", "computeUs": 0.0}
        if "output" in msg:
            o = msg["output"]
            r["output"] = {"region": o["region"], "offset": o["offset"], "bytes": o["bytes"]}
        return r
    if kind == "hello":
        return {"type": "ready", "gpu": GPU, "versions": {"backend": "instant"}}
    if kind == "load":
        workers = []
        for w in msg["workers"]:
            item = [128] if w["model"] == "albert" else [3, 224, 224]
            shapes[w["name"]] = OUT_ITEM.get(w["model"], [1000])
            workers.append({"name": w["name"], "inputShape": [w["batch"], *item],
                            "inputDtype": "INT64" if w["model"] == "albert" else "FP16",
                            "outputShape": [w["batch"], *shapes[w["name"]]], "outputDtype": "FP16",
                            "fingerprint": "instant", "mode": "instant", "kernels": 0, "switches": 0})
        rings = {n: "refused (instant backend)" for n in msg.get("rings") or {}}
        return {"type": "loaded", "workers": workers, "rings": rings, "pipelineDepth": 2}
    if kind == "power":
        return {"type": "power", "id": msg["id"], "powerW": 0.0, "energyJ": 0.0}
    if kind == "shm-register":
        return {"type": "shm-registered", "id": msg["id"], "name": msg["name"]}
    if kind == "shm-unregister":
        return {"type": "shm-unregistered", "id": msg["id"], "name": msg["name"], "closed": True}
    return {"type": "error", "id": msg.get("id"), "message": f"instant backend: no {kind}", "fatal": False}


def main() -> None:
    frames = FrameReader()
    shapes: dict = {}
    while True:
        parts = []
        try:
            while True:
                msg, _ = frames.next()
                if msg.get("type") == "shutdown":
                    _write_all(OUT_FD, parts)
                    return
                parts += _frame_parts(reply(msg, shapes))
                if not frames.buffered():
                    break
        except EOFError:
            return
        _write_all(OUT_FD, parts)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
