"""Serving on the GPU (GPU test): alexnet + albert loaded through serving.py — on the whole GPU, and partitioned in
graph mode — answer `infer` with the model's eager output for the same input, for a full and a padded batch, and for
an FP32 input to an FP16 model."""

import pytest
from tests_gpu.replies import Replies

from eclip_gpu import zoo
from eclip_gpu.serving import Serving, _own_resources

BATCH = 2
MODELS = [("alexnet", "fp16"), ("albert", "fp16")]


def _workers():
    return [{"name": m, "model": m, "batch": BATCH, "dtype": d} for m, d in MODELS]


def _graph_plan(layout, kernels: dict[str, int]) -> dict:
    """Each worker's kernels alternating over three partitions (~6 switches): what an eclip plan looks like."""
    parts = [{"id": 0, "slices": [0]}, {"id": 1, "slices": [1, 2, 3, 4]},
             {"id": 2, "slices": list(range(layout.n_slices))}]
    workers = []
    for w in _workers():
        n = kernels[w["name"]]
        step = max(1, n // 7)
        groups, first, i = [], 0, 0
        while first < n:
            last = min(n - 1, first + step - 1)
            groups.append({"first": first, "last": last, "partition": i % 3})
            first, i = last + 1, i + 1
        workers.append({**w, "fingerprint": "", "groups": groups})
    return {"policy": "eclip", "gpu": {"name": layout.name, "smCount": layout.sm_count},
            "pool": {"partitions": parts}, "workers": workers}


@pytest.fixture(scope="module")
def servings():
    """The same workers loaded twice: no plan (whole GPU), and a graph-mode plan over three partitions."""
    whole = Serving(Replies())
    loaded = whole.load({"plan": None, "workers": _workers()})
    kernels = {w["name"]: w["kernels"] for w in loaded["workers"]}
    graph = Serving(Replies())
    loaded_graph = graph.load({"plan": _graph_plan(_own_resources()[0], kernels), "workers": _workers()})
    assert [w["mode"] for w in loaded_graph["workers"]] == ["graph", "graph"]
    assert all(w["switches"] >= 3 for w in loaded_graph["workers"])
    yield {"whole": (whole, loaded), "graph": (graph, loaded_graph)}
    whole.close()
    graph.close()


def _bytes(t) -> bytes:
    import torch

    return t.contiguous().cpu().view(torch.uint8).numpy().tobytes()


def _input(model: str, n: int, seed: int | None = None):
    """n random items of the model's input; the generator seeded with `seed`, else with n."""
    import torch

    g = torch.Generator().manual_seed(n if seed is None else seed)
    if model == "albert":
        return torch.randint(0, 30000, (n, zoo.ALBERT_SEQ), generator=g, dtype=torch.int64)
    return torch.randn(n, 3, 224, 224, generator=g).to(torch.float16)


_EAGER = {}


def _eager(model: str, dtype: str, x):
    """The model's own eager output on the padded batch (zeros after the n items, as serving pads)."""
    import torch

    if model not in _EAGER:
        _EAGER[model] = zoo.build(model, BATCH, dtype)  # same seed, same weights as serving's build
    built = _EAGER[model]
    padded = torch.zeros((BATCH, *x.shape[1:]), dtype=x.dtype)
    padded[: x.shape[0]] = x
    with torch.inference_mode():
        return built.model(padded.cuda()).float().cpu()[: x.shape[0]]


@pytest.mark.parametrize("how", ["whole", "graph"])
@pytest.mark.parametrize("n", [BATCH, 1])
@pytest.mark.parametrize(("model", "dtype"), MODELS)
def test_infer_output_equals_the_eager_output(servings, how, n, model, dtype):
    import torch

    serving, loaded = servings[how]
    info = next(w for w in loaded["workers"] if w["name"] == model)
    assert info["inputShape"][0] == BATCH and info["outputShape"][0] == BATCH
    x = _input(model, n)
    datatype = "INT64" if model == "albert" else "FP16"
    rid = f"{how}-{model}-{n}"
    serving.infer({"type": "infer", "name": model, "id": rid, "n": n, "dtype": datatype}, _bytes(x))
    header, body = serving.send.wait(rid)
    assert header["type"] == "output", header
    assert header["shape"] == [n, *info["outputShape"][1:]] and header["datatype"] == info["outputDtype"]
    assert header["computeUs"] > 0
    got = torch.frombuffer(bytearray(body), dtype=torch.float16).reshape(header["shape"]).float()
    ref = _eager(model, dtype, x)
    assert torch.isfinite(ref).all(), "eager output is not finite: the comparison would say nothing"
    err = ((got - ref).norm() / ref.norm()).item()
    print(f"{model} {how} n={n}: rel err {err:.2e}, bitwise {torch.equal(got, ref)}, {header['computeUs']} µs")
    assert err < 1e-2


@pytest.mark.parametrize("how", ["whole", "graph"])
def test_a_burst_in_flight_keeps_every_request_its_own_output(servings, how):
    """Twelve requests of different inputs sent at once: the worker keeps two executions in flight (the next copy
    and launch queued behind the running graph), and each answer is the eager output of its own input."""
    import torch

    from eclip_gpu.serving import PIPELINE_DEPTH

    assert PIPELINE_DEPTH >= 2
    serving, _ = servings[how]
    xs = {f"burst-{how}-{i}": _input("alexnet", 1 + i % BATCH, seed=100 + i) for i in range(12)}
    for rid, x in xs.items():
        serving.infer({"type": "infer", "name": "alexnet", "id": rid, "n": x.shape[0], "dtype": "FP16"}, _bytes(x))
    for rid, x in xs.items():
        header, body = serving.send.wait(rid)
        assert header["type"] == "output", header
        got = torch.frombuffer(bytearray(body), dtype=torch.float16).reshape(header["shape"]).float()
        ref = _eager("alexnet", "fp16", x)
        err = ((got - ref).norm() / ref.norm()).item()
        assert err < 1e-2, f"{rid}: rel err {err:.2e}"


def test_fp32_input_to_an_fp16_model_is_converted(servings):
    serving, _ = servings["graph"]
    x = _input("alexnet", 1)
    serving.infer({"type": "infer", "name": "alexnet", "id": "a16", "n": 1, "dtype": "FP16"}, _bytes(x))
    serving.infer({"type": "infer", "name": "alexnet", "id": "a32", "n": 1, "dtype": "FP32"}, _bytes(x.float()))
    (_, b16), (_, b32) = serving.send.wait("a16"), serving.send.wait("a32")
    assert b16 == b32  # fp16 values survive the round trip through fp32 exactly: the same graph input


def test_a_wrong_body_is_an_error_reply_and_the_worker_goes_on(servings):
    serving, _ = servings["whole"]
    serving.infer({"type": "infer", "name": "albert", "id": "bad", "n": 1, "dtype": "INT64"}, b"\x00" * 10)
    header, _ = serving.send.wait("bad")
    assert header["type"] == "error" and not header["fatal"] and "input body is 10 bytes" in header["message"]
    x = _input("albert", 1)
    serving.infer({"type": "infer", "name": "albert", "id": "ok", "n": 1, "dtype": "INT64"}, _bytes(x))
    assert serving.send.wait("ok")[0]["type"] == "output"


def test_power_reads_nvml(servings):
    serving, _ = servings["whole"]
    first = serving.power()
    second = serving.power()
    assert first["powerW"] > 0 and second["energyJ"] >= first["energyJ"] >= 0


def test_a_plan_per_active_set_each_capture_answers_as_the_eager_model(servings):
    """One load with a plan table: the default capture (no plan: the whole GPU) and the graph-mode plan under a key,
    for both workers, and a plan listing alexnet alone; an infer names the plan it runs under."""
    import torch

    _, loaded = servings["whole"]
    kernels = {w["name"]: w["kernels"] for w in loaded["workers"]}
    both = _graph_plan(_own_resources()[0], kernels)
    solo = {**both, "workers": [w for w in both["workers"] if w["name"] == "alexnet"]}
    serving = Serving(Replies())
    try:
        got = serving.load({"plan": None, "plans": [{"key": "alexnet+albert", "plan": both},
                                                    {"key": "alexnet", "plan": solo}], "workers": _workers()})
        info = {w["name"]: w for w in got["workers"]}
        assert sorted(info["alexnet"]["plans"]) == ["alexnet", "alexnet+albert"]
        assert sorted(info["albert"]["plans"]) == ["alexnet+albert"]
        assert info["alexnet"]["plans"]["alexnet+albert"]["mode"] == "graph"
        assert all(w["memoryBytes"] > 0 for w in got["workers"])
        for model, plans in (("alexnet", [None, "alexnet+albert", "alexnet"]), ("albert", [None, "alexnet+albert"])):
            x = _input(model, 1, seed=7)
            ref = _eager(model, "fp16", x)
            datatype = "INT64" if model == "albert" else "FP16"
            for plan in plans:
                rid = f"plans-{model}-{plan}"
                msg = {"type": "infer", "name": model, "id": rid, "n": 1, "dtype": datatype}
                serving.infer({**msg, **({"plan": plan} if plan else {})}, _bytes(x))
                header, body = serving.send.wait(rid)
                assert header["type"] == "output", header
                out = torch.frombuffer(bytearray(body), dtype=torch.float16).reshape(header["shape"]).float()
                err = ((out - ref).norm() / ref.norm()).item()
                assert err < 1e-2, f"{model} under {plan}: rel err {err:.2e}"
        serving.infer({"type": "infer", "name": "albert", "id": "none", "n": 1, "dtype": "INT64", "plan": "alexnet"},
                      _bytes(_input("albert", 1)))
        header, _ = serving.send.wait("none")
        assert header["type"] == "error" and "no capture under plan 'alexnet'" in header["message"]
    finally:
        serving.close()
