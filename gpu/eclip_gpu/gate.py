"""eclip-rt's gate mechanism (src/plan/realtime.ts, docs/workloads.md): best-effort work steps aside on the GPU itself
while a real-time request runs.

One int32 word in device memory per process counts the real-time requests running. A real-time worker's graph adds 1
before its first kernel and takes it back after its last (a one-thread atomicAdd kernel of its own, captured into the
graph: several real-time workers may overlap); a best-effort worker's graph waits, before each kernel its plan names
(op starts some tens of µs of work apart), until the word is 0 — a stream memory wait (cuStreamWaitValue32) captured
as a graph node, which the GPU's front end holds, so no host thread takes part. What a best-effort worker has running
when a real-time request starts ends its stretch and stops at the next gate: preemption at op boundaries, without
preempting a kernel.

The count must stay exact: a word left above or below 0 holds every best-effort worker for good. So the word is made
before any capture (a word made inside one would have its zeroing captured into that graph, run at each launch), and a
bench run whose work stays held fails after a while instead of waiting for good (arrivals.join_or_stuck, which says
the word's value).
"""

from __future__ import annotations

import ctypes
import threading

from .cuda import BackendError, check, driver, stream_mem_op

ROLES = ("raise", "wait")
_WORD = None
_MADE = threading.Lock()

# one atomic add on the word, of our own: the count must stay exact when real-time graphs raise at the same instant,
# whatever torch's kernels guarantee (compiled once per process with NVRTC)
_ADD_SOURCE = b'extern "C" __global__ void eclip_gate_add(int *word, int delta) { atomicAdd(word, delta); }'


def _compile_add(d):
    """The atomic-add kernel as a CUfunction of the current context, compiled for this GPU with NVRTC."""
    from cuda.bindings import nvrtc  # noqa: PLC0415

    dev = check(d.cuCtxGetDevice(), "cuCtxGetDevice")
    attr = d.CUdevice_attribute
    major, minor = (check(d.cuDeviceGetAttribute(a, dev), "cuDeviceGetAttribute")
                    for a in (attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                              attr.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR))

    def ok(res, what):
        err, *rest = res
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            raise BackendError(f"gate: {what} failed ({err})")
        return rest[0] if len(rest) == 1 else rest

    prog = ok(nvrtc.nvrtcCreateProgram(_ADD_SOURCE, b"eclip_gate.cu", 0, [], []), "nvrtcCreateProgram")
    opts = [f"--gpu-architecture=compute_{major}{minor}".encode()]
    ok(nvrtc.nvrtcCompileProgram(prog, len(opts), opts), "compiling the gate's atomic add")
    size = ok(nvrtc.nvrtcGetPTXSize(prog), "nvrtcGetPTXSize")
    ptx = b" " * size
    ok(nvrtc.nvrtcGetPTX(prog, ptx), "nvrtcGetPTX")
    module = check(d.cuModuleLoadData(ptx), "cuModuleLoadData (gate)")
    return module, check(d.cuModuleGetFunction(module, b"eclip_gate_add"), "cuModuleGetFunction (gate)")


