"""The profiler times request latencies before torch.profiler runs in the process (profiler.py): after it, CUPTI stays
attached and graph launches are slower. No GPU: the timing and profiling calls are replaced by recorders."""

import json
import sys
from types import SimpleNamespace

import pytest

import eclip_gpu.__main__ as cli
import eclip_gpu.formats as formats
import eclip_gpu.partitions as partitions
import eclip_gpu.profiler as profiler
from eclip_gpu.cuda import BackendError


@pytest.fixture
def clean_profiler(monkeypatch):
    monkeypatch.setattr(profiler, "_profiler_ran", False)


def test_a_latency_timed_after_the_profiler_is_refused(clean_profiler, monkeypatch):
    monkeypatch.setattr(profiler, "_profiler_ran", True)
    with pytest.raises(BackendError, match="before torch.profiler runs"):
        profiler.request_latency_us(graph=None, stream=None, iters=1)


def test_profile_times_every_models_latencies_before_profiling_any(clean_profiler, monkeypatch, tmp_path):
    calls = []
    parts = [SimpleNamespace(sms=8), SimpleNamespace(sms=132)]

    def latencies(ps, name, batch, dtype, iters=30, gemm_target=False, conv_target=False):
        calls.append(("time", name, batch))
        return [100.0 * len(calls), 50.0], "sha256:x", None, None, None

    def profile(pool, ps, name, batch, dtype, repeats=10, request_us=None, **_):
        calls.append(("profile", name, batch))
        assert request_us is not None, "profile_model must get the latencies timed before it"
        return {"kernels": [], "requestUs": request_us, "sizes": [8, 132], "kernelSumRatio": [1, 1]}

    monkeypatch.setattr(profiler, "request_latencies_us", latencies)
    monkeypatch.setattr(profiler, "profile_model", profile)
    monkeypatch.setattr(profiler, "ladder", lambda pool: parts)
    monkeypatch.setattr(partitions, "read_layout", lambda: SimpleNamespace(describe=lambda: {}))
    monkeypatch.setattr(partitions, "PartitionPool", lambda layout: object())
    monkeypatch.setattr(formats, "write_json", lambda name, value, path: path)
    (tmp_path / "gpu.json").write_text("{}")
    args = SimpleNamespace(out=str(tmp_path), no_primitives=True, batch="1,8", models="alexnet,vgg19", dtype="fp16",
                           repeats=10, gemm_target=False, conv_target=False)
    cli.cmd_profile(args)
    kinds = [c[0] for c in calls]
    assert kinds == ["time"] * 4 + ["profile"] * 4
    assert [c[1:] for c in calls[:4]] == [c[1:] for c in calls[4:]]


def test_retime_keeps_the_kernels_and_refuses_another_kernel_sequence(clean_profiler, monkeypatch):
    prof = {
        "model": "alexnet", "batch": 1, "dtype": "fp16", "fingerprint": "sha256:a", "sizes": [8, 132],
        "kernels": [{"timesUs": [30.0, 10.0]}, {"timesUs": [50.0, 20.0]}],
        "requestUs": [120.0, 45.0], "kernelSumRatio": [0.6667, 0.6667],
        "measured": {"date": "d", "method": "graph captured …; request latency = median of 30 CUDA-event-timed "
                     "replays", "tool": "eclip_gpu", "notes": "profiled in 1 s"},
    }
    parts = [SimpleNamespace(sms=8), SimpleNamespace(sms=132)]
    monkeypatch.setattr(profiler, "request_latencies_us", lambda ps, *a, **k: ([100.0, 40.0], "sha256:a", None, None, None))
    monkeypatch.setattr(profiler, "versions", lambda: {"torch": "t"})
    gpu = {"name": "NVIDIA H100 80GB HBM3", "smCount": 132, "sliceSize": 8}
    prof["gpu"] = gpu
    new = profiler.retime_profile(parts, gpu, prof)
    assert new["kernels"] == prof["kernels"]
    assert new["requestUs"] == [100.0, 40.0]
    assert new["kernelSumRatio"] == [0.8, 0.75]
    assert new["measured"]["method"].startswith("graph captured …; request latency = median of 30")
    assert "before the profiler ran" in new["measured"]["method"]
    assert "re-timed" in new["measured"]["notes"] and "with torch t" in new["measured"]["notes"]
    assert "torch" not in new["measured"], "the versions the kernels were measured with are kept"
    json.dumps(new)
    with pytest.raises(BackendError, match="the profile is of NVIDIA H100 80GB HBM3, this is NVIDIA H200"):
        profiler.retime_profile(parts, {**gpu, "name": "NVIDIA H200"}, prof)
    monkeypatch.setattr(profiler, "request_latencies_us", lambda ps, *a, **k: ([100.0, 40.0], "sha256:b", None, None, None))
    with pytest.raises(BackendError, match="not the profile's"):
        profiler.retime_profile(parts, gpu, prof)
    with pytest.raises(BackendError, match="not this GPU's ladder"):
        profiler.retime_profile([SimpleNamespace(sms=8)], gpu, prof)


