"""Model control while serving (model_control.py) without a GPU: the real ModelControl and Serving (threads,
pipelines, replies by id) with workers that "capture" instantly (fake_capture.py). What a load, an unload and
add-plans do to the served set and to every worker's captures, the bad requests, a load that fails half way, a burst
of them, and the requests of a model being unloaded. The real captures: gpu/tests_gpu/test_model_control.py."""

import importlib.util
import itertools
import re
import threading
import time
from pathlib import Path

import pytest
from fake_capture import FakeCaptor, FakePipe

from eclip_gpu.model_control import ModelControl

# the probe that reads a load's steps off the server log (gpu/scripts/live-control-probe.py)
_spec = importlib.util.spec_from_file_location(
    "live_control_probe", Path(__file__).resolve().parents[1] / "scripts" / "live-control-probe.py")
probe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(probe)
from eclip_gpu.serving import Serving, ServedWorker


class Replies:
    def __init__(self):
        self.frames = []
        self.cond = threading.Condition()

    def __call__(self, header, body=b""):
        with self.cond:
            self.frames.append((header, bytes(body)))
            self.cond.notify_all()

    def by_id(self, i, timeout=5.0):
        """The reply to request `i` (progress lines skipped)."""
        with self.cond:
            assert self.cond.wait_for(lambda: any(h.get("id") == i for h, _ in self.frames), timeout), self.frames
            return next(h for h, _ in self.frames if h.get("id") == i)


