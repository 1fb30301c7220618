"""paris-elsa serving on the GPU (GPU test): alexnet + albert loaded through serving.py with partitions
(paris_serve.py) — two partitions of GPU 0, plus the whole of GPU 1 where the machine has a second GPU — answer an
`infer` that names a partition with the model's eager output for the same input: at a captured batch, between two
(padded to the next), for an FP32 input to an FP16 model, and with requests running on every partition at once
(each graph has its own static input)."""

import pytest

from eclip_gpu import paris_serve, zoo
from eclip_gpu.serving import Serving, _own_resources
from test_serving import Replies, _bytes, _input

WORKERS = [
    {"name": "alexnet", "model": "alexnet", "batch": 4, "batches": [1, 2], "dtype": "fp16"},
    {"name": "albert", "model": "albert", "batch": 2, "batches": [1], "dtype": "fp16"},
]


def _partitions():
    import torch

    layout = _own_resources()[0]
    small, big = [0, 1], list(range(2, layout.n_slices))  # the remainder slice joins the big one, never alone
    parts = [{"id": "g0p0", "gpu": 0, "slices": big, "sms": sum(layout.slice_sms(i) for i in big)},
             {"id": "g0p1", "gpu": 0, "slices": small, "sms": sum(layout.slice_sms(i) for i in small)}]
    if torch.cuda.device_count() >= 2:
        parts.append({"id": "g1p0", "gpu": 1, "slices": list(range(layout.n_slices)), "sms": layout.sm_count})
    return parts


@pytest.fixture(scope="module")
def served():
    s = Serving(Replies(), load_partitions=paris_serve.load)
    parts = _partitions()
    loaded = s.load({"type": "load", "plan": None, "workers": WORKERS, "partitions": parts}, progress=print)
    yield s, loaded, parts
    s.close()


_EAGER = {}


def _eager(model: str, batch: int, x):
    """The model's eager output on GPU 0 at the captured batch the request runs at (zeros after its n items, as
    serving pads); zoo.build's fixed seed gives the same weights as the served copies."""
    import torch

    if model not in _EAGER:
        _EAGER[model] = zoo.build(model, 1, "fp16")
    padded = torch.zeros((batch, *x.shape[1:]), dtype=x.dtype)
    padded[: x.shape[0]] = x
    with torch.inference_mode():
        return _EAGER[model].model(padded.cuda()).float().cpu()[: x.shape[0]]


def _check(header, body, model, batch, x):
    import torch

    assert header["type"] == "output", header
    got = torch.frombuffer(bytearray(body), dtype=torch.float16).reshape(header["shape"]).float()
    ref = _eager(model, batch, x)
    assert torch.isfinite(ref).all(), "eager output is not finite: the comparison would say nothing"
    err = ((got - ref).norm() / ref.norm()).item()
    assert err < 1e-2, err
    return err, bool(torch.equal(got, ref))


def test_loaded_models_are_captured_at_every_batch_of_their_mix(served):
    s, loaded, parts = served
    by = {w["name"]: w for w in loaded["workers"]}
    assert by["alexnet"]["batches"] == [1, 2, 4] and by["alexnet"]["inputShape"][0] == 4
    assert by["albert"]["batches"] == [1, 2] and by["albert"]["outputShape"] == [2, zoo.ALBERT_SEQ, 768]
    assert sorted(s.workers) == sorted(f"{w['name']}@{p['id']}" for w in WORKERS for p in parts)
    assert len(s.paris.parts) == len(parts)
    for (gpu, _), part in s.paris.parts.items():
        for _g, out, _b in part.graphs.values():
            assert out.device.index == gpu
    p = s.power()
    assert p["powerW"] > 0 and len(s.energies) == len({q["gpu"] for q in parts})


@pytest.mark.parametrize(("model", "n", "batch"), [("alexnet", 1, 1), ("alexnet", 3, 4), ("alexnet", 4, 4),
                                                   ("albert", 1, 1), ("albert", 2, 2)])
def test_infer_on_each_partition_equals_the_eager_output(served, model, n, batch):
    s, _, parts = served
    x = _input(model, n, seed=n)
    datatype = "INT64" if model == "albert" else "FP16"
    for p in parts:
        rid = f"{model}-{n}-{p['id']}"
        s.infer({"type": "infer", "name": model, "id": rid, "n": n, "dtype": datatype, "partition": p["id"]},
                _bytes(x))
        header, body = s.send.wait(rid)
        assert header["shape"][0] == n and header["computeUs"] > 0
        err, bitwise = _check(header, body, model, batch, x)
        print(f"{model} n={n} (batch {batch}) on {p['id']} ({p['sms']} SMs, GPU {p['gpu']}): rel err {err:.2e}, "
              f"bitwise {bitwise}, {header['computeUs']} µs")


def test_requests_on_every_partition_at_once_get_their_own_outputs(served):
    s, _, parts = served
    sent = []
    for k in range(4 * len(parts)):
        p = parts[k % len(parts)]
        x = _input("alexnet", 2, seed=100 + k)
        rid = f"many-{k}"
        s.infer({"type": "infer", "name": "alexnet", "id": rid, "n": 2, "dtype": "FP16", "partition": p["id"]},
                _bytes(x))
        sent.append((rid, x))
    for rid, x in sent:
        header, body = s.send.wait(rid)
        _check(header, body, "alexnet", 2, x)


def test_fp32_input_is_converted_and_an_unknown_partition_is_an_error(served):
    s, _, parts = served
    x = _input("alexnet", 1, seed=7)
    pid = parts[-1]["id"]
    s.infer({"type": "infer", "name": "alexnet", "id": "a16", "n": 1, "dtype": "FP16", "partition": pid}, _bytes(x))
    s.infer({"type": "infer", "name": "alexnet", "id": "a32", "n": 1, "dtype": "FP32", "partition": pid},
            _bytes(x.float()))
    (_, b16), (_, b32) = s.send.wait("a16"), s.send.wait("a32")
    assert b16 == b32
    s.infer({"type": "infer", "name": "alexnet", "id": "nope", "n": 1, "dtype": "FP16", "partition": "g7p7"},
            _bytes(x))
    header, _ = s.send.wait("nope")
    assert header["type"] == "error" and "on partition 'g7p7'" in header["message"]