def test_retime_times_the_gemm_target_too_and_drops_it_when_it_no_longer_holds(clean_profiler, monkeypatch):
    gpu = {"name": "NVIDIA H100 80GB HBM3", "smCount": 132, "sliceSize": 8}
    prof = {
        "model": "albert", "batch": 1, "dtype": "fp16", "fingerprint": "sha256:a", "sizes": [8, 132], "gpu": gpu,
        "kernels": [{"timesUs": [30.0, 10.0]}, {"timesUs": [50.0, 20.0]}],
        "requestUs": [120.0, 45.0], "kernelSumRatio": [0.6667, 0.6667],
        "gemmTarget": {"requestUs": [70.0, 45.0], "kernelSumRatio": [0.8, 0.6667],
                       "timesUs": [[20.0, 10.0], [36.0, 20.0]]},
        "measured": {"date": "d", "method": "m; request latency = x", "tool": "eclip_gpu", "notes": "n"},
    }
    parts = [SimpleNamespace(sms=8), SimpleNamespace(sms=132)]
    asked, given = [], []

    def latencies(ps, *a, gemm_target=False, conv_sms=None, **k):
        asked.append(gemm_target)
        given.append(conv_sms)
        return [100.0, 40.0], "sha256:a", [70.0, 40.0], [], conv_sms

    monkeypatch.setattr(profiler, "request_latencies_us", latencies)
    monkeypatch.setattr(profiler, "versions", lambda: {"torch": "t"})
    new = profiler.retime_profile(parts, gpu, prof)
    assert asked == [True]
    assert new["gemmTarget"]["requestUs"] == [70.0, 40.0]
    assert new["gemmTarget"]["kernelSumRatio"] == [0.8, 0.75]
    assert new["gemmTarget"]["timesUs"] == prof["gemmTarget"]["timesUs"]
    # the target now changes the kernel count at 8 SMs, where its kernel times were measured with it: dropped
    recount = ([100.0, 40.0], "sha256:a", [66.0, 40.0], [8], None)
    monkeypatch.setattr(profiler, "request_latencies_us", lambda ps, *a, **k: recount)
    new = profiler.retime_profile(parts, gpu, prof)
    assert "gemmTarget" not in new
    assert "GEMM-target section dropped: the target now changes the kernel count at [8] SMs" in new["measured"]["notes"]
    # a size whose times were spread op by op takes any kernel count: kept, re-timed
    spread = {**prof, "gemmTarget": {**prof["gemmTarget"], "spreadSms": [8]}}
    new = profiler.retime_profile(parts, gpu, spread)
    assert new["gemmTarget"]["requestUs"] == [66.0, 40.0] and new["gemmTarget"]["spreadSms"] == [8]
    monkeypatch.setattr(profiler, "request_latencies_us", latencies)
    # a size it was off at already keeps the default latency, re-timed
    off = {**prof, "gemmTarget": {**prof["gemmTarget"], "offSms": [8], "timesUs": [[30.0, 10.0], [50.0, 20.0]]}}
    new = profiler.retime_profile(parts, gpu, off)
    assert new["gemmTarget"]["requestUs"] == [100.0, 40.0]
    assert new["gemmTarget"]["offSms"] == [8]
    assert new["gemmTarget"]["kernelSumRatio"] == [0.8, 0.75]
    # the sizes whose convolutions ran on conv lanes are timed so again, not chosen anew
    given.clear()
    laned = {**prof, "gemmTarget": {**prof["gemmTarget"], "spreadSms": [8], "convSms": [8]}}
    new = profiler.retime_profile(parts, gpu, laned)
    assert given == [[8]] and new["gemmTarget"]["convSms"] == [8]
    profiler.retime_profile(parts, gpu, prof)
    assert given[-1] is None, "a profile without conv lanes is re-timed without them"


