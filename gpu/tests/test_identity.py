"""A plan made for another GPU is refused saying so (eclip_gpu/identity.py, called by serving.load and runner.run)."""
from types import SimpleNamespace

import pytest

from eclip_gpu.cuda import BackendError
from eclip_gpu.identity import check_plan_gpu


def layout(name="NVIDIA H100 80GB HBM3", slices=(8,) * 15 + (12,)):
    return SimpleNamespace(name=name, sm_count=sum(slices), min_size=8, compute_capability="9.0",
                           n_slices=len(slices), slice_sms=lambda i: slices[i])


H100 = {"name": "NVIDIA H100 80GB HBM3", "smCount": 132, "sliceSize": 8}


def test_same_gpu_passes_with_or_without_the_layout_fields():
    check_plan_gpu(H100, layout())
    check_plan_gpu({**H100, "slices": [8] * 15 + [12], "computeCapability": "9.0", "driver": "1.2"}, layout())


@pytest.mark.parametrize("plan_gpu,diff", [
    ({**H100, "name": "NVIDIA H200"}, "name differs"),
    ({**H100, "slices": [8] * 16 + [4]}, "slice layout differs"),
    ({**H100, "computeCapability": "10.0"}, "compute capability differs"),
])
def test_another_gpu_is_refused_naming_both(plan_gpu, diff):
    with pytest.raises(BackendError) as e:
        check_plan_gpu(plan_gpu, layout())
    msg = str(e.value)
    assert "made for another GPU (" in msg and "), this is NVIDIA H100 80GB HBM3, 132 SMs, slices 15×8+12" in msg
    assert diff in msg
