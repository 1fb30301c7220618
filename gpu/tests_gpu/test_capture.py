import pytest

from eclip_gpu import zoo
from eclip_gpu.capture import capture_one, warm_up


@pytest.mark.parametrize("model", ["alexnet", "resnet152", "albert", "inceptionv3", "distilbert"])
def test_two_captures_give_one_fingerprint(pool, model):
    built = zoo.build(model, 1, "fp16")
    whole = pool.whole()
    small = pool.create([0, 1])
    warm_up(built, [whole.torch_stream, small.torch_stream])
    a = capture_one(built, whole.torch_stream)
    b = capture_one(built, whole.torch_stream)
    c = capture_one(built, small.torch_stream)
    assert a.fingerprint == b.fingerprint
    assert len(a.kernels) > 10 and a.op_starts[0] == 0 and len(a.op_starts) <= len(a.kernels)
    print(model, len(a.kernels), "kernels,", len(a.op_starts), "op starts; 16-SM capture same kernels:",
          c.fingerprint == a.fingerprint)


def test_unknown_model_lists_the_known_ones():
    from eclip_gpu.cuda import BackendError

    with pytest.raises(BackendError, match="known: albert, alexnet"):
        zoo.build("resnet9000")


@pytest.mark.parametrize("model, shape", [("inceptionv3", (2, 1000)), ("distilbert", (2, 128, 768))])
def test_disb_models_give_finite_outputs_of_their_shape(pool, model, shape):
    import torch

    built = zoo.build(model, 2, "fp16")
    whole = pool.whole()
    warm_up(built, [whole.torch_stream])
    cap = capture_one(built, whole.torch_stream)
    cap.graphs[0].replay()
    torch.cuda.synchronize()
    assert tuple(cap.output.shape) == shape
    assert torch.isfinite(cap.output).all()
