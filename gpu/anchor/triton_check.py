"""Checks a running Triton (anchor/triton_repo.py's repository) against the eager model: per model, the zoo's
example input sent over KServe v2 HTTP with binary tensors, the answer compared with the same model built here
(zoo.build: the same seed, so the same weights and input). Prints one line per model; exit 1 if any differs or fails.

Usage: python -m anchor.triton_check --url http://127.0.0.1:8000 --config SERVE.json [--atol 0.05]
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import urllib.parse
from pathlib import Path

from anchor.triton_repo import inputs_of, outputs_of
from eclip_gpu import zoo


def infer_binary(url: str, model: str, inputs: list[tuple[str, str, list[int], bytes]], output: str) -> bytes:
    """One KServe v2 infer with binary tensors (Triton's binary-data extension); returns the output's bytes."""
    head = json.dumps({
        "inputs": [{"name": n, "datatype": dt, "shape": s, "parameters": {"binary_data_size": len(b)}}
                   for n, dt, s, b in inputs],
        "outputs": [{"name": output, "parameters": {"binary_data": True}}],
    }).encode()
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=120)
    conn.request("POST", f"/v2/models/{model}/infer", head + b"".join(b for *_, b in inputs),
                 {"Inference-Header-Content-Length": str(len(head)), "Content-Type": "application/octet-stream"})
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        raise RuntimeError(f"{model}: HTTP {r.status}: {body[:300]!r}")
    n = r.getheader("Inference-Header-Content-Length")
    if n is None or int(n) >= len(body):
        raise RuntimeError(f"{model}: no binary output in the answer ({dict(r.getheaders())}): {body[:300]!r}")
    return body[int(n):]


def check(url: str, m: dict, atol: float) -> tuple[bool, str]:
    import torch  # noqa: PLC0415

    built = zoo.build(m["model"], int(m.get("batch", 1)), m.get("dtype", "fp16"))
    x = built.inputs[0]
    name, datatype, _ = inputs_of(m["model"], built.dtype)[0]
    with torch.inference_mode():
        want = built.forward().float().cpu()
    out_name = outputs_of(m["model"], built.dtype)[0][0]
    got_bytes = infer_binary(url, m["name"], [(name, datatype, list(x.shape), x.cpu().numpy().tobytes())], out_name)
    got = torch.frombuffer(bytearray(got_bytes), dtype=getattr(torch, zoo.DTYPES[built.dtype]))
    got = got.float().reshape(want.shape)
    diff = (got - want).abs().max().item()
    return diff <= atol, f"{m['name']} ({m['model']}, batch {x.shape[0]}): max |Triton − eager| = {diff:.3g}"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--atol", type=float, default=0.05)
    a = ap.parse_args(argv)
    ok = True
    for m in json.loads(Path(a.config).read_text())["models"]:
        try:
            good, line = check(a.url, m, a.atol)
        except Exception as e:  # noqa: BLE001 - one model's failure is reported, the others still checked
            good, line = False, f"{m.get('name')}: {e}"
        ok &= good
        print(("ok   " if good else "FAIL ") + line, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
