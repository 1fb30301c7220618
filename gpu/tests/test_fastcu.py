"""fastcu's typed entry points over a stand-in for libcuda: the names it binds (a _v2 where the driver has one, a
fallback where it has not), arguments passed through, and a CUDA error raised as BackendError naming the call."""

import ctypes

import pytest

from eclip_gpu.cuda import BackendError
from eclip_gpu.fastcu import FastCu


class FakeLib:
    def __init__(self, names, fail=()):
        self.calls = []
        for name in names:
            def f(*args, _name=name):
                self.calls.append((_name, args))
                if _name == "cuEventElapsedTime":
                    ctypes.cast(args[0], ctypes.POINTER(ctypes.c_float))[0] = 2.5
                return 700 if _name in fail else 0
            setattr(self, name, f)


NAMES = ["cuMemcpyHtoDAsync_v2", "cuMemcpyDtoHAsync_v2", "cuMemcpyDtoDAsync_v2", "cuMemsetD8Async", "cuEventRecord",
         "cuGraphLaunch", "cuEventElapsedTime"]


def test_binds_each_call_and_passes_its_arguments():
    lib = FakeLib(NAMES)
    cu = FastCu(lib)
    cu.htod(16, 32, 8, 7)
    cu.memset8(24, 0, 8, 7)
    cu.launch(99, 7)
    cu.record(5, 7)
    assert [c[0] for c in lib.calls] == ["cuMemcpyHtoDAsync_v2", "cuMemsetD8Async", "cuGraphLaunch", "cuEventRecord"]
    assert lib.calls[0][1] == (16, 32, 8, 7)
    assert cu.elapsed_ms(1, 2) == 2.5  # the pre-_v2 name where the driver has no _v2


def test_a_missing_entry_point_or_a_cuda_error_is_a_backend_error():
    with pytest.raises(BackendError, match="libcuda has none of"):
        FastCu(FakeLib([n for n in NAMES if n != "cuGraphLaunch"]))
    cu = FastCu(FakeLib(NAMES, fail={"cuGraphLaunch"}))
    with pytest.raises(BackendError):
        cu.launch(1, 2)
