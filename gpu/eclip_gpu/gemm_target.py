"""GEMMs chosen for a partition's SM count (the GEMM target, docs/design.md §7).

A green context limits the SMs a stream's kernels run on, but the device still reports all of them, so cuBLAS picks
each matrix product's kernel (tile shape, split) for the whole GPU. cuBLASLt takes a target SM count per call
(CUBLASLT_MATMUL_DESC_SM_COUNT_TARGET), which PyTorch sets from its experimental SM carve-out when cuBLASLt is the
preferred BLAS library: a carve-out of (GPU's SMs − partition's SMs) makes it pick for the partition. Both are
process-wide settings read on the host at each GEMM call, so they matter while a graph is captured (and warmed up),
not when it is replayed: set them around the ops a partition's kernels come from, then restore torch's defaults.
Convolutions (cuDNN) take no such target.
"""

from __future__ import annotations

import contextlib
import threading

# held by every capture (execute.prepare_worker, op_kernel_starts): the settings are the process's, so a thread
# capturing while another sets them (model control while the live table is captured) would pick the other's GEMMs
CAPTURE_LOCK = threading.RLock()


def set_target(sms: int | None, total: int) -> None:
    """GEMMs from here on picked for `sms` SMs (cuBLASLt, carve-out total − sms); None or the whole GPU: torch's
    defaults (cuBLAS, no carve-out), what every capture without a target uses."""
    import torch  # noqa: PLC0415

    if sms is None or sms >= total:
        torch._C._set_sm_carveout_experimental(None)
        torch.backends.cuda.preferred_blas_library("cublas")
    else:
        torch.backends.cuda.preferred_blas_library("cublaslt")
        torch._C._set_sm_carveout_experimental(total - sms)


@contextlib.contextmanager
def targeted(sms: int | None, total: int | None):
    """GEMMs picked for `sms` SMs inside the block; torch's defaults after it, whatever happens inside. `total` None:
    no target at all, the settings left alone."""
    if total is None:
        yield
        return
    set_target(sms, total)
    try:
        yield
    finally:
        set_target(None, total)
