"""eclip-live in a bench run without a GPU (live.py, runner.py): the active set against a virtual clock — who is in it
at each request's start, the hold, no blip between a worker's back-to-back requests, each set's time in the window
and the switches —, the schedule loop telling it of each end, and the runner following a table over fake captures
(no torch): each request runs the capture of the plan its set resolves to, and the reply says which."""

from __future__ import annotations

import threading
import time
import types

import pytest

from eclip_gpu import runner as runner_mod
from eclip_gpu.arrivals import run_schedule
from eclip_gpu.cuda import BackendError
from eclip_gpu.live import ActiveSet, check_sets
from eclip_gpu.runner import Runner


class Clock:
    def __init__(self):
        self.now = 0

    def __call__(self):
        return self.now


def test_a_worker_is_active_while_in_flight_and_for_the_hold_after():
    c = Clock()
    s = ActiveSet(2, hold_ns=5, clock=c)
    assert s.begin(0) == 0b01
    c.now = 2
    assert s.begin(1) == 0b11
    s.end(1, 4, next_due=False)
    c.now = 8  # worker 1 ended at 4: inside its hold (4 + 5 > 8)
    s.end(0, 8, next_due=False)
    c.now = 9  # worker 1's hold ran out at 9; worker 0's lasts until 13
    assert s.begin(1) == 0b11
    s.end(1, 10, next_due=False)
    c.now = 14
    assert s.begin(1) == 0b10  # worker 0 left at 13
    assert s.masks == [[0b01], [0b11, 0b11, 0b10]]


def test_back_to_back_requests_stay_in_the_set_even_without_hold():
    c = Clock()
    s = ActiveSet(2, hold_ns=0, clock=c)
    s.begin(0)
    c.now = 10_000
    s.end(0, 10_000, next_due=True)  # the next request is due at once: no turn
    s.begin(0)
    c.now = 11_000
    assert s.begin(1) == 0b11
    assert s.turns[0] == [(0, True)]
    s.end(0, 20_000, next_due=False)
    s.end(1, 20_000, next_due=False)
    out = s.summary(0, 0, 30_000, 30_000)
    # µs: 0–11 {0}, 11–20 {0,1}, 20–30 none; changes at 0, 11 and 20
    assert out["setTimeUs"] == [10.0, 11.0, 0.0, 9.0]
    assert (out["switches"], out["switchesTotal"]) == (3, 3)


def test_summary_merges_holds_and_counts_only_the_window():
    c = Clock()
    s = ActiveSet(2, hold_ns=5_000, clock=c)  # µs-sized numbers: the summary's times are µs
    s.begin(0)  # worker 0: 0–10k, hold to 15k; again 12k–20k, hold to 25k: one span 0–25k
    s.end(0, 10_000, next_due=False)
    c.now = 12_000
    s.begin(0)
    s.end(0, 20_000, next_due=False)
    c.now = 30_000
    s.begin(1)  # worker 1: 30k–40k, hold to 45k
    s.end(1, 40_000, next_due=False)
    out = s.summary(origin_ns=0, window_start_ns=5_000, window_end_ns=50_000, end_ns=50_000)
    # in the window 5k–50k: {0} 5k–25k, none 25k–30k and 45k–50k, {1} 30k–45k
    assert out["setTimeUs"] == [10.0, 20.0, 15.0, 0.0]
    # changes: 0 (before the window), 25k, 30k, 45k
    assert (out["switches"], out["switchesTotal"]) == (3, 4)


def test_a_change_that_cancels_at_one_instant_is_none():
    c = Clock()
    s = ActiveSet(1, hold_ns=0, clock=c)
    s.begin(0)
    s.end(0, 10, next_due=False)
    c.now = 10
    s.begin(0)  # the same instant: no change of the set
    s.end(0, 20, next_due=False)
    # in at 0, out at 20: nothing at 10
    assert s.summary(0, 0, 20, 20)["switchesTotal"] == 2


