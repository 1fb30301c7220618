"""The runner's choice of loop without a GPU: with `arrivals` in the run message each worker keeps its schedule
(arrivals.py) and the reply carries its requests' arrival times; without, the closed loop as always; a schedule per
plan worker or the run is refused; a plan worker's stream priority reaches every stream it runs on. The model,
partitions and graphs are fakes (no torch)."""

from __future__ import annotations

import types

import pytest

from eclip_gpu import runner as runner_mod
from eclip_gpu.cuda import BackendError
from eclip_gpu.runner import Runner


class _Layout:
    name, sm_count, min_size, compute_capability, n_slices = "NVIDIA H100 80GB HBM3", 132, 8, "9.0", 16

    def slice_sms(self, i):
        return 12 if i == 15 else 8


class _Energy:
    def __init__(self):
        self.mj = 0

    def read_mj(self):
        self.mj += 100
        return self.mj

    def clocks(self):
        return {}


class _Pool:
    def __init__(self):
        self.made = []

    def create(self, slices, pid):
        return ("part", pid)

    def for_worker(self, part, name, priority="normal"):
        self.made.append((name, part, priority))
        return part

    def close(self):
        pass


class _Exec:
    def __init__(self, name):
        self.name, self.moved_boundaries, self.switches, self.requests = name, 0, 0, 0

    def request(self):
        self.requests += 1
        return types.SimpleNamespace(synchronize=lambda: None)


def _runner(monkeypatch, loops: list):
    r = object.__new__(Runner)
    r.layout, r.energy, r.pool, r.models, r.origins = _Layout(), _Energy(), _Pool(), {}, {}
    cuda = types.SimpleNamespace(synchronize=lambda: None, empty_cache=lambda: None, Stream=lambda: ("stream", "normal"))
    r.torch = types.SimpleNamespace(cuda=cuda)
    monkeypatch.setattr(r, "_built", lambda w: None)
    r.prepared = []

    def prepare(name, built, mode, groups, parts, origin, *a, **k):
        r.prepared.append((name, origin))
        return _Exec(name)

    monkeypatch.setattr(runner_mod, "prepare_worker", prepare)
    monkeypatch.setattr(runner_mod, "ordinary_stream", lambda level="normal": ("stream", level))
    real_driven = runner_mod.driven_loop

    def driven(*a, **k):
        loops.append("driven")
        return real_driven(*a, **k)

    def closed(workers, warmup, window, energy):
        loops.append("closed")
        return {"windowStartNs": 0, "windowEndNs": 1_000_000,
                "energyJ": 0.1, "workers": [{"name": w.name, "startsNs": [10_000], "endsNs": [30_000], "cpuNs": [1000]}
                                            for w in workers]}

    monkeypatch.setattr(runner_mod, "driven_loop", driven)
    monkeypatch.setattr(runner_mod, "closed_loop", closed)
    return r


def _plan():
    w = {"model": "vgg19", "batch": 1, "dtype": "fp16", "fingerprint": "sha256:" + "0" * 64,
         "groups": [{"first": 0, "last": 9, "partition": 0}]}
    return {"policy": "model-wise", "gpu": {"name": _Layout.name, "smCount": 132, "sliceSize": 8},
            "pool": {"partitions": [{"id": 0, "slices": [0], "sms": 8}]},
            "workers": [{**w, "name": "vgg19#0"}, {**w, "name": "resnet152#0", "model": "resnet152"}]}


def test_arrivals_run_each_worker_by_its_schedule(monkeypatch):
    loops: list = []
    r = _runner(monkeypatch, loops)
    arrivals = [{"kind": "open", "arrivalsUs": [0, 1000, 2000]}, {"kind": "closed", "periodsUs": [0, 3000]}]
    out = r.run({"plan": _plan(), "warmupS": 0, "windowS": 0.02, "arrivals": arrivals}, progress=lambda m: None)
    assert loops == ["driven"]
    a, b = out["workers"]
    # µs from the run's origin: the open worker's arrivals are its schedule's (as many as the machine got to)
    assert a["arrivalUs"] == [0.0, 1000.0, 2000.0][: len(a["arrivalUs"])]
    assert all(s >= x for s, x in zip(a["startUs"], a["arrivalUs"]))
    assert b["arrivalUs"] == b["startUs"]
    assert out["windowStartUs"] >= 0 and out["energyJ"] == 0.1


def test_without_arrivals_the_closed_loop_as_before(monkeypatch):
    loops: list = []
    out = _runner(monkeypatch, loops).run({"plan": _plan(), "warmupS": 0, "windowS": 0.01}, progress=lambda m: None)
    assert loops == ["closed"]
    assert out["workers"][0] == {"name": "vgg19#0", "startUs": [10.0], "endUs": [30.0], "cpuUs": [1.0]}


@pytest.mark.parametrize("arrivals, why", [
    ([{"kind": "closed", "periodsUs": [0, 1]}], "1 arrival schedules for 2 plan workers"),
    ([{"kind": "closed", "periodsUs": [0, 1]}, {"kind": "open", "arrivalsUs": [5, 1]}],
     "resnet152#0: arrival times must not decrease"),
])
def test_bad_arrivals_are_refused_before_anything_runs(monkeypatch, arrivals, why):
    loops: list = []
    with pytest.raises(BackendError, match=why):
        _runner(monkeypatch, loops).run({"plan": _plan(), "warmupS": 0, "windowS": 0.01, "arrivals": arrivals},
                                        progress=lambda m: None)
    assert loops == []


def test_a_high_priority_worker_gets_every_stream_high(monkeypatch):
    """eclip-rt's priority mechanism: the plan's real-time worker launches from a high-priority stream of its own and
    its partition streams are high too; the others stay normal; its origin is kept apart from a normal one."""
    plan = _plan()
    plan["policy"] = "eclip-rt"
    plan["workers"][0]["streamPriority"] = "high"
    r = _runner(monkeypatch, [])
    r.run({"plan": plan, "warmupS": 0, "windowS": 0.01}, progress=lambda m: None)
    assert r.pool.made == [("vgg19#0", ("part", 0), "high"), ("resnet152#0", ("part", 0), "normal")]
    assert r.prepared == [("vgg19#0", ("stream", "high")), ("resnet152#0", ("stream", "normal"))]
    assert r.origins == {("vgg19#0", "high"): ("stream", "high"), "resnet152#0": ("stream", "normal")}
