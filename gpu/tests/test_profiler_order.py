"""The profiler times request latencies before torch.profiler runs in the process (profiler.py): after it, CUPTI stays
attached and graph launches are slower. No GPU: the timing and profiling calls are replaced by recorders."""

import json
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

    def latencies(ps, name, batch, dtype, iters=30, gemm_target=False):
        calls.append(("time", name, batch))
        return [100.0 * len(calls), 50.0], "sha256:x", None

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
                           repeats=10, gemm_target=False)
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
    monkeypatch.setattr(profiler, "request_latencies_us", lambda ps, *a, **k: ([100.0, 40.0], "sha256:a", None))
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
    monkeypatch.setattr(profiler, "request_latencies_us", lambda ps, *a, **k: ([100.0, 40.0], "sha256:b", None))
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
    asked = []

    def latencies(ps, *a, gemm_target=False, **k):
        asked.append(gemm_target)
        return [100.0, 40.0], "sha256:a", [70.0, 40.0]

    monkeypatch.setattr(profiler, "request_latencies_us", latencies)
    monkeypatch.setattr(profiler, "versions", lambda: {"torch": "t"})
    new = profiler.retime_profile(parts, gpu, prof)
    assert asked == [True]
    assert new["gemmTarget"]["requestUs"] == [70.0, 40.0]
    assert new["gemmTarget"]["kernelSumRatio"] == [0.8, 0.75]
    assert new["gemmTarget"]["timesUs"] == prof["gemmTarget"]["timesUs"]
    monkeypatch.setattr(profiler, "request_latencies_us", lambda ps, *a, **k: ([100.0, 40.0], "sha256:a", None))
    new = profiler.retime_profile(parts, gpu, prof)
    assert "gemmTarget" not in new
    assert "GEMM-target section dropped" in new["measured"]["notes"]


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
