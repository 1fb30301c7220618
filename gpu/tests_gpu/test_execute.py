"""Every execution mode computes what the baseline computes (GPU test)."""

import pytest

from eclip_gpu import zoo
from eclip_gpu.execute import prepare_worker
from tests_gpu.plans import alternating_groups


@pytest.mark.parametrize("model", ["alexnet", "resnet152", "albert"])
@pytest.mark.parametrize("mode", ["graph", "stream", "ioctl"])
def test_partitioned_outputs_equal_baseline(pool, model, mode):
    import torch

    built = zoo.build(model, 2, "fp16")
    parts = {0: pool.create([0]), 1: pool.create([1, 2, 3, 4]), 2: pool.whole()}
    origin = torch.cuda.Stream()
    base = prepare_worker("w", built, "whole", None, parts, origin, None)
    n = base.kernels
    run = prepare_worker("w", built, mode, alternating_groups(n, [0, 1, 2]), parts, origin, None, layout=pool.layout)
    base.request().synchronize()
    ref = base.output.clone()
    for _ in range(3):  # repeated requests: kw-ioctl's per-switch partitions must not break later ones
        run.request().synchronize()
    out = run.output
    assert run.switches >= 3
    assert torch.isfinite(ref).all(), "baseline output is not finite: the comparison would say nothing"
    err = ((out.float() - ref.float()).norm() / ref.float().norm()).item()
    print(f"{model} {mode}: {n} kernels, {run.switches} switches, {run.moved_boundaries} boundaries snapped, "
          f"rel err {err:.2e}, bitwise {torch.equal(out, ref)}")
    assert err < 1e-3


@pytest.mark.parametrize("mode", ["graph", "stream"])
def test_workers_on_the_same_partitions_keep_their_own_pace(pool, mode):
    """Two kernel-wise workers over the same partitions, each with its own contexts and streams (for_worker): a
    small model must not be held to a big one's rate. With shared contexts/streams an H200 ran them in lockstep."""
    import torch

    from eclip_gpu.execute import closed_loop

    shared = {0: pool.create([0, 1, 2, 3]), 1: pool.whole()}
    workers = []
    for name, model in (("small", "alexnet"), ("big", "resnet152")):
        built = zoo.build(model, 1, "fp16")
        parts = {pid: pool.for_worker(p, name) for pid, p in shared.items()}
        n = prepare_worker(name, built, "whole", None, parts, torch.cuda.Stream(), None).kernels
        workers.append(prepare_worker(name, built, mode, alternating_groups(n, [0, 1]), parts, torch.cuda.Stream(),
                                      None, layout=pool.layout))
    raw = closed_loop(workers, 0.5, 2.0)
    rates = {w["name"]: len(w["endsNs"]) for w in raw["workers"]}
    for w in raw["workers"]:
        assert len(w["cpuNs"]) == len(w["startsNs"]) > 0 and all(c > 0 for c in w["cpuNs"])
        lat = sum(e - s for s, e in zip(w["startsNs"], w["endsNs"])) / len(w["startsNs"])
        print(f"{mode} {w['name']}: {len(w['endsNs'])} requests, host CPU {sum(w['cpuNs']) / len(w['cpuNs']) / 1e3:.1f} "
              f"µs/request, mean latency {lat / 1e3:.1f} µs")
    assert rates["small"] > 2 * rates["big"], rates
