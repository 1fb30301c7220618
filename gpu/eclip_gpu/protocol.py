"""The Python side of the TypeScript <-> GPU backend boundary (the TS side is src/execute/gpu/protocol.ts).

Frames on dedicated pipes (fd 3: TS -> Python, fd 4: Python -> TS), never stdout, so a stray print cannot corrupt
the stream: [u32 total length][u32 header length][JSON header][raw bytes], little-endian; total = 4 + header + body.
Messages (header "type"):
  TS -> Py   hello {}                                   -> ready {gpu, versions}
             run {key, plan, mode, warmupS, windowS, checkOutputs}
                                                        -> progress {key, message}*, then result {key, ...} or error
             shutdown {}                                -> (exit 0)
  Py -> TS   error {message, fatal}: fatal means the CUDA context is poisoned; the process exits 3 right after.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import time
import traceback

IN_FD, OUT_FD = 3, 4


def encode(header: dict, body: bytes = b"") -> bytes:
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<II", 4 + len(h) + len(body), len(h)) + h + body


def _read_exact(fd: int, n: int) -> bytes:
    chunks = []
    while n:
        b = os.read(fd, n)
        if not b:
            raise EOFError
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)


def read_frame(fd: int = IN_FD) -> tuple[dict, bytes]:
    (total,) = struct.unpack("<I", _read_exact(fd, 4))
    data = _read_exact(fd, total)
    (hlen,) = struct.unpack("<I", data[:4])
    return json.loads(data[4 : 4 + hlen]), data[4 + hlen :]


def send(header: dict, body: bytes = b"", fd: int = OUT_FD) -> None:
    data = encode(header, body)
    while data:
        n = os.write(fd, data)
        data = data[n:]


FATAL_MARKERS = ("illegal memory access", "launch failure", "unspecified launch", "CUDA_ERROR_ILLEGAL", "misaligned")


def serve() -> None:
    """The backend loop: one request at a time, in order. Dies loudly (exit 3) on a poisoned CUDA context."""
    from .runner import Runner  # noqa: PLC0415 - imports torch

    runner = None
    while True:
        try:
            msg, _ = read_frame()
        except EOFError:
            return
        kind = msg.get("type")
        try:
            if kind == "hello":
                runner = runner or Runner()
                send({"type": "ready", "gpu": runner.gpu, "versions": runner.versions})
            elif kind == "run":
                runner = runner or Runner()
                key = msg.get("key", "")
                result = runner.run(msg, progress=lambda m, k=key: send({"type": "progress", "key": k, "message": m}))
                send({"type": "result", "key": key, **result})
            elif kind == "shutdown":
                if runner:
                    runner.close()
                return
            else:
                send({"type": "error", "message": f"unknown message type {kind!r}", "fatal": False})
        except Exception as e:  # noqa: BLE001 - every failure is reported to the TS side
            text = f"{type(e).__name__}: {e}"
            fatal = any(m in text for m in FATAL_MARKERS)
            send({"type": "error", "key": msg.get("key"), "message": text, "fatal": fatal,
                  "trace": traceback.format_exc(limit=6)})
            if fatal:
                sys.stderr.write(f"eclip_gpu: fatal CUDA error, exiting so the process can be restarted: {text}\n")
                sys.stderr.flush()
                os._exit(3)


def main() -> None:
    serve()


if __name__ == "__main__":
    t0 = time.time()
    main()
