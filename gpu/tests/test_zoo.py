"""The zoo's DISB models (inceptionv3, distilbert) without torch: fake torch, torchvision and transformers modules
record what zoo.py builds — the architecture from code or a config written out, random weights, nothing fetched —
and with which inputs."""

from __future__ import annotations

import sys
import types

import pytest

from eclip_gpu import zoo


class _Module:
    """A stand-in nn.Module: records .to() and .eval(), returns a known output."""

    def __init__(self, kind, **kwargs):
        self.kind, self.kwargs, self.calls = kind, kwargs, []

    def to(self, *args, **kwargs):
        self.calls.append(("to", args, kwargs))
        return self

    def eval(self):
        self.calls.append(("eval",))
        return self

    def __call__(self, *inputs):
        return types.SimpleNamespace(last_hidden_state=("hidden", inputs))


@pytest.fixture
def fakes(monkeypatch):
    rec = types.SimpleNamespace(tensors=[], built=[])
    torch = types.ModuleType("torch")
    torch.float16, torch.bfloat16, torch.float32, torch.int64 = "f16", "bf16", "f32", "i64"
    torch.manual_seed = lambda s: rec.tensors.append(("seed", s))
    torch.backends = types.SimpleNamespace(cudnn=types.SimpleNamespace(benchmark=True))

    def randn(*shape, dtype=None, device=None):
        rec.tensors.append(("randn", shape, dtype, device))
        return ("image", shape)

    def randint(lo, hi, shape, device=None, dtype=None):
        rec.tensors.append(("randint", lo, hi, shape, device, dtype))
        return ("ids", shape)

    torch.randn, torch.randint = randn, randint
    tv = types.ModuleType("torchvision")

    def inception_v3(**kwargs):
        m = _Module("inception_v3", **kwargs)
        rec.built.append(m)
        return m

    tv.models = types.SimpleNamespace(inception_v3=inception_v3)
    tf = types.ModuleType("transformers")

    class DistilBertConfig:
        def __init__(self, **kwargs):
            self.kwargs = kwargs
            self.vocab_size = kwargs["vocab_size"]

        @classmethod
        def from_pretrained(cls, *a, **k):
            raise AssertionError("nothing may be downloaded")

    class DistilBertModel(_Module):
        def __init__(self, config):
            super().__init__("DistilBertModel", config=config)
            rec.built.append(self)

        @classmethod
        def from_pretrained(cls, *a, **k):
            raise AssertionError("nothing may be downloaded")

    tf.DistilBertConfig, tf.DistilBertModel = DistilBertConfig, DistilBertModel
    for name, mod in (("torch", torch), ("torchvision", tv), ("transformers", tf)):
        monkeypatch.setitem(sys.modules, name, mod)
    return rec


def test_inceptionv3_from_torchvision_code_with_a_299_pixel_batch(fakes):
    built = zoo.build("inceptionv3", batch=4, dtype="fp16")
    (m,) = fakes.built
    assert m.kwargs == {"weights": None, "aux_logits": False, "init_weights": False}
    assert ("randn", (4, 3, 299, 299), "f16", "cuda") in fakes.tensors
    # cast to the dtype like the other vision models, and put in eval mode
    assert ("to", ("cuda",), {}) in m.calls and ("to", ("f16",), {}) in m.calls and m.calls[-1] == ("eval",)
    assert built.inputs == (("image", (4, 3, 299, 299)),) and built.batch == 4
    assert zoo.INPUTS["inceptionv3"] == [("input", "FP16", [3, 299, 299])]


def test_distilbert_from_a_config_written_out(fakes):
    built = zoo.build("distilbert", batch=2, dtype="bf16")
    (m,) = fakes.built
    assert m.kwargs["config"].kwargs == {"vocab_size": 30522, "max_position_embeddings": 512, "n_layers": 6,
                                         "n_heads": 12, "dim": 768, "hidden_dim": 3072}
    assert ("randint", 0, 30522, (2, 128), "cuda", "i64") in fakes.tensors
    # token ids stay integers: the model is cast, not its input
    assert ("to", (), {"dtype": "bf16"}) in m.calls
    # forward gives the hidden state as a plain tensor (graph outputs must be tensors)
    assert built.forward() == ("hidden", (("ids", (2, 128)),))
    assert zoo.INPUTS["distilbert"] == [("input_ids", "INT64", [128])]


def test_both_are_in_the_zoo_and_profiled_by_all():
    assert {"inceptionv3", "distilbert"} <= set(zoo.ZOO)
    from eclip_gpu.__main__ import _models

    assert {"inceptionv3", "distilbert"} <= set(_models("all"))


def test_prepare_imports_what_a_model_needs_and_says_what_it_cannot(monkeypatch):
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    assert zoo.prepare("colorsys:hls_to_rgb") is None and "colorsys" in sys.modules  # a factory's module, imported
    assert zoo.prepare("torchscript:/models/mine.pt") is None  # torch.jit.load needs nothing ahead
    assert zoo.prepare("nosuch") == "unknown model 'nosuch'"
    why = zoo.prepare("eclip_no_such_module:build")
    assert why.startswith("eclip_no_such_module:build: ModuleNotFoundError") and "eclip_no_such_module" in why


def test_the_backend_prepares_the_repository_once_and_not_when_told_not_to(monkeypatch):
    from eclip_gpu.serving import Serving

    asked, said = [], []
    monkeypatch.setattr(zoo, "prepare", lambda name: asked.append(name) or (None if name == "ok" else f"{name}: no"))
    Serving.prepare(["ok", "bad"], said.append)
    assert asked == ["ok", "bad"]
    assert len(said) == 1 and said[0].startswith("imported what 2 models of the repository need in ")
    assert said[0].endswith("; not: bad: no")
    Serving.prepare([], said.append)
    monkeypatch.setenv("ECLIP_PREPARE", "0")
    Serving.prepare(["ok"], said.append)
    assert asked == ["ok", "bad"] and len(said) == 1


def test_prepare_imports_a_zoo_models_library_and_builds_nothing(fakes):
    assert zoo.prepare("distilbert") is None and zoo.prepare("inceptionv3") is None
    assert fakes.built == [] and fakes.tensors == []
    # the class is looked up, not just the package: one the library lacks is said
    assert zoo.prepare("albert").startswith("albert: AttributeError")
