"""A bench run of an eclip-rt plan under its priority mechanism on the GPU (runner.py, GPU test): alexnet real-time
(uniform arrivals) beside a closed-loop shufflenet, both one group on the whole GPU, the real-time worker's
`streamPriority: high`. Its launch stream is made at the device's greatest priority, the best-effort worker's at the
default (green contexts' streams: test_partitions.py); every output equals the baseline capture's; the arrivals are
served. Timing is the probe's business (gpu/scripts/rt-probe.py), not a test's. Run with `python -m pytest gpu/tests_gpu -k priority`."""

import pytest


@pytest.fixture(scope="module")
def runner():
    from eclip_gpu.runner import Runner

    r = Runner()
    yield r
    r.close()


def test_an_eclip_rt_priority_run_gives_the_real_time_worker_high_streams(runner):
    from cuda.bindings import runtime

    from eclip_gpu.cuda import check, driver
    from tests_gpu.plans import realtime_run

    out = runner.run(realtime_run(runner), progress=print)
    rt, be = out["workers"]
    # the real-time worker served its arrivals (uniform every 5 ms: ~140 by the end of warm-up + window)
    assert len(rt["endUs"]) > 100 and len(be["endUs"]) > 100
    for c in out["outputCheck"]:
        assert c["bitwise"] or (c["relErr"] is not None and c["relErr"] < 1e-3), c
    # the streams the run made: the real-time worker's launch stream and green stream high, the other's normal
    d = driver()
    _, _least, greatest = runtime.cudaDeviceGetStreamPriorityRange()
    origin = runner.origins[("alexnet#0", "high")]
    assert check(d.cuStreamGetPriority(d.CUstream(int(origin.cuda_stream))), "cuStreamGetPriority") == greatest
    assert check(d.cuStreamGetPriority(d.CUstream(int(runner.origins["shufflenet#0"].cuda_stream))),
                 "cuStreamGetPriority") == 0
