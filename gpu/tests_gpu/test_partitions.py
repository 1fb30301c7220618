from eclip_gpu.partitions import smid_probe


def test_layout_is_read_off_the_device(pool):
    lay = pool.layout
    assert lay.sm_count > 0 and lay.min_size > 0
    total = sum(lay.slice_sms(i) for i in range(lay.n_slices))
    assert total == lay.sm_count
    desc = lay.describe()
    from eclip_gpu.formats import validate

    validate("gpu", desc, "gpu description")
    print("layout:", [lay.slice_sms(i) for i in range(lay.n_slices)])


def test_each_partition_runs_on_exactly_its_sms(pool):
    lay = pool.layout
    seen = {}
    for i in range(lay.n_slices):
        sms = smid_probe(pool.create([i]))
        assert len(sms) == lay.slice_sms(i), f"slice {i}: ran on {len(sms)} SMs, expected {lay.slice_sms(i)}"
        seen[i] = sms
    # slices of one split are disjoint, and together they are the whole GPU
    all_ids = set().union(*seen.values())
    assert sum(len(s) for s in seen.values()) == len(all_ids) == lay.sm_count
    # a union of slices runs on exactly the union of their SMs
    union = smid_probe(pool.create([0, 2, 5]))
    assert union == seen[0] | seen[2] | seen[5]
    whole = smid_probe(pool.whole())
    assert whole == all_ids


def test_partition_that_is_not_a_union_of_slices_is_refused(pool):
    import pytest

    from eclip_gpu.cuda import BackendError

    with pytest.raises(BackendError, match="not a union of slices"):
        pool.create([pool.layout.n_slices + 3])


def test_streams_take_the_priority_asked_for(pool):
    """A worker's green-context stream and its ordinary stream at `high` get the device's greatest priority; at
    `normal`, CUDA's default (eclip-rt's priority mechanism, runner.py)."""
    from cuda.bindings import runtime

    from eclip_gpu.cuda import check, driver
    from eclip_gpu.partitions import ordinary_stream, priority_value

    d = driver()
    _, least, greatest = runtime.cudaDeviceGetStreamPriorityRange()
    assert greatest < least, "this GPU has no stream priorities"
    assert priority_value("high") == greatest and priority_value("normal") == 0
    whole = pool.whole()
    hi = pool.for_worker(whole, "rt-test", "high")
    lo = pool.for_worker(whole, "rt-test", "normal")
    assert hi is not lo and hi.priority == "high"
    assert check(d.cuStreamGetPriority(hi.cu_stream), "cuStreamGetPriority") == greatest
    assert check(d.cuStreamGetPriority(lo.cu_stream), "cuStreamGetPriority") == 0
    s = ordinary_stream("high")
    assert check(d.cuStreamGetPriority(d.CUstream(int(s.cuda_stream))), "cuStreamGetPriority") == greatest


def test_a_plans_slices_make_no_green_context_and_a_capture_stream_reuses_the_workers(pool):
    """Serving's plan partitions are slice sets (`declare`: no green context), each worker makes its own of them
    (for_worker), and a serving worker's capture stream is a second stream of that green context (capture_partition),
    its kernels on the same SMs; the pool counts the contexts it made."""
    from eclip_gpu.partitions import SliceSet

    n0 = pool.made()[0]
    s = pool.declare([1, 2], 7)
    assert isinstance(s, SliceSet) and (s.id, s.slices) == (7, (1, 2))
    assert s.sms == pool.layout.slice_sms(1) + pool.layout.slice_sms(2)
    assert pool.made(n0)[0] == 0
    own = pool.for_worker(s, "w-test")
    assert pool.made(n0)[0] == 1 and pool.made(n0)[1] > 0
    cap = pool.capture_partition(s, "w-test")
    assert cap.green_ctx is own.green_ctx and int(cap.cu_stream) != int(own.cu_stream)
    assert pool.capture_partition(s, "w-test") is cap and pool.made(n0)[0] == 1
    assert smid_probe(cap) == smid_probe(own)
    # a worker without a context of those slices gets one, and its capture stream in it
    pool.capture_partition(s, "w-test-2")
    assert pool.made(n0)[0] == 2
