"""GEMMs chosen for a partition's SM count (the GEMM target, docs/design.md §7).

A green context limits the SMs a stream's kernels run on, but the device still reports all of them, so cuBLAS picks
each matrix product's kernel (tile shape, split) for the whole GPU. cuBLASLt takes a target SM count per call
(CUBLASLT_MATMUL_DESC_SM_COUNT_TARGET), which PyTorch sets from its experimental SM carve-out when cuBLASLt is the
preferred BLAS library: a carve-out of (GPU's SMs − partition's SMs) makes it pick for the partition. Both are
process-wide settings read on the host at each GEMM call, so they matter while a graph is captured (and warmed up),
not when it is replayed: set them around the ops a partition's kernels come from, then put them back.
Convolutions (cuDNN) take no such target.
"""

from __future__ import annotations

import contextlib
import threading

# held by every capture (execute.prepare_worker, op_kernel_starts): the settings are the process's, so a thread
# capturing while another sets them (model control while the live table is captured) would pick the other's GEMMs
CAPTURE_LOCK = threading.RLock()


# torch's settings as they were when the outermost targeted() block began: what "no target" restores (cuBLAS and no
# carve-out unless the user chose otherwise, e.g. TORCH_BLAS_PREFER_CUBLASLT=1, which the profiles were then made with)
_untargeted: tuple | None = None


def _current() -> tuple:
    import torch  # noqa: PLC0415

    return torch.backends.cuda.preferred_blas_library(), torch._C._get_sm_carveout_experimental()


def _apply(library, carveout) -> None:
    import torch  # noqa: PLC0415

    torch._C._set_sm_carveout_experimental(carveout)
    torch.backends.cuda.preferred_blas_library(library)


def set_target(sms: int | None, total: int) -> None:
    """GEMMs from here on picked for `sms` SMs (cuBLASLt, carve-out total − sms); None or the whole GPU: no target,
    the settings in force before the enclosing targeted() block (what every capture without a target uses)."""
    if sms is None or sms >= total:
        _apply(*(_untargeted or _current()))
    else:
        import torch  # noqa: PLC0415

        torch.backends.cuda.preferred_blas_library("cublaslt")
        torch._C._set_sm_carveout_experimental(total - sms)


@contextlib.contextmanager
def targeted(sms: int | None, total: int | None):
    """GEMMs picked for `sms` SMs inside the block; the settings as they were after it, whatever happens inside.
    `total` None: no target at all, the settings left alone."""
    global _untargeted
    if total is None:
        yield
        return
    before, outer = _current(), _untargeted
    _untargeted = outer or before
    set_target(sms, total)
    try:
        yield
    finally:
        _apply(*before)
        _untargeted = outer


def plan_gemm_target(pw: dict | None) -> dict:
    """prepare_worker's target arguments for a plan worker: its `gemmTarget`, the sizes it stays off at and those
    whose convolutions are picked per partition too (`convTargetSms`, conv_target.py)."""
    if not pw or not pw.get("gemmTarget"):
        return {"gemm_target": False}
    return {"gemm_target": True, "gemm_off_sms": tuple(pw.get("gemmTargetOffSms", ())),
            "conv_sms": tuple(pw.get("convTargetSms", ()))}
