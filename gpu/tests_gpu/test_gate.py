"""eclip-rt's gate mechanism on the GPU (gate.py, execute.prepare_worker, runner.py): a best-effort graph captured
with gates stops at its gate while the word is raised and goes on once it is lowered, with the ungated graph's output;
a real-time graph raises and lowers the word inside itself; an eclip-rt run with gates serves both workers and leaves
the word at 0, with the best-effort worker on the whole GPU or on partitions in graph mode (its plan eclip-fit's).
Timing is the probe's business (gpu/scripts/rt-probe.py). Run with `python -m pytest gpu/tests_gpu -k gate`."""

import time

import pytest


@pytest.fixture(scope="module")
def runner():
    from eclip_gpu.runner import Runner

    r = Runner()
    yield r
    r.close()


def _captures(runner, model, gate):
    """The model's plain capture and its capture with `gate` (a plan worker's gate, or a function of the model's
    kernel count that makes one)."""
    import torch

    from eclip_gpu.execute import op_kernel_starts, prepare_worker

    w = {"name": f"{model}#gate", "model": model, "batch": 1, "dtype": "fp16"}
    built = runner._built(w)
    stream = torch.cuda.Stream()
    dry = op_kernel_starts(built, stream)
    if callable(gate):
        gate = gate(len(dry[1].kernels))
    plain = prepare_worker(w["name"], built, "whole", None, {}, stream, None, dry_run=dry)
    gated = prepare_worker(w["name"], built, "whole", None, {}, stream, None, dry_run=dry, gate=gate)
    return dry, plain, gated


def _holds_while_raised(word, gated, plain) -> None:
    """With the gate word raised, `gated`'s request does not complete; lowered, it does, with `plain`'s output."""
    import torch

    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        word.word.fill_(1)
    side.synchronize()
    done = gated.request()
    time.sleep(0.05)
    assert not done.query(), f"{gated.name} ({gated.mode} mode) ran while the gate was raised"
    with torch.cuda.stream(side):
        word.word.fill_(0)
    done.synchronize()
    plain.request().synchronize()
    assert torch.equal(gated.output, plain.output)