def test_retime_picks_profiles_by_name_and_writes_none_when_one_is_refused(clean_profiler, monkeypatch, tmp_path):
    for f in ("a.b1.fp16.json", "a.b8.fp16.json", "b.c.b1.fp16.json", "a.b1.fp32.json", "x.bak.fp16.json"):
        (tmp_path / f).write_text("{}")
    layout = SimpleNamespace(ref=lambda: {})
    monkeypatch.setattr(partitions, "read_layout", lambda: layout)
    monkeypatch.setattr(partitions, "PartitionPool", lambda layout: object())
    monkeypatch.setattr(profiler, "ladder", lambda pool: [])
    monkeypatch.setattr(formats, "read_json", lambda name, f: {"file": f.name, "sizes": [8], "requestUs": [1.0]})
    written, seen = [], []
    monkeypatch.setattr(formats, "write_json", lambda name, value, path: written.append(path.name))

    def retime(parts, gpu, prof):
        seen.append(prof["file"])
        if prof["file"] == refuse:
            raise BackendError("refused")
        return prof

    monkeypatch.setattr(profiler, "retime_profile", retime)
    args = SimpleNamespace(profiles=str(tmp_path), models="all", batch="all", dtype="fp16")
    refuse = None
    cli.cmd_retime(args)
    assert sorted(written) == ["a.b1.fp16.json", "a.b8.fp16.json", "b.c.b1.fp16.json"]
    written.clear(), seen.clear()
    cli.cmd_retime(SimpleNamespace(**{**vars(args), "models": "b.c", "batch": "1"}))
    assert written == ["b.c.b1.fp16.json"]
    written.clear()
    refuse = "a.b8.fp16.json"
    with pytest.raises(BackendError, match="refused"):
        cli.cmd_retime(args)
    assert written == [], "nothing is written when one profile is refused"
    with pytest.raises(BackendError, match="no fp16 profile .* for c b1"):
        cli.cmd_retime(SimpleNamespace(**{**vars(args), "models": "a,c", "batch": "1"}))
    with pytest.raises(BackendError, match="--batch"):
        cli.cmd_retime(SimpleNamespace(**{**vars(args), "batch": "x"}))


class _Cap:
    """A stand-in capture: `n` kernels, its graph a number the fake kernel timer reads (n, or `graph`), `per_op` the
    kernels before each op (one op per kernel when not given)."""

    def __init__(self, n, fp="sha256:f", per_op=None, graph=None):
        self.kernels = [SimpleNamespace(grid=[1, 1, 1], as_dict=lambda: {"name": "k"}) for _ in range(n)]
        self.fingerprint, self.graphs = fp, [n if graph is None else graph]
        self.per_op = list(range(n)) if per_op is None else per_op
        self.op_starts = [k for k in sorted(set(self.per_op) | {0}) if k < n]  # as capture.py makes them