def echo(delay_s=0.0):
    def run(n, datatype, body):
        time.sleep(delay_s)
        return [n, len(body) // n], "UINT8", body[::-1], 12.5

    return run


def plan(*names):
    """A plan listing `names`, with one partition per worker (slices by position: enough for the captor)."""
    return {"key": "+".join(sorted(names)),
            "plan": {"workers": [{"name": n} for n in names],
                     "pool": {"partitions": [{"id": i, "slices": [i]} for i, _ in enumerate(names)]}}}


class Rig:
    """A Serving with workers a (and whichever are added) serving, and a ModelControl over it."""

    def __init__(self, delay_s=0.0, fail=lambda w, k: False, capture_s=0.0):
        self.replies = Replies()
        self.serving = Serving(self.replies, resources=lambda: None)
        self.delay_s = delay_s
        self.captor = FakeCaptor(self.serving, self.make, fail=fail, delay_s=capture_s)
        self.control = ModelControl(self.serving, self.replies, captor=self.captor, settle_s=0.01, drain_s=5.0)
        self.next_id = 100

    def make(self, spec):
        return echo(self.delay_s), 4, {"name": spec["name"], "fingerprint": "fake"}

    def serve(self, name, keys):
        pipe = FakePipe(name, echo(self.delay_s), 4, keys)
        self.serving.add_worker(ServedWorker(name, pipe.execute, {}, pipeline=pipe))

    def request(self, type_, **fields):
        self.next_id += 1
        self.control.submit({"type": type_, "id": self.next_id, **fields})
        return self.next_id

    def infer(self, name, plan_key, body=b"abcd"):
        self.next_id += 1
        self.serving.infer({"type": "infer", "name": name, "id": self.next_id, "n": 1, "dtype": "UINT8",
                            "plan": plan_key}, body)
        return self.next_id

    def keys(self, name):
        return self.captor.keys(self.serving.workers[name])

    def close(self):
        self.control.close()
        self.serving.close()


@pytest.fixture
def rig():
    r = Rig()
    r.serve("a", ["a"])
    yield r
    r.close()


def test_a_load_captures_the_new_worker_and_the_loaded_ones_under_its_plans(rig):
    reply = rig.replies.by_id(rig.request("load-model", worker={"name": "b"}, plans=[plan("b"), plan("a", "b")]))
    assert reply["type"] == "model-loaded", reply
    assert reply["captured"] == {"a": ["a+b"]}
    assert reply["worker"]["plans"] == {"b": {"mode": "whole", "switches": 0}, "a+b": {"mode": "whole", "switches": 0}}
    assert reply["partitionsCreated"] == 2  # slices [0] and [1]
    assert rig.keys("a") == {"a", "a+b"} and rig.keys("b") == {"b", "a+b"}
    for name, key in [("b", "a+b"), ("a", "a+b"), ("b", "b")]:
        out = rig.replies.by_id(rig.infer(name, key))
        assert out["type"] == "output", out
    # add-plans: every loaded worker under a plan new to it
    reply = rig.replies.by_id(rig.request("add-plans", plans=[{**plan("a", "b"), "key": "a+b*"}]))
    assert reply["type"] == "plans-added" and reply["captured"] == {"a": ["a+b*"], "b": ["a+b*"]}


def test_a_load_reports_its_steps_in_order_for_the_probe_to_line_up():
    # the captor takes 50 ms a capture: b under its two plans, then a under the pair's
    r = Rig(capture_s=0.05)
    r.serve("a", ["a"])
    try:
        reply = r.replies.by_id(r.request("load-model", worker={"name": "b"}, plans=[plan("b"), plan("a", "b")]))
        assert reply["type"] == "model-loaded", reply
        lines = [h["message"] for h, _ in r.replies.frames if h.get("type") == "progress"]
        assert any(re.search(r"serving after .* 2 green contexts made \(0 ms in all", x) for x in lines), lines
        steps = probe.parse_phases("\n".join(f"gpu: {x}" for x in lines), "b")
        assert [n for n, _, _ in steps] == ["partitions and ring", "model built", "captured under 2 plans",
                                            "1 captures of the loaded models", "serving"]
        # one after another from 0, each as long as its captures
        assert steps[0][1] == 0.0
        assert all(abs(a[2] - b[1]) < 0.011 for a, b in zip(steps, steps[1:]))
        assert steps[2][2] - steps[2][1] >= 0.09 and steps[3][2] - steps[3][1] >= 0.045
    finally:
        r.close()


def test_the_others_keep_serving_while_a_load_captures():
    r = Rig(capture_s=0.1)
    r.serve("a", ["a"])
    try:
        load = r.request("load-model", worker={"name": "b"}, plans=[plan("b"), plan("a", "b")])
        t0 = time.perf_counter()
        answered = [r.replies.by_id(r.infer("a", "a"))["type"] for _ in range(5)]
        during = time.perf_counter() - t0
        assert answered == ["output"] * 5
        assert r.replies.by_id(load)["type"] == "model-loaded"
        # the load took three captures of 0.1 s; a's five requests were answered while it went on
        assert during < 0.2, during
    finally:
        r.close()


@pytest.mark.parametrize(("fields", "message"), [
    ({"worker": {"name": "a"}, "plans": [plan("a")]}, r"worker 'a' is loaded already"),
    ({"worker": {"name": "b"}, "plans": [plan("a")]}, r"b: none of the 1 plans of its load lists it"),
    ({"worker": {"name": "b"}, "plans": [plan("b"), plan("b", "x")]}, r"plan 'b\+x' lists 'x', which is not loaded"),
    ({"worker": {"name": "b"}, "plans": [plan("b"), plan("b")]}, r"a key named twice \(b\)"),
])
def test_a_bad_load_is_refused_naming_what_is_wrong_and_changes_nothing(rig, fields, message):
    reply = rig.replies.by_id(rig.request("load-model", **fields))
    assert reply["type"] == "error" and not reply["fatal"], reply
    assert re.search(message, reply["message"]), reply["message"]
    assert set(rig.serving.workers) == {"a"} and rig.keys("a") == {"a"}


def test_a_load_that_fails_half_way_leaves_the_served_set_and_every_capture_as_they_were():
    r = Rig(fail=lambda w, k: w == "a" and k == "a+b+c")
    r.serve("a", ["a"])
    try:
        assert r.replies.by_id(r.request("load-model", worker={"name": "b"},
                                         plans=[plan("b"), plan("a", "b")]))["type"] == "model-loaded"
        before = {n: r.keys(n) for n in r.serving.workers}
        # c is built and captured, b is captured under a+b+c, then a's capture fails
        reply = r.replies.by_id(r.request("load-model", worker={"name": "c"},
                                          plans=[plan("c"), plan("b", "c"), plan("a", "b", "c")]))
        assert reply["type"] == "error" and "a: capture under plan 'a+b+c' failed on purpose" in reply["message"]
        assert {n: r.keys(n) for n in r.serving.workers} == before
        assert "c" not in r.serving.workers
        assert r.replies.by_id(r.infer("c", "c"))["message"] == "no loaded worker 'c'"
        assert r.replies.by_id(r.infer("b", "b+c"))["type"] == "error"
        assert r.replies.by_id(r.infer("a", "a+b"))["type"] == "output"
    finally:
        r.close()


def test_an_unload_answers_what_the_worker_holds_then_refuses_it_and_retires_its_plans():
    r = Rig(delay_s=0.05)
    r.serve("a", ["a"])
    try:
        r.replies.by_id(r.request("load-model", worker={"name": "b"}, plans=[plan("b"), plan("a", "b")]))
        held = [r.infer("b", "a+b") for _ in range(4)]  # two in flight, two waiting
        unload = r.request("unload-model", name="b")
        time.sleep(0.005)  # the unload has taken b out
        after = r.infer("b", "b")
        assert r.replies.by_id(after)["message"] == "no loaded worker 'b'"
        assert [r.replies.by_id(i)["type"] for i in held] == ["output"] * 4
        reply = r.replies.by_id(unload)
        assert reply == {"type": "model-unloaded", "name": "b", "retired": {"a": ["a+b"]}, "refused": 0, "id": unload}
        assert set(r.serving.workers) == {"a"} and r.keys("a") == {"a"}
        # unloading it twice
        again = r.replies.by_id(r.request("unload-model", name="b"))
        assert again["type"] == "error" and again["message"] == "BackendError: no loaded worker 'b' to unload"
    finally:
        r.close()


def test_a_burst_of_loads_and_unloads_runs_in_order_and_ends_consistent(rig):
    ops = [("load-model", "b"), ("load-model", "c"), ("unload-model", "b"), ("unload-model", "b"),
           ("load-model", "b"), ("unload-model", "c")]
    loaded, ids = {"a"}, []
    for kind, name in ops:
        if kind == "load-model":
            # every set of the loaded workers and this one that has it (the table's plans that list it)
            rest = sorted(loaded)
            subsets = [s for n in range(len(rest) + 1) for s in itertools.combinations(rest, n)]
            ids.append(rig.request(kind, worker={"name": name}, plans=[plan(*sorted({*s, name})) for s in subsets]))
            loaded.add(name)
        else:
            ids.append(rig.request(kind, name=name))
            loaded.discard(name)
        rig.infer("a", "a")  # a keeps serving meanwhile
    types = [rig.replies.by_id(i)["type"] for i in ids]
    # the second unload of b finds none
    assert types == ["model-loaded", "model-loaded", "model-unloaded", "error", "model-loaded", "model-unloaded"]
    assert set(rig.serving.workers) == {"a", "b"}
    assert rig.keys("a") == {"a", "a+b"} and rig.keys("b") == {"b", "a+b"}
    # replies came in request order
    order = [h["id"] for h, _ in rig.replies.frames if h.get("id") in ids]
    assert order == ids