class GateWord:
    """The process's gate word and the captured operations on it."""

    def __init__(self):
        import torch  # noqa: PLC0415

        if torch.cuda.is_current_stream_capturing():
            # its allocation and zeroing would become nodes of the graph being captured (run at each of its launches)
            raise BackendError("gate: the gate word must be made before a graph capture, not during one")
        self.word = torch.zeros(1, dtype=torch.int32, device="cuda")
        d = self._d = driver()
        self._ptr = d.CUdeviceptr(self.word.data_ptr())
        self._wait = stream_mem_op(d, "cuStreamWaitValue32")
        self._eq = d.CUstreamWaitValue_flags.CU_STREAM_WAIT_VALUE_EQ
        self._module, self._add = _compile_add(d)
        # the kernel's arguments, kept alive: cuLaunchKernel reads them through these addresses
        self._arg_word = ctypes.c_void_p(self.word.data_ptr())
        self._args = {}
        for delta in (1, -1):
            v = ctypes.c_int(delta)
            arr = (ctypes.c_void_p * 2)(ctypes.addressof(self._arg_word), ctypes.addressof(v))
            self._args[delta] = (v, arr)

    def _launch_add(self, delta: int) -> None:
        import torch  # noqa: PLC0415

        stream = self._d.CUstream(int(torch.cuda.current_stream().cuda_stream))
        _, arr = self._args[delta]
        check(self._d.cuLaunchKernel(self._add, 1, 1, 1, 1, 1, 1, 0, stream, ctypes.addressof(arr), 0),
              "cuLaunchKernel (gate)")

    def raise_(self) -> None:
        """On the current stream (inside a capture: a node of the graph): one more real-time request running."""
        self._launch_add(1)

    def lower(self) -> None:
        """On the current stream: that request is done."""
        self._launch_add(-1)

    def wait(self, cu_stream) -> None:
        """On `cu_stream` (a driver CUstream; inside a capture: a node of the graph): hold until no real-time request
        runs."""
        check(self._wait(cu_stream, self._ptr, 0, self._eq), "cuStreamWaitValue32 (gate)")

    def value(self) -> int:
        return int(self.word.item())


def word_state(timeout_s: float = 2.0) -> str | None:
    """The process's gate word as a line for a stuck run's error, None where the process has none. Read by a copy on
    a stream of its own, never waited on past `timeout_s`: where the copy does not complete, its queue is held too."""
    if _WORD is None:
        return None
    import time  # noqa: PLC0415

    d = driver()
    host = (ctypes.c_int32 * 1)(-1)
    stream = check(d.cuStreamCreate(d.CUstream_flags.CU_STREAM_NON_BLOCKING), "cuStreamCreate (gate word)")
    check(d.cuMemcpyDtoHAsync(ctypes.addressof(host), _WORD._ptr, 4, stream), "cuMemcpyDtoHAsync (gate word)")
    deadline = time.monotonic() + timeout_s
    while d.cuStreamQuery(stream)[0] == d.CUresult.CUDA_ERROR_NOT_READY:
        if time.monotonic() > deadline:
            return f"gate word unread: its copy did not complete in {timeout_s:g} s"
        time.sleep(0.01)
    d.cuStreamDestroy(stream)
    return f"gate word {host[0]}"


def gate_word() -> GateWord:
    """The process's gate word, made on first use (every gated graph of the process shares it: one word, whichever
    thread captures first)."""
    global _WORD
    with _MADE:
        if _WORD is None:
            _WORD = GateWord()
    return _WORD


def check_gate(name: str, gate: dict | None) -> dict | None:
    """A plan worker's `gate` as the executor needs it, or BackendError naming what is wrong."""
    if gate is None:
        return None
    role = gate.get("role") if isinstance(gate, dict) else None
    if role not in ROLES:
        raise BackendError(f"{name}: gate role {role!r} (known: {', '.join(ROLES)})")
    at = gate.get("atKernels")
    if role == "wait" and (not isinstance(at, list) or not at or any(not isinstance(k, int) or k < 0 for k in at)):
        raise BackendError(f"{name}: a waiting gate needs atKernels, kernel indices ≥ 0")
    return gate


def wait_points(per_op: list[int], at_kernels: list[int]) -> set[int]:
    """The op indices to wait before: for each gate kernel index, the first op whose kernels start at or after it
    (ops launching no kernel share the next op's index; one wait per op at most)."""
    wanted = sorted(set(at_kernels))
    ops: set[int] = set()
    j = 0
    for op, k in enumerate(per_op):
        if j < len(wanted) and k >= wanted[j]:
            ops.add(op)
            while j < len(wanted) and wanted[j] <= k:
                j += 1
    return ops