def _fake_profiling(monkeypatch, targeted, asked: list | None = None):
    """profile_model's GPU calls replaced: 3 kernels (3 ops) on every size by default, `targeted[sms]` = (kernels,
    per_op) with the target; kernel i takes (i + 1) × 10 µs on the default GEMMs, (i + 1) × 7 µs on the targeted ones.
    `asked`: each targeted capture's (size, whether on its conv lane), appended."""
    torch = SimpleNamespace(cuda=SimpleNamespace(synchronize=lambda: None, empty_cache=lambda: None))
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setattr(profiler.zoo, "build", lambda *a: object())
    monkeypatch.setattr(profiler, "warm_up", lambda *a, **k: None)
    monkeypatch.setattr(profiler, "versions", lambda: {"torch": "t"})
    monkeypatch.setattr(profiler, "capture_one", lambda built, stream, track_ops=True: _Cap(3))

    def capture_targeted(built, p, total, track_ops=False, conv_target=False):
        assert track_ops, "profile_model needs the targeted capture's ops"
        if asked is not None:
            asked.append((p.sms, conv_target))
        n, per_op, *seen = targeted[p.sms]  # seen: the kernels the profiler records, when not the graph's n
        return _Cap(n, per_op=per_op, graph=(seen[0] if seen else n) + 100)

    monkeypatch.setattr(profiler, "_capture_targeted", capture_targeted)

    def times(graph, stream, repeats):
        n, per = (graph - 100, 7.0) if graph >= 100 else (graph, 10.0)
        durations = [(i + 1) * per for i in range(n)]
        starts = [sum(durations[:i]) for i in range(n)]  # one after another
        return [durations] * repeats, [("k", [1, 1, 1], None)] * n, [starts] * repeats

    monkeypatch.setattr(profiler, "kernel_times_us", times)
    parts = [SimpleNamespace(sms=s, torch_stream=None) for s in (8, 16, 132)]
    pool = SimpleNamespace(layout=SimpleNamespace(ref=lambda: {"name": "GPU", "smCount": 132, "sliceSize": 8}))
    return parts, pool


def test_spread_per_op_keeps_each_ops_targeted_time():
    # op 0 got a split-K reduction with the target (2 kernels for 1), op 1 is a view (no kernels), op 2 as before
    laid = profiler.spread_per_op([10.0, 30.0, 5.0], [0, 2, 2], [6.0, 22.0, 4.0], [0, 2, 2])
    assert laid == pytest.approx([7.0, 21.0, 4.0]), "op 0's 28 µs split 1:3 as its default kernels were"
    # a view's targeted kernel (none by default) joins the next op with kernels
    laid = profiler.spread_per_op([10.0, 10.0], [0, 1, 1], [4.0, 1.0, 2.0], [0, 1, 2])
    assert laid == pytest.approx([4.0, 3.0])
    # default kernels of zero time: the op's time split evenly
    assert profiler.spread_per_op([0.0, 0.0], [0], [6.0], [0]) == pytest.approx([3.0, 3.0])
    # every kernel's time is somewhere: the sums agree
    laid = profiler.spread_per_op([1.0, 2.0, 3.0, 4.0], [0, 1, 3], [5.0, 5.0, 1.0, 1.0, 1.0], [0, 2, 3])
    assert sum(laid) == pytest.approx(13.0) and laid[0] == pytest.approx(10.0)
    # a trailing op without default kernels: its targeted kernel runs in the last group
    laid = profiler.spread_per_op([10.0, 10.0], [0, 1, 2], [4.0, 5.0, 6.0], [0, 1, 2])
    assert laid == pytest.approx([4.0, 11.0])
    # another number of ops, or none tracked: no op-by-op match
    assert profiler.spread_per_op([1.0, 2.0], [0, 1], [1.0, 2.0, 3.0], [0, 1, 2]) is None
    assert profiler.spread_per_op([1.0, 2.0], [], [1.0, 2.0, 3.0], []) is None