def test_a_waiting_graph_holds_at_its_gate_until_the_word_is_lowered(runner):
    from eclip_gpu.gate import gate_word

    word = gate_word()
    _, plain, gated = _captures(runner, "shufflenet", lambda n: {"role": "wait", "atKernels": [0, n // 3, 2 * n // 3]})
    _holds_while_raised(word, gated, plain)


def test_a_raising_graph_leaves_the_word_at_zero(runner):
    import torch

    from eclip_gpu.gate import gate_word

    _, plain, raising = _captures(runner, "alexnet", {"role": "raise"})
    for _ in range(20):
        raising.request()
    torch.cuda.synchronize()
    assert gate_word().value() == 0
    plain.request().synchronize()
    assert torch.equal(raising.output, plain.output)


def test_raises_from_many_streams_at_once_all_count(runner):
    # five real-time-like graphs raising and lowering the word concurrently, hundreds of times: with a read-modify-write
    # in place of an atomic add some counts are lost, and the word ends away from 0
    import torch

    from eclip_gpu.gate import gate_word

    word = gate_word()
    work = [torch.ones(1 << 18, device="cuda") for _ in range(5)]
    streams = [torch.cuda.Stream() for _ in range(5)]
    graphs = []
    for s, x in zip(streams, work):
        s.wait_stream(torch.cuda.current_stream())
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g, stream=s):
            word.raise_()
            x.mul_(1.0)
            word.lower()
        graphs.append((g, s))
    torch.cuda.synchronize()
    for _ in range(400):
        for g, s in graphs:
            with torch.cuda.stream(s):
                g.replay()
    torch.cuda.synchronize()
    assert word.value() == 0


def test_a_raising_graph_counts_on_top_of_requests_already_running(runner):
    # the process's first gated capture makes the word: were it made inside that capture, its zeroing would be a node
    # of the graph, wiping the counts of real-time requests already running at each launch (DISB-D hung so)
    import torch

    from eclip_gpu import gate

    kept, gate._WORD = gate._WORD, None
    try:
        _, _, raising = _captures(runner, "shufflenet", {"role": "raise"})
        word = gate.gate_word()
        side = torch.cuda.Stream()
        with torch.cuda.stream(side):
            word.word.fill_(2)
        side.synchronize()
        raising.request().synchronize()
        assert word.value() == 2
    finally:
        gate._WORD = kept


def test_bad_gates_are_refused(runner):
    from eclip_gpu.cuda import BackendError

    with pytest.raises(BackendError, match="atKernels"):
        _captures(runner, "alexnet", {"role": "wait"})
    with pytest.raises(BackendError, match="gate role"):
        _captures(runner, "alexnet", {"role": "open"})


def test_an_eclip_rt_gate_run_serves_both_workers(runner):
    from eclip_gpu.gate import gate_word
    from tests_gpu.plans import realtime_run

    out = runner.run(realtime_run(runner, gates=True), progress=print)
    rt, be = out["workers"]
    assert len(rt["endUs"]) > 100 and len(be["endUs"]) > 100
    for c in out["outputCheck"]:
        assert c["bitwise"] or (c["relErr"] is not None and c["relErr"] < 1e-3), c
    assert gate_word().value() == 0


def test_a_gated_worker_on_partitions_holds_at_its_gate_and_matches_its_plain_capture(runner):
    import torch

    from eclip_gpu.execute import op_kernel_starts, prepare_worker
    from eclip_gpu.gate import gate_word

    word = gate_word()
    layout = runner.layout
    w = {"name": "shufflenet#gated-graph", "model": "shufflenet", "batch": 1, "dtype": "fp16"}
    built = runner._built(w)
    origin = torch.cuda.Stream()
    dry = op_kernel_starts(built, origin)
    per_op, cap = dry
    n, mid = len(cap.kernels), cap.op_starts[len(cap.op_starts) // 2]
    half = runner.pool.create(tuple(range(layout.n_slices // 2)), 901)
    whole = runner.pool.create(tuple(range(layout.n_slices)), 900)
    parts = {900: runner.pool.for_worker(whole, w["name"]), 901: runner.pool.for_worker(half, w["name"])}
    groups = [{"first": 0, "last": mid - 1, "partition": 901}, {"first": mid, "last": n - 1, "partition": 900}]
    plain = prepare_worker(w["name"], built, "whole", None, {}, origin, None, dry_run=dry)
    gate = {"role": "wait", "atKernels": [0, mid, *cap.op_starts[-3:-2]]}
    gated = prepare_worker(w["name"], built, "graph", groups, parts, origin, None, layout=layout, dry_run=dry,
                           gate=gate)
    assert gated.mode == "graph" and gated.switches == 1
    _holds_while_raised(word, gated, plain)


def test_a_raising_gate_stays_on_the_whole_gpu(runner):
    from eclip_gpu.cuda import BackendError
    from eclip_gpu.execute import prepare_worker

    w = {"name": "alexnet#raise-graph", "model": "alexnet", "batch": 1, "dtype": "fp16"}
    built = runner._built(w)
    part = runner.pool.for_worker(runner.pool.create(tuple(range(runner.layout.n_slices // 2)), 902), w["name"])
    import torch

    with pytest.raises(BackendError, match="raise"):
        prepare_worker(w["name"], built, "graph", [{"first": 0, "last": 0, "partition": 902}], {902: part},
                       torch.cuda.Stream(), None, layout=runner.layout, gate={"role": "raise"})


def test_an_eclip_rt_gate_run_with_a_partitioned_best_effort_worker_serves_both(runner):
    from eclip_gpu.gate import gate_word
    from tests_gpu.plans import realtime_run

    out = runner.run(realtime_run(runner, gates=True, split=True), progress=print)
    rt, be = out["workers"]
    assert len(rt["endUs"]) > 100 and len(be["endUs"]) > 100
    for c in out["outputCheck"]:
        assert c["bitwise"] or (c["relErr"] is not None and c["relErr"] < 1e-3), c
    assert gate_word().value() == 0
