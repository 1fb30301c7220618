"""serve-bench's cuda-shm client (gpu/eclip_gpu/loadgen_cuda_shm.py) with host memory in place of CUDA device
buffers, for serve-bench-transports.test.ts on a machine without a GPU: everything but the CUDA calls is the real
client (the JSON-lines protocol with the TS side, registration, closed loops, the time base, clean-up)."""

import ctypes
import sys

from eclip_gpu import loadgen_cuda_shm as lg


class HostDevice:
    def __init__(self, device_id):
        self.device_id = device_id
        self.buffers = {}

    def bind_thread(self):
        pass

    def alloc(self, n):
        buf = ctypes.create_string_buffer(n)
        self.buffers[ctypes.addressof(buf)] = buf
        return ctypes.addressof(buf)

    def free(self, ptr):
        del self.buffers[ptr]

    def to_device(self, ptr, data):
        ctypes.memmove(ptr, data, len(data))

    def to_host(self, host, ptr, n):
        ctypes.memmove(ctypes.addressof(host), ptr, n)

    def ipc_handle(self, ptr):
        return ptr.to_bytes(8, "little") + bytes(lg.IPC_HANDLE_BYTES - 8)


lg.CudaDevice = HostDevice
lg.device_check = lambda: (True, "host memory (test)")
_run = lg.run
lg.run = lambda spec, lines, send, dev_factory=HostDevice: _run(spec, lines, send, dev_factory)
sys.exit(lg.main(sys.argv[1:]))
