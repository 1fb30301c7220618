"""serve-bench's cuda-shm client on a GPU: its device buffers (cuda-bindings) hold what was copied in and give it back,
and their IPC handles open in another process (as the server's backend opens them: eclip_gpu.regions) onto the same
bytes. The whole client against eclip serve runs in gpu/scripts/device-serve-bench.sh (serve-bench --transport
cuda-shm). Skips without a GPU (conftest.py)."""

import base64
import ctypes
import os
import subprocess
import sys
from pathlib import Path

from eclip_gpu import loadgen_cuda_shm as lg

GPU_DIR = Path(__file__).resolve().parents[1]


def test_device_buffers_copy_both_ways_and_open_from_another_process():
    ok, name = lg.device_check()
    assert ok, name
    dev = lg.CudaDevice(0)
    data = bytes(range(256)) * 16
    ptr = dev.alloc(len(data) + 64)
    try:
        dev.to_device(ptr + 64, data)
        back = ctypes.create_string_buffer(len(data))
        dev.to_host(back, ptr + 64, len(data))
        assert bytes(back) == data
        handle = dev.ipc_handle(ptr)
        assert len(handle) == lg.IPC_HANDLE_BYTES
        # the server's side: another process opens the handle and reads the same bytes
        child = (
            "import base64, sys\n"
            "from eclip_gpu.regions import open_cuda_ipc\n"
            f"t, close = open_cuda_ipc(base64.b64decode('{base64.b64encode(handle).decode()}'), 0, {len(data) + 64})\n"
            "sys.stdout.write(bytes(t[64:].cpu().numpy()).hex())\n"
            "close()\n"
        )
        r = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(GPU_DIR)})
        assert r.returncode == 0, r.stderr
        assert bytes.fromhex(r.stdout) == data
    finally:
        dev.free(ptr)
