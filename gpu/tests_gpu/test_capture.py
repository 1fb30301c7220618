import pytest

from eclip_gpu import zoo
from eclip_gpu.capture import capture_one, warm_up


@pytest.mark.parametrize("model", ["alexnet", "resnet152", "albert"])
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
