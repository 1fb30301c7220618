"""conv_target.py's lanes without a GPU: work runs on the lane's own thread, errors come back to the caller, a lane is
made once per partition size and benchmarked once per model and batch (a stand-in for torch)."""

import contextlib
import sys
import threading
from types import SimpleNamespace

import pytest

from eclip_gpu import conv_target


@pytest.fixture
def fake_torch(monkeypatch):
    streams = []

    @contextlib.contextmanager
    def stream(s):
        streams.append(s)
        yield

    torch = SimpleNamespace(inference_mode=contextlib.nullcontext, cuda=SimpleNamespace(stream=stream))
    monkeypatch.setitem(sys.modules, "torch", torch)
    return streams


def test_a_lane_runs_work_on_its_own_thread_on_the_callers_stream(fake_torch):
    lane = conv_target.Lane(16)
    try:
        assert lane.run(lambda: threading.current_thread().name, "s16") == "conv-lane-16"
        assert lane.run(lambda: 7, "capturing") == 7
        assert fake_torch == ["s16", "capturing"], "the stream given"

        def fail():
            raise RuntimeError("cuDNN said no")

        with pytest.raises(RuntimeError, match="cuDNN said no"):
            lane.run(fail, "s16")
        assert lane.run(lambda: "still serving", "s16") == "still serving"
    finally:
        lane.close()


def test_lanes_are_made_per_size_and_benchmarked_per_model(fake_torch, monkeypatch):
    benchmarked = []
    monkeypatch.setattr(conv_target.Lane, "benchmark",
                        lambda self, built, stream: benchmarked.append((self.sms, built.name, built.dtype, stream)))
    lanes = conv_target.Lanes()
    a, b = SimpleNamespace(sms=16, torch_stream="a"), SimpleNamespace(sms=16, torch_stream="b")
    resnet, vgg = SimpleNamespace(name="resnet152", batch=1, dtype="fp16"), SimpleNamespace(name="vgg19", batch=1,
                                                                                             dtype="fp16")
    try:
        assert lanes.lane(a, resnet) is lanes.lane(b, resnet), "one lane per size, whichever partition asks"
        lanes.lane(b, vgg)
        lanes.lane(SimpleNamespace(sms=48, torch_stream="c"), resnet)
        lanes.lane(a, SimpleNamespace(name="resnet152", batch=1, dtype="bf16"))
        assert benchmarked == [(16, "resnet152", "fp16", "a"), (16, "vgg19", "fp16", "b"),
                               (48, "resnet152", "fp16", "c"), (16, "resnet152", "bf16", "a")], \
            "benchmarked on the partition that asks, once per model, batch and dtype"
    finally:
        lanes.close()


def test_convolutions_are_told_from_other_ops():
    assert conv_target.is_conv("aten.conv2d.default") and conv_target.is_conv("aten.convolution.default")
    assert conv_target.is_conv("aten.cudnn_convolution.default")
    assert not conv_target.is_conv("aten.addmm.default") and not conv_target.is_conv("aten.conv_depthwise2d")
    assert not conv_target.is_conv("prims.conv2d.default")
