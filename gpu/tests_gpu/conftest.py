"""GPU tests: run on a machine with an NVIDIA GPU (`python -m pytest gpu/tests_gpu`); everything skips elsewhere."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _gpu_reason():
    try:
        import torch
    except ImportError:
        return "PyTorch is not installed (GPU tests run on the GPU machine)"
    if not torch.cuda.is_available():
        return "no CUDA GPU on this machine"
    try:
        from cuda.bindings import driver  # noqa: F401
    except ImportError:
        return "cuda-bindings is not installed"
    return None


REASON = _gpu_reason()


def pytest_collection_modifyitems(config, items):
    if REASON:
        for item in items:
            item.add_marker(pytest.mark.skip(reason=REASON))


@pytest.fixture(scope="session")
def pool():
    from eclip_gpu.partitions import PartitionPool, read_layout

    p = PartitionPool(read_layout())
    yield p
