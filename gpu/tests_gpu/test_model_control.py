"""Model control on the GPU (GPU test; model_control.py): while alexnet serves, albert is loaded (built and captured
under its plans, alexnet captured under the pair's plan, partitions created) and every capture answers as the eager
model; alexnet's requests during the load are all answered right; a load that fails half way (the pair's plan made
for another kernel sequence of alexnet) leaves every capture and the served set as they were; an unload answers what
the worker holds, retires the pair's plan, and the model loads again."""

import threading
import time

import pytest
from tests_gpu.plans import alternating_groups
from tests_gpu.replies import Replies

from eclip_gpu import zoo
from eclip_gpu.model_control import ModelControl
from eclip_gpu.serving import Serving, _own_resources

BATCH = 2
DATATYPE = {"alexnet": "FP16", "albert": "INT64"}


def _worker(name):
    return {"name": name, "model": name, "batch": BATCH, "dtype": "fp16"}


def _plan(layout, policy, parts, workers):
    """A plan: `parts` {id: slices}, `workers` [(name, groups, fingerprint)]."""
    return {"policy": policy, "gpu": {"name": layout.name, "smCount": layout.sm_count},
            "pool": {"partitions": [{"id": i, "slices": s} for i, s in parts.items()]},
            "workers": [{**_worker(n), "fingerprint": fp, "groups": g} for n, g, fp in workers]}


def _alone(layout, name):
    return {"key": name, "plan": _plan(layout, "baseline", {0: list(range(layout.n_slices))},
                                       [(name, [{"first": 0, "last": 0, "partition": 0}], "")])}


def _pair(layout, alexnet_kernels, alexnet_fp=""):
    """alexnet's kernels alternating over two partitions of slices no other test uses (graph mode), albert whole on
    the second (one group)."""
    n = layout.n_slices
    parts = {0: [5, 6, 7], 1: list(range(8, n))}
    return {"key": "albert+alexnet", "plan": _plan(layout, "eclip", parts, [
        ("alexnet", alternating_groups(alexnet_kernels, [0, 1]), alexnet_fp),
        ("albert", [{"first": 0, "last": 0, "partition": 1}], ""),
    ])}


def _input(model, n, seed):
    import torch

    g = torch.Generator().manual_seed(seed)
    if model == "albert":
        return torch.randint(0, 30000, (n, zoo.ALBERT_SEQ), generator=g, dtype=torch.int64)
    return torch.randn(n, 3, 224, 224, generator=g).to(torch.float16)


_EAGER = {}


def _eager(model, x):
    import torch

    if model not in _EAGER:
        _EAGER[model] = zoo.build(model, BATCH, "fp16")  # same seed, same weights as serving's build
    padded = torch.zeros((BATCH, *x.shape[1:]), dtype=x.dtype)
    padded[: x.shape[0]] = x
    with torch.inference_mode():
        return _EAGER[model].model(padded.cuda()).float().cpu()[: x.shape[0]]


def _bytes(t):
    import torch

    return t.contiguous().cpu().view(torch.uint8).numpy().tobytes()


def _rel_err(header, body, ref):
    import torch

    out = torch.frombuffer(bytearray(body), dtype=torch.float16).reshape(header["shape"]).float()
    return ((out - ref).norm() / ref.norm()).item()


@pytest.fixture(scope="module")
def rig():
    layout = _own_resources()[0]
    if layout.n_slices < 10:
        pytest.skip(f"the test's plans need 10 slices, this GPU's split has {layout.n_slices}")
    replies = Replies()
    serving = Serving(replies)
    loaded = serving.load({"plan": None, "plans": [_alone(layout, "alexnet")], "workers": [_worker("alexnet")]})
    control = ModelControl(serving, replies)
    yield {"layout": layout, "serving": serving, "control": control, "replies": replies,
           "kernels": loaded["workers"][0]["kernels"], "ids": iter(range(10**6))}
    control.close()
    serving.close()


