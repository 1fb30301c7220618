"""Convolutions picked for the partition's SMs (conv lanes, conv_target.py) on the GPU: the same outputs within FP16's
tolerance from other convolution kernels, every convolution handed to a lane, cuDNN's benchmarking left off after,
in whole, graph and stream modes, and a profile's `gemmTarget.convSms`."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from eclip_gpu import zoo
from eclip_gpu.execute import prepare_worker
from tests_gpu.plans import alternating_groups

GPU_DIR = Path(__file__).resolve().parents[1]


def kernel_names(built, part, lane=None, seen=None):
    from eclip_gpu.capture import capture_one, warm_up

    warm_up(built, [part.torch_stream], iters=1)
    return [k.name for k in capture_one(built, part.torch_stream, track_ops=False, lane=lane, seen=seen).kernels]


def test_a_lane_runs_every_convolution_on_kernels_benchmarked_for_its_partition(pool):
    import torch

    from eclip_gpu.conv_target import LANES

    built = zoo.build("resnext101", 1, "fp16")
    small = pool.create([0, 1])  # 16 SMs
    seen: dict = {}
    lane = LANES.lane(small, built)
    assert torch.backends.cudnn.benchmark is False, "the lane's benchmarking must not outlive it"
    default, laned = kernel_names(built, small), kernel_names(built, small, lane, seen)
    n_convs = sum(1 for m in built.model.modules() if isinstance(m, torch.nn.Conv2d))
    print(f"resnext101 b1 on 16 SMs: {len(default)} kernels by the heuristics, {len(laned)} by the lane; {seen}")
    assert seen.get("handed") == n_convs, "every convolution goes to the lane"
    assert laned != default, "resnext101's convolutions on 16 SMs: cuDNN's benchmark picks other kernels than its heuristics"


@pytest.mark.parametrize("mode", ["whole", "graph", "stream"])
def test_laned_capture_computes_the_same(pool, monkeypatch, mode):
    import torch

    from eclip_gpu.conv_target import Lane

    handed = []
    real_run = Lane.run
    monkeypatch.setattr(Lane, "run", lambda self, fn, stream: (handed.append(self.sms), real_run(self, fn, stream))[1])
    built = zoo.build("resnet152", 1, "fp16")
    small, mid = pool.create([0, 1]), pool.create([2, 3, 4, 5, 6, 7])  # 16 and 48 SMs
    parts = {0: small, 1: mid}
    origin = torch.cuda.Stream()
    base = prepare_worker("w", built, "whole", None, {0: pool.whole()}, origin, None)
    n = base.kernels
    groups = [{"first": 0, "last": n - 1, "partition": 0}] if mode == "whole" else alternating_groups(n, [0, 1])
    handed.clear()
    aimed = prepare_worker("w", built, mode, groups, parts, origin, None, layout=pool.layout, gemm_target=True,
                           conv_sms=(16, 48))
    assert torch.backends.cudnn.benchmark is False
    n_convs = sum(1 for m in built.model.modules() if isinstance(m, torch.nn.Conv2d))
    laned = [s for s in handed if s in (16, 48)]
    # every convolution of the capture handed to a lane, plus at most one benchmark forward per lane
    assert n_convs <= len(laned) <= n_convs + 2, (len(laned), n_convs)
    base.request().synchronize()
    ref = base.output.float().clone()
    for _ in range(3):
        aimed.request().synchronize()
    err = ((aimed.output.float() - ref).norm() / ref.norm()).item()
    print(f"resnet152 {mode} with conv lanes: rel err {err:.2e}, {len(laned)} lane calls for {n_convs} convolutions")
    assert torch.isfinite(ref).all()
    assert err < 1e-2


def test_profile_with_conv_target_names_the_sizes_on_lanes(tmp_path):
    out = tmp_path / "p"
    subprocess.run([sys.executable, "-m", "eclip_gpu", "profile", "--models", "resnext101", "--batch", "1",
                    "--out", str(out), "--no-primitives", "--repeats", "3", "--gemm-target", "--conv-target"],
                   cwd=GPU_DIR, check=True)
    prof = json.loads((out / "resnext101.b1.fp16.json").read_text())
    t = prof["gemmTarget"]
    laned = t.get("convSms", [])
    print(f"resnext101 b1: convolutions on lanes at {laned} SMs; targeted ÷ default "
          f"{[round(a / b, 2) for a, b in zip(t['requestUs'], prof['requestUs'])]}")
    assert t.get("offSms", []) == [], "lanes pick other kernels, never other ops"
    assert laned, "resnext101's convolutions gain on a lane at some size below the whole GPU"
    assert set(laned) <= set(prof["sizes"][:-1]), "never the whole GPU"
    assert t["requestUs"][-1] == prof["requestUs"][-1], "on the whole GPU the target is no target"
    # each op's span in a replay (profiler.op_spans_us): at least its longest kernel; for the grouped convolutions
    # (128 kernels each by default) printed beside their kernels' sum, the excess the simulator should keep with them
    bounds = [*prof["opStarts"], len(prof["kernels"])]
    assert len(prof["opSpanUs"]) == len(prof["opStarts"])
    for o, (a, b) in enumerate(zip(bounds, bounds[1:])):
        assert all(prof["opSpanUs"][o][i] >= max(k["timesUs"][i] for k in prof["kernels"][a:b]) * 0.99
                   for i in range(len(prof["sizes"])))
    grouped = [(o, a, b) for o, (a, b) in enumerate(zip(bounds, bounds[1:])) if b - a == 128]
    ratios = [prof["opSpanUs"][o][-1] / sum(k["timesUs"][-1] for k in prof["kernels"][a:b]) for o, a, b in grouped]
    print("resnext101 b1 grouped convolutions, span ÷ kernel sum on the whole GPU:", [round(r, 2) for r in ratios])