def test_an_ops_span_runs_from_its_first_start_to_its_last_end():
    # op 0: kernels 0 and 1 side by side (10 µs each, starting 2 µs apart); op 1: kernel 2 alone after them
    assert profiler.op_spans_us([10.0, 10.0, 5.0], [0.0, 2.0, 20.0], [0, 2]) == pytest.approx([12.0, 5.0])
    # one after another with a gap: the gap counts, the span is more than the kernels' sum
    assert profiler.op_spans_us([3.0, 4.0], [0.0, 5.0], [0]) == pytest.approx([9.0])


def test_the_profile_records_each_ops_span_at_every_size_with_the_target_too(clean_profiler, monkeypatch):
    # two ops: kernels 0 and 1 (side by side: kernel 1 starts 2 µs after kernel 0), then kernel 2 alone; times scale
    # with 1 / SMs. With the target: 16 SMs the same kernels, 8 SMs one kernel more in op 0 (spread there)
    parts, pool = _fake_profiling(monkeypatch, {8: (4, [0, 0, 3]), 16: (3, [0, 0, 2])})
    monkeypatch.setattr(profiler, "capture_one", lambda built, stream, track_ops=True: _Cap(3, per_op=[0, 0, 2],
                                                                                            graph=("d", stream)))
    monkeypatch.setattr(profiler, "_capture_targeted", lambda built, p, total, track_ops=False, conv_target=False:
                        _Cap(4 if p.sms == 8 else 3, per_op=[0, 0, 3] if p.sms == 8 else [0, 0, 2],
                             graph=("t", p.sms)))

    def times(graph, stream, repeats):
        kind, sms = graph
        f = 132 / sms
        if kind == "t" and sms == 8:  # op 0 in three kernels, all side by side
            d, t = [5 * f, 5 * f, 5 * f, 30 * f], [0.0, 1.0, 2.0, 10 * f]
        else:
            d, t = [10 * f, 10 * f, 30 * f], [0.0, 2.0, 15 * f]
        return [d] * repeats, [("k", [1, 1, 1], None)] * len(d), [t] * repeats

    monkeypatch.setattr(profiler, "kernel_times_us", times)
    parts = [SimpleNamespace(sms=s, torch_stream=s) for s in (8, 16, 132)]
    prof = profiler.profile_model(pool, parts, "albert", 1, "fp16", repeats=2, request_us=[900.0, 400.0, 60.0],
                                  gemm_target=True, targeted_request_us=[800.0, 400.0, 60.0])
    assert prof["opStarts"] == [0, 2]
    # op 0: 10·f + 2 (kernel 1 ends 2 µs after kernel 0); op 1: 30·f
    assert prof["opSpanUs"] == [[167.0, 84.5, 12.0], [495.0, 247.5, 30.0]]
    t = prof["gemmTarget"]
    assert t["spreadSms"] == [8]
    # 8 SMs: op 0's three targeted kernels span 2 + 5·f; 16 SMs and the whole GPU as by default
    assert t["opSpanUs"] == [[84.5, 84.5, 12.0], [495.0, 247.5, 30.0]]


def test_the_gemm_target_is_spread_op_by_op_where_it_changes_the_kernel_count(clean_profiler, monkeypatch):
    # 8 SMs: op 0 has two kernels with the target; 16 SMs: the same kernels, one to one
    parts, pool = _fake_profiling(monkeypatch, {8: (4, [0, 2, 3]), 16: (3, [0, 1, 2])})
    prof = profiler.profile_model(pool, parts, "albert", 1, "fp16", repeats=2, request_us=[90.0, 70.0, 50.0],
                                  gemm_target=True, targeted_request_us=[66.0, 50.0, 50.0])
    t = prof["gemmTarget"]
    assert t["spreadSms"] == [8] and "offSms" not in t
    assert t["requestUs"] == [66.0, 50.0, 50.0]
    # 8 SMs: op 0 = 7 + 14, op 1 = 21, op 2 = 28 µs on the default kernels 0, 1, 2; 16 SMs one to one
    assert t["timesUs"] == [[21.0, 7.0, 10.0], [21.0, 14.0, 20.0], [28.0, 21.0, 30.0]]
    assert "GEMM target's kernel times at [8] SMs spread over the default kernels op by op" in prof["measured"]["notes"]