def test_the_schedule_loop_tells_the_set_when_the_next_request_is_due():
    # virtual time: 100-µs requests; open arrivals at 0, 50 (queued: due at once) and 500 (idle in between)
    c = Clock()
    c.now = 1_000
    origin = c.now
    heard = []

    class Done:
        def synchronize(self):
            c.now += 100_000

    def wait(seconds):
        c.now += int(round(seconds * 1e9))
        return False

    run_schedule("w", Done, {"kind": "open", "arrivalsUs": [0, 50, 500]}, origin, origin + 10**9, threading.Event(),
                 clock=c, wait=wait, thread_clock=lambda: 0, ended=lambda t, due: heard.append(((t - origin) // 1000, due)))
    assert heard == [(100, True), (200, False), (600, False)]
    heard.clear()
    # a closed loop: due while its busy period lasts (0–250 µs), not after
    run_schedule("w", Done, {"kind": "closed", "periodsUs": [0, 250]}, c.now, c.now + 10**9, threading.Event(),
                 clock=c, wait=wait, thread_clock=lambda: 0, ended=lambda t, due: heard.append(due))
    assert heard == [True, True, False]


def test_sets_must_name_a_plan_listing_every_worker_of_the_set():
    listed = {"a": {"a"}, "b": {"b"}, "a+b": {"a", "b"}}
    check_sets(["", "a", "b", "a+b"], ["a", "b"], listed)
    with pytest.raises(ValueError, match="3 entries; 2 workers have 4 sets"):
        check_sets(["", "a", "b"], ["a", "b"], listed)
    with pytest.raises(ValueError, match=r"live.sets\[3\]: plan 'a' does not list b"):
        check_sets(["", "a", "b", "a"], ["a", "b"], listed)
    with pytest.raises(ValueError, match=r"no plan 'c' in live.plans"):
        check_sets(["", "a", "c", "a+b"], ["a", "b"], listed)


# ── the runner over fake captures ───────────────────────────────────────────────────────────────────────────────


class _Layout:
    name, sm_count, min_size, compute_capability, n_slices = "NVIDIA H100 80GB HBM3", 132, 8, "9.0", 16

    def slice_sms(self, i):
        return 12 if i == 15 else 8


class _Energy:
    def read_mj(self):
        return 0

    def clocks(self):
        return {}


class _Pool:
    def __init__(self):
        self.created = []

    def create(self, slices, pid):
        key = tuple(sorted(slices))
        if key not in self.created:
            self.created.append(key)
        return ("part", key)

    def for_worker(self, part, name):
        return part

    def close(self):
        pass


class _Exec:
    """A capture: `plan` says which (alone: no groups; together: the pair plan's)."""

    def __init__(self, name, groups):
        self.name, self.moved_boundaries, self.switches = name, 0, 0
        self.plan = "alone" if groups is None else "pair"
        self.starts = []

    def request(self):
        self.starts.append(time.perf_counter_ns())
        return types.SimpleNamespace(synchronize=lambda: time.sleep(0.0005))


GPU = {"name": _Layout.name, "smCount": 132, "sliceSize": 8}
FP = "sha256:" + "0" * 64


def _worker(name, groups):
    return {"name": name, "model": name.split("#")[0], "batch": 1, "dtype": "fp16", "fingerprint": FP,
            "groups": groups}


def _plans():
    whole = {"id": 0, "slices": list(range(16)), "sms": 132}
    alone = {n: {"policy": "baseline", "gpu": GPU, "pool": {"partitions": [whole]},
                 "workers": [_worker(n, [{"first": 0, "last": 9, "partition": 0}])]} for n in ("a#0", "b#0")}
    pair = {"policy": "model-wise", "gpu": GPU,
            "pool": {"partitions": [{"id": 0, "slices": list(range(8)), "sms": 64},
                                    {"id": 1, "slices": list(range(8, 16)), "sms": 68}]},
            "workers": [_worker("a#0", [{"first": 0, "last": 9, "partition": 0}]),
                        _worker("b#0", [{"first": 0, "last": 9, "partition": 1}])]}
    return pair, [{"key": "a#0", "plan": alone["a#0"]}, {"key": "b#0", "plan": alone["b#0"]},
                  {"key": "a#0+b#0", "plan": pair}]


def _runner(monkeypatch):
    r = object.__new__(Runner)
    r.layout, r.energy, r.pool, r.models, r.origins = _Layout(), _Energy(), _Pool(), {}, {}
    cuda = types.SimpleNamespace(synchronize=lambda: None, empty_cache=lambda: None, Stream=lambda: None,
                                 graph_pool_handle=lambda: None)
    r.torch = types.SimpleNamespace(cuda=cuda)
    made = []

    def prepare(name, built, mode, groups, *a, **k):
        made.append(_Exec(name, groups))
        return made[-1]

    monkeypatch.setattr(r, "_built", lambda w: None)
    monkeypatch.setattr(r, "_check_outputs", lambda captured: [{"name": c[0]} for c in captured])
    monkeypatch.setattr(runner_mod, "prepare_worker", prepare)
    monkeypatch.setattr(runner_mod, "op_kernel_starts", lambda built, origin, warmed=None: ([], None))
    return r, made


def test_the_runner_runs_each_request_under_its_sets_plan(monkeypatch):
    r, made = _runner(monkeypatch)
    pair, entries = _plans()
    # a: a closed loop all run long; b: one request at 15 ms, then nothing (hold 2 ms)
    arrivals = [{"kind": "closed", "periodsUs": [0, 40_000]}, {"kind": "open", "arrivalsUs": [15_000]}]
    msg = {"plan": pair, "mode": None, "warmupS": 0.005, "windowS": 0.035, "checkOutputs": True, "arrivals": arrivals,
           "live": {"holdUs": 2000, "plans": entries, "sets": ["", "a#0", "b#0", "a#0+b#0"]}}
    out = r.run(msg, progress=lambda m: None)
    # one partition per slice set of the table's plans: the whole GPU and the pair's two halves
    assert sorted(r.pool.created) == [tuple(range(8)), tuple(range(16)), tuple(range(8, 16))]
    # a under both plans that list it, b likewise
    assert sorted((e.name, e.plan) for e in made) == [("a#0", "alone"), ("a#0", "pair"), ("b#0", "alone"),
                                                     ("b#0", "pair")]
    live = out["live"]
    sets_a, sets_b = live["requestSets"]
    assert len(sets_a) == len(out["workers"][0]["endUs"]) and len(sets_b) == len(out["workers"][1]["endUs"]) == 1
    # b's request started while a was in flight: the pair's plan; a ran alone before and after b's stay
    assert sets_b == [0b11]
    assert sets_a[0] == 0b01 and sets_a[-1] == 0b01 and 0b11 in sets_a
    runs = {(e.name, e.plan): len(e.starts) for e in made}
    assert runs[("b#0", "pair")] == 1 and runs[("b#0", "alone")] == 0
    assert runs[("a#0", "pair")] == sets_a.count(0b11) and runs[("a#0", "alone")] == sets_a.count(0b01)
    # the window is covered by the sets' times; a was in every set of it; b entered and left: two switches
    window_us = out["windowEndUs"] - out["windowStartUs"]
    assert abs(sum(live["setTimeUs"]) - window_us) < 1
    assert live["setTimeUs"][0] == 0 and live["setTimeUs"][2] == 0 and live["setTimeUs"][3] > 2000
    assert live["switches"] == 2
    # outputs checked under every non-baseline plan
    assert [c["name"] for c in out["outputCheck"]] == ["a#0 under a#0+b#0", "b#0 under a#0+b#0"]


def test_a_live_run_with_a_set_no_plan_covers_is_refused_before_capture(monkeypatch):
    r, made = _runner(monkeypatch)
    pair, entries = _plans()
    msg = {"plan": pair, "mode": None, "warmupS": 0, "windowS": 0.01, "checkOutputs": False,
           "arrivals": [{"kind": "closed", "periodsUs": [0, 1]}] * 2,
           "live": {"holdUs": 0, "plans": entries, "sets": ["", "a#0", "a#0", "a#0+b#0"]}}
    with pytest.raises(BackendError, match=r"plan 'a#0' does not list b#0"):
        r.run(msg, progress=lambda m: None)
    assert made == []
    with pytest.raises(BackendError, match="needs every worker's arrivals"):
        r.run({**msg, "arrivals": None}, progress=lambda m: None)