def _infer(rig, model, plan, seed):
    x = _input(model, 1, seed)
    rid = f"{model}-{plan}-{next(rig['ids'])}"
    rig["serving"].infer({"type": "infer", "name": model, "id": rid, "n": 1, "dtype": DATATYPE[model], "plan": plan},
                         _bytes(x))
    return rid, x


def _request(rig, type_, **fields):
    rid = next(rig["ids"])
    rig["control"].submit({"type": type_, "id": rid, **fields})
    return rig["replies"].wait(rid)[0]


def test_a_load_that_fails_half_way_leaves_everything_as_it_was(rig):
    layout, serving = rig["layout"], rig["serving"]
    reply = _request(rig, "load-model", worker=_worker("albert"),
                     plans=[_alone(layout, "albert"), _pair(layout, rig["kernels"], "sha256:" + "0" * 64)])
    assert reply["type"] == "error" and "alexnet: the plan was made for kernel sequence" in reply["message"], reply
    assert set(serving.workers) == {"alexnet"}
    assert set(k for k in serving.workers["alexnet"].pipeline.captures if k) == {"alexnet"}
    rid, x = _infer(rig, "alexnet", "alexnet", 1)
    header, body = rig["replies"].wait(rid)
    assert header["type"] == "output" and _rel_err(header, body, _eager("alexnet", x)) < 1e-2


def test_loading_while_alexnet_serves_then_unloading(rig):
    layout, serving, replies = rig["layout"], rig["serving"], rig["replies"]
    stop, errors, served = threading.Event(), [], []
    # alexnet's requests meanwhile: inputs and eager outputs made beforehand (nothing but serving on that thread)
    cases = [(x, _eager("alexnet", x)) for x in (_input("alexnet", 1, 100 + i) for i in range(8))]

    def traffic():
        i = 0
        while not stop.is_set():
            x, ref = cases[i % len(cases)]
            rid = f"traffic-{i}"
            serving.infer({"type": "infer", "name": "alexnet", "id": rid, "n": 1, "dtype": "FP16",
                           "plan": "alexnet"}, _bytes(x))
            header, body = replies.wait(rid)
            if header["type"] != "output" or _rel_err(header, body, ref) >= 1e-2:
                errors.append(header)
            served.append(time.perf_counter())
            i += 1

    t = threading.Thread(target=traffic)
    t.start()
    try:
        time.sleep(0.5)
        t0 = time.perf_counter()
        reply = _request(rig, "load-model", worker=_worker("albert"),
                         plans=[_alone(layout, "albert"), _pair(layout, rig["kernels"])])
        t1 = time.perf_counter()
    finally:
        stop.set()
        t.join(60)
    assert reply["type"] == "model-loaded", reply
    assert reply["captured"] == {"alexnet": ["albert+alexnet"]}
    assert sorted(reply["worker"]["plans"]) == ["albert", "albert+alexnet"]
    assert reply["worker"]["memoryBytes"] > 0
    assert errors == [], errors[:3]
    during = [s for s in served if t0 <= s <= t1]
    assert len(during) > 0, f"no alexnet request answered during the {t1 - t0:.1f}-s load"
    # every capture answers as the eager model
    for model, plan in [("albert", "albert"), ("albert", "albert+alexnet"), ("alexnet", "albert+alexnet"),
                        ("alexnet", "alexnet")]:
        rid, x = _infer(rig, model, plan, 7)
        header, body = replies.wait(rid)
        assert header["type"] == "output", header
        assert _rel_err(header, body, _eager(model, x)) < 1e-2, f"{model} under {plan}"

    # unloading with executions in flight: each answered; then albert is gone and the pair's plan retired
    held = [_infer(rig, "albert", "albert+alexnet", 20 + i) for i in range(4)]
    rid = next(rig["ids"])
    rig["control"].submit({"type": "unload-model", "id": rid, "name": "albert"})
    for hid, x in held:
        header, body = replies.wait(hid)
        assert header["type"] == "output" and _rel_err(header, body, _eager("albert", x)) < 1e-2, header
    reply = replies.wait(rid)[0]
    assert reply["type"] == "model-unloaded" and reply["retired"] == {"alexnet": ["albert+alexnet"]}, reply
    rid, _ = _infer(rig, "alexnet", "albert+alexnet", 3)
    header, _ = replies.wait(rid)
    assert header["type"] == "error" and "no capture under plan 'albert+alexnet'" in header["message"]
    rid, _ = _infer(rig, "albert", "albert", 3)
    assert replies.wait(rid)[0]["message"] == "no loaded worker 'albert'"

    # and loaded again
    reply = _request(rig, "load-model", worker=_worker("albert"),
                     plans=[_alone(layout, "albert"), _pair(layout, rig["kernels"])])
    assert reply["type"] == "model-loaded" and reply["partitionsCreated"] == 0, reply
    rid, x = _infer(rig, "albert", "albert+alexnet", 9)
    header, body = replies.wait(rid)
    assert header["type"] == "output" and _rel_err(header, body, _eager("albert", x)) < 1e-2


