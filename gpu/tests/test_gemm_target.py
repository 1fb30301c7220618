"""gemm_target.py sets and restores torch's process-wide GEMM settings (no GPU: a recorder stands in for torch)."""

import sys
from types import SimpleNamespace

import pytest

from eclip_gpu import gemm_target


@pytest.fixture
def fake_torch(monkeypatch):
    state = {"lib": "cublas", "carveout": None}

    def library(v=None):
        if v is not None:
            state["lib"] = v
        return state["lib"]

    torch = SimpleNamespace(
        _C=SimpleNamespace(_set_sm_carveout_experimental=lambda v: state.__setitem__("carveout", v),
                           _get_sm_carveout_experimental=lambda: state["carveout"]),
        backends=SimpleNamespace(cuda=SimpleNamespace(preferred_blas_library=library)),
    )
    monkeypatch.setitem(sys.modules, "torch", torch)
    return state


def test_the_target_is_the_partition_and_is_undone_after(fake_torch):
    with gemm_target.targeted(16, 132):
        assert fake_torch == {"lib": "cublaslt", "carveout": 116}
        gemm_target.set_target(132, 132)  # the whole GPU: no target
        assert fake_torch == {"lib": "cublas", "carveout": None}
        gemm_target.set_target(64, 132)
        assert fake_torch["carveout"] == 68
    assert fake_torch == {"lib": "cublas", "carveout": None}


def test_undone_when_the_capture_fails_and_untouched_without_a_target(fake_torch):
    with pytest.raises(RuntimeError):
        with gemm_target.targeted(8, 132):
            raise RuntimeError("capture failed")
    assert fake_torch == {"lib": "cublas", "carveout": None}
    fake_torch["lib"] = "user's choice"
    with gemm_target.targeted(8, None):
        assert fake_torch["lib"] == "user's choice"
    assert fake_torch["lib"] == "user's choice"


def test_no_target_is_what_the_user_had(fake_torch):
    fake_torch["lib"] = "cublaslt"  # e.g. TORCH_BLAS_PREFER_CUBLASLT=1: the profiles were made so
    with gemm_target.targeted(None, 132):
        gemm_target.set_target(16, 132)
        assert fake_torch == {"lib": "cublaslt", "carveout": 116}
        with gemm_target.targeted(32, 132):
            gemm_target.set_target(None, 132)
            assert fake_torch == {"lib": "cublaslt", "carveout": None}, "no target: the user's settings"
        assert fake_torch == {"lib": "cublaslt", "carveout": 116}, "an inner block puts back what it found"
    assert fake_torch == {"lib": "cublaslt", "carveout": None}


def test_a_plan_workers_target_and_the_sizes_it_stays_off_at():
    assert gemm_target.plan_gemm_target(None) == {"gemm_target": False}
    assert gemm_target.plan_gemm_target({"name": "a"}) == {"gemm_target": False}
    assert gemm_target.plan_gemm_target({"gemmTarget": True}) == {"gemm_target": True, "gemm_off_sms": (),
                                                                  "conv_sms": ()}
    assert gemm_target.plan_gemm_target({"gemmTarget": True, "gemmTargetOffSms": [8, 24]}) == {
        "gemm_target": True, "gemm_off_sms": (8, 24), "conv_sms": ()}
    assert gemm_target.plan_gemm_target({"gemmTarget": True, "convTargetSms": [16, 32]})["conv_sms"] == (16, 32)
    assert gemm_target.plan_gemm_target({"convTargetSms": [16]}) == {"gemm_target": False}, "only with the target"