def test_the_gemm_target_stays_off_only_where_it_changes_the_ops(clean_profiler, monkeypatch):
    parts, pool = _fake_profiling(monkeypatch, {8: (4, [0, 1, 2, 3]), 16: (3, [0, 1, 2])})
    prof = profiler.profile_model(pool, parts, "albert", 1, "fp16", repeats=2, request_us=[90.0, 70.0, 50.0],
                                  gemm_target=True, targeted_request_us=[60.0, 50.0, 50.0])
    t = prof["gemmTarget"]
    assert t["offSms"] == [8] and "spreadSms" not in t
    assert t["requestUs"] == [90.0, 50.0, 50.0], "the default request where the target is off"
    assert t["timesUs"] == [[10.0, 7.0, 10.0], [20.0, 14.0, 20.0], [30.0, 21.0, 30.0]]
    assert "GEMM target off at [8] SMs" in prof["measured"]["notes"]
    # the profiler saw another number of kernels than the graph has: its times cannot be matched, off there
    parts, pool = _fake_profiling(monkeypatch, {8: (4, [0, 2, 3], 5), 16: (3, [0, 1, 2])})
    prof = profiler.profile_model(pool, parts, "albert", 1, "fp16", repeats=2, request_us=[90.0, 70.0, 50.0],
                                  gemm_target=True, targeted_request_us=[60.0, 50.0, 50.0])
    assert prof["gemmTarget"]["offSms"] == [8] and "spreadSms" not in prof["gemmTarget"]
    # off everywhere below the whole GPU: no section at all
    parts, pool = _fake_profiling(monkeypatch, {8: (4, [0, 1, 2, 3]), 16: (2, [0, 1])})
    prof = profiler.profile_model(pool, parts, "albert", 1, "fp16", repeats=2, request_us=[90.0, 70.0, 50.0],
                                  gemm_target=True, targeted_request_us=[60.0, 50.0, 50.0])
    assert "gemmTarget" not in prof
    assert "no GEMM target: with it every size's capture dispatched other ops" in prof["measured"]["notes"]
    # every count matching: neither list
    parts, pool = _fake_profiling(monkeypatch, {8: (3, [0, 1, 2]), 16: (3, [0, 1, 2])})
    prof = profiler.profile_model(pool, parts, "albert", 1, "fp16", repeats=2, request_us=[90.0, 70.0, 50.0],
                                  gemm_target=True, targeted_request_us=[60.0, 50.0, 50.0])
    t = prof["gemmTarget"]
    assert "offSms" not in t and "spreadSms" not in t and t["requestUs"] == [60.0, 50.0, 50.0]


def test_the_profile_names_the_sizes_whose_convolutions_ran_on_lanes(clean_profiler, monkeypatch):
    kw = {"repeats": 2, "request_us": [90.0, 70.0, 50.0], "gemm_target": True,
          "targeted_request_us": [60.0, 50.0, 50.0]}
    asked = []
    parts, pool = _fake_profiling(monkeypatch, {8: (3, [0, 1, 2]), 16: (3, [0, 1, 2])}, asked)
    prof = profiler.profile_model(pool, parts, "resnet152", 1, "fp16", conv_sms=[8], **kw)
    assert prof["gemmTarget"]["convSms"] == [8]
    assert asked == [(8, True), (16, False)], "the lanes at the sizes given only"
    # none given: no lanes, no list
    parts, pool = _fake_profiling(monkeypatch, {8: (3, [0, 1, 2]), 16: (3, [0, 1, 2])})
    assert "convSms" not in profiler.profile_model(pool, parts, "resnet152", 1, "fp16", **kw)["gemmTarget"]
    # a laned size where even the ops differed: the target is off there, and so are its lanes
    parts, pool = _fake_profiling(monkeypatch, {8: (4, [0, 1, 2, 3]), 16: (3, [0, 1, 2])})
    t = profiler.profile_model(pool, parts, "resnet152", 1, "fp16", conv_sms=[8, 16], **kw)["gemmTarget"]
    assert t["offSms"] == [8] and t["convSms"] == [16]


