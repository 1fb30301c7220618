"""GEMMs picked for the partition's SMs (gemm_target.py) on the GPU: the same outputs within FP16's tolerance, other
GEMM kernels, faster on a small partition, torch's defaults restored after, and a profile's `gemmTarget` section."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eclip_gpu import zoo
from eclip_gpu.execute import prepare_worker
from tests_gpu.plans import alternating_groups

GPU_DIR = Path(__file__).resolve().parents[1]


def gemms(built, part, total=None):
    """The GEMM kernels of a capture of `built` on `part`, GEMMs picked for it when `total` is given."""
    from eclip_gpu.capture import capture_one, warm_up
    from eclip_gpu.gemm_target import targeted

    with targeted(part.sms, total):
        warm_up(built, [part.torch_stream], iters=1)
        cap = capture_one(built, part.torch_stream, track_ops=False)
    return [k.name for k in cap.kernels if "gemm" in k.name.lower() or "sm90" in k.name.lower()]


def replay_us(execd, n=50):
    for _ in range(5):
        execd.request().synchronize()
    t = time.perf_counter()
    for _ in range(n):
        execd.request()
    execd.request().synchronize()
    return (time.perf_counter() - t) / (n + 1) * 1e6


@pytest.mark.parametrize("mode", ["whole", "graph", "stream"])
def test_targeted_capture_computes_the_same_on_other_kernels(pool, mode):
    import torch

    built = zoo.build("distilbert", 1, "fp16")
    small = pool.create([0, 1])  # 16 SMs
    parts = {0: small, 1: pool.whole()}
    origin = torch.cuda.Stream()
    base = prepare_worker("w", built, "whole", None, parts, origin, None)
    n = base.kernels
    groups = [{"first": 0, "last": n - 1, "partition": 0}] if mode == "whole" else alternating_groups(n, [0, 1])
    plain = prepare_worker("w", built, mode, groups, parts, origin, None, layout=pool.layout)
    aimed = prepare_worker("w", built, mode, groups, parts, origin, None, layout=pool.layout, gemm_target=True)
    assert str(torch.backends.cuda.preferred_blas_library()).lower().endswith("cublas")
    assert torch._C._get_sm_carveout_experimental() is None, "the carve-out must not outlive the capture"
    base.request().synchronize()
    ref = base.output.float().clone()
    aimed.request().synchronize()
    err = ((aimed.output.float() - ref).norm() / ref.norm()).item()
    plain_us, aimed_us = replay_us(plain), replay_us(aimed)
    print(f"distilbert {mode}: rel err {err:.2e}, {plain_us:.0f} µs -> {aimed_us:.0f} µs")
    assert torch.isfinite(ref).all()
    assert err < 1e-2
    assert aimed.kernels == plain.kernels
    if mode == "whole":
        assert gemms(built, small, pool.layout.sm_count) != gemms(built, small), "other GEMM kernels on 16 SMs"
        assert aimed_us < plain_us


def test_profile_with_gemm_target_has_its_section(tmp_path):
    out = tmp_path / "p"
    subprocess.run([sys.executable, "-m", "eclip_gpu", "profile", "--models", "distilbert", "--batch", "1",
                    "--out", str(out), "--no-primitives", "--repeats", "3", "--gemm-target"], cwd=GPU_DIR, check=True)
    prof = json.loads((out / "distilbert.b1.fp16.json").read_text())
    assert "gemmTarget" in prof, prof["measured"]["notes"]
    t = prof["gemmTarget"]
    n, sizes = len(prof["kernels"]), len(prof["sizes"])
    assert len(t["requestUs"]) == sizes and len(t["timesUs"]) == n and all(len(r) == sizes for r in t["timesUs"])
    assert t["requestUs"][-1] == prof["requestUs"][-1], "on the whole GPU the target is no target"
    off, spread = t.get("offSms", []), t.get("spreadSms", [])
    # the target picks other GEMM kernels, never other ops: where it changes the kernel count, the ops still match
    assert off == [], f"the target dispatched other ops at {off} SMs"
    for s in (i for i, sms in enumerate(prof["sizes"]) if sms in spread):
        # each op's targeted time laid over its default kernels: the kernels explain the request as measured ones do
        assert 0.5 < t["kernelSumRatio"][s] < 1.5, (prof["sizes"][s], t["kernelSumRatio"][s])
    s = next(i for i, sms in enumerate(prof["sizes"]) if sms == 32)
    print(f"distilbert b1 on {prof['sizes'][s]} SMs: {prof['requestUs'][s]:.0f} µs, targeted {t['requestUs'][s]:.0f}; "
          f"spread at {spread} SMs")
    assert t["requestUs"][s] < prof["requestUs"][s]


@pytest.mark.parametrize("mode", ["whole", "graph"])
def test_a_partition_the_target_is_off_at_gets_the_whole_gpus_gemms(pool, monkeypatch, mode):
    import torch

    from eclip_gpu import execute

    aims = []
    real_set, real_targeted = execute.set_target, execute.targeted
    monkeypatch.setattr(execute, "set_target", lambda sms, total: (aims.append(sms), real_set(sms, total)))
    monkeypatch.setattr(execute, "targeted", lambda sms, total: (aims.append(sms), real_targeted(sms, total))[1])
    built = zoo.build("distilbert", 1, "fp16")
    small, mid = pool.create([0, 1]), pool.create([2, 3, 4])  # 16 and 24 SMs
    parts = {0: small, 1: mid}
    origin = torch.cuda.Stream()
    n = prepare_worker("w", built, "whole", None, {0: pool.whole()}, origin, None).kernels
    groups = [{"first": 0, "last": n - 1, "partition": 0}] if mode == "whole" else alternating_groups(n, [0, 1])
    execd = prepare_worker("w", built, mode, groups, parts, origin, None, layout=pool.layout, gemm_target=True,
                           gemm_off_sms=(16,))
    execd.request().synchronize()
    assert torch.isfinite(execd.output.float()).all()
    assert 16 not in aims, f"GEMMs were picked for the 16-SM partition the target is off at: {aims}"
    if mode == "graph":
        assert 24 in aims, "the 24-SM partition keeps its target"
