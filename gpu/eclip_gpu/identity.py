"""Refusing a plan made for another GPU (the TypeScript side's checkMadeFor, src/formats/gpu.ts, says it the same way).

A plan's partitions are slice ids and SM counts of the GPU it was made on; on another GPU they name other hardware,
and every kernel sequence differs too, so a fingerprint check would refuse it without saying why.
"""
from __future__ import annotations

from .cuda import BackendError


def describe(name: str, sm_count: int, size: int, slices: list[int] | None, cc: str | None,
             driver: str | None = None) -> str:
    parts = [name, f"{sm_count} SMs"]
    if slices:
        rest = [str(n) for n in slices if n != size]
        parts.append("slices " + "+".join([f"{len(slices) - len(rest)}×{size}", *rest]))
    else:
        parts.append(f"slice {size}")
    if cc:
        parts.append(f"cc {cc}")
    if driver:
        parts.append(f"driver {driver}")
    return ", ".join(parts)


def check_plan_gpu(plan_gpu: dict, layout) -> None:
    """Raises BackendError "… made for another GPU (…), this is …" unless `plan_gpu` (a plan's `gpu`) is `layout`'s
    GPU. Fields the plan does not carry (older plans: no slices, cc) are not compared; the driver never refuses."""
    here_slices = [layout.slice_sms(i) for i in range(layout.n_slices)]
    diff = None
    if plan_gpu.get("name") != layout.name:
        diff = "name"
    elif plan_gpu.get("smCount") != layout.sm_count:
        diff = "SM count"
    elif plan_gpu.get("sliceSize", layout.min_size) != layout.min_size:
        diff = "slice size"
    elif plan_gpu.get("computeCapability") and plan_gpu["computeCapability"] != layout.compute_capability:
        diff = "compute capability"
    elif plan_gpu.get("slices") and list(plan_gpu["slices"]) != here_slices:
        diff = "slice layout"
    if diff:
        made = describe(plan_gpu.get("name", "?"), plan_gpu.get("smCount", 0), plan_gpu.get("sliceSize", 0),
                        plan_gpu.get("slices"),
                        plan_gpu.get("computeCapability"), plan_gpu.get("driver"))
        here = describe(layout.name, layout.sm_count, layout.min_size, here_slices, layout.compute_capability)
        raise BackendError(f"the plan was made for another GPU ({made}), this is {here}: {diff} differs; "
                           "re-profile and re-plan on this GPU")