def test_latencies_keep_a_sizes_conv_lane_only_where_it_is_faster(clean_profiler, monkeypatch):
    # default 100 µs everywhere; GEMM target 90; on the lane 80 at 8 SMs, 95 at 16 (slower there: not kept)
    torch = SimpleNamespace(cuda=SimpleNamespace(synchronize=lambda: None, empty_cache=lambda: None))
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setattr(profiler.zoo, "build", lambda *a: object())
    monkeypatch.setattr(profiler, "warm_up", lambda *a, **k: None)
    monkeypatch.setattr(profiler, "capture_one", lambda built, stream, track_ops=True: _Cap(3, graph=("d", 0)))
    lane_us = {8: 80.0, 16: 95.0}

    def capture_targeted(built, p, total, track_ops=False, conv_target=False, seen=None):
        if conv_target:
            seen["handed"] = 2
            return _Cap(2 if p.sms == 8 else 3, graph=("l", p.sms))
        return _Cap(3, graph=("t", p.sms))

    monkeypatch.setattr(profiler, "_capture_targeted", capture_targeted)
    monkeypatch.setattr(profiler, "request_latency_us",
                        lambda g, s, iters: {"d": 100.0, "t": 90.0}.get(g[0]) or lane_us[g[1]])
    parts = [SimpleNamespace(sms=s, torch_stream=None) for s in (8, 16, 132)]
    got = profiler.request_latencies_us(parts, "resnet152", 1, "fp16", gemm_target=True, conv_target=True)
    assert got.targeted_us == [80.0, 90.0, 100.0] and got.conv_sms == [8]
    assert got.recounted == [8], "the kept lane's capture has another kernel count"
    # given sizes (a profile re-timed): timed on the lane there whatever it gives
    got = profiler.request_latencies_us(parts, "resnet152", 1, "fp16", gemm_target=True, conv_sms=[16])
    assert got.targeted_us == [90.0, 95.0, 100.0] and got.conv_sms == [16]
    # a model without convolutions: lanes tried at the first size only, none kept
    lane_us[8] = 70.0
    monkeypatch.setattr(profiler, "_capture_targeted", lambda built, p, total, track_ops=False, conv_target=False,
                        seen=None: (tried.append(p.sms) if conv_target else None, _Cap(3, graph=("t", p.sms)))[1])
    tried: list = []
    got = profiler.request_latencies_us(parts, "albert", 1, "fp16", gemm_target=True, conv_target=True)
    assert tried == [8] and got.conv_sms == [] and got.targeted_us == [90.0, 90.0, 100.0]
    # no conv target: no lanes, no list
    got = profiler.request_latencies_us(parts, "resnet152", 1, "fp16", gemm_target=True)
    assert got.targeted_us == [90.0, 90.0, 100.0] and got.conv_sms is None


def test_the_graphs_memset_nodes_are_no_kernels_of_it():
    kernel = lambda name, ts: {"cat": "kernel", "name": name, "ts": ts, "dur": 1.0}  # noqa: E731
    trace = {"traceEvents": [kernel("conv_b", 5.0), kernel("memset32", 1.0), kernel("conv_a", 2.0),
                             {"cat": "gpu_memcpy", "name": "Memcpy DtoD", "ts": 3.0}, kernel("memset_rows", 4.0)]}
    assert [e["name"] for e in profiler.graph_kernel_events(trace)] == ["conv_a", "memset_rows", "conv_b"]