def test_loading_an_unknown_model_is_refused_and_the_others_serve(rig):
    reply = _request(rig, "load-model", worker=_worker("nosuch"), plans=[_alone(rig["layout"], "nosuch")])
    assert reply["type"] == "error" and "unknown model 'nosuch'" in reply["message"], reply
    assert "nosuch" not in rig["serving"].workers
    rid, x = _infer(rig, "alexnet", "alexnet", 5)
    header, body = rig["replies"].wait(rid)
    assert header["type"] == "output" and _rel_err(header, body, _eager("alexnet", x)) < 1e-2


def test_a_worker_makes_green_contexts_only_where_its_kernels_run():
    """A worker captured under a plan gets a green context of its own for each partition its groups name and none for
    the plan's others (each one made while others serve holds their requests up: docs/live.md); a worker whose every
    group is on the whole GPU runs as baseline's, in none."""
    layout, pool, _ = _own_resources()
    if layout.n_slices < 10:
        pytest.skip(f"the test's plans need 10 slices, this GPU's split has {layout.n_slices}")
    n = layout.n_slices
    parts = {0: [0, 1], 1: [2, 3, 4], 2: list(range(5, n))}
    one = {"name": "alexnet-on-1", "model": "alexnet", "batch": BATCH, "dtype": "fp16"}
    whole = {"name": "alexnet-whole", "model": "alexnet", "batch": BATCH, "dtype": "fp16"}
    plan = {"policy": "eclip", "gpu": {"name": layout.name, "smCount": layout.sm_count},
            "pool": {"partitions": [*({"id": i, "slices": s} for i, s in parts.items()),
                                    {"id": 3, "slices": list(range(n))}]},
            "workers": [{**one, "fingerprint": "", "groups": [{"first": 0, "last": 0, "partition": 1}]},
                        {**whole, "fingerprint": "", "groups": [{"first": 0, "last": 0, "partition": 3}]}]}
    replies = Replies()
    serving = Serving(replies)
    made0 = pool.made()[0]
    try:
        loaded = serving.load({"plan": plan, "workers": [one, whole]})
        assert pool.made(made0)[0] == 1, "contexts made: one, alexnet-on-1's of partition 1"
        assert [w["mode"] for w in loaded["workers"]] == ["whole", "whole"]
        for name in ("alexnet-on-1", "alexnet-whole"):
            x = _input("alexnet", 1, 11)
            serving.infer({"type": "infer", "name": name, "id": name, "n": 1, "dtype": "FP16"}, _bytes(x))
            header, body = replies.wait(name)
            assert header["type"] == "output" and _rel_err(header, body, _eager("alexnet", x)) < 1e-2, header
    finally:
        serving.close()
