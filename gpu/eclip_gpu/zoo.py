"""The model zoo: the paper's seven models and DISB's two more (inceptionv3, distilbert) with random weights, plus
user models. Nothing is downloaded: every architecture is built from its code or its config.

A model entry builds (module, example inputs) on the GPU at a batch size and dtype. User models are either a
TorchScript file (`torchscript:/path/model.pt`, with `--input-shape`) or a factory `module.path:function` that
returns `(model, inputs)`; inputs is a tuple of tensors.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from .cuda import BackendError

DTYPES = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}
ALBERT_SEQ = 128
# DISB's models (issue #20): InceptionV3 takes 299×299 images; DistilBERT sequences as long as albert's
INCEPTION_SIZE = 299
DISTILBERT_SEQ = 128
DISTILBERT_VOCAB = 30522


@dataclass
class Built:
    name: str
    model: object
    inputs: tuple
    batch: int
    dtype: str

    def forward(self):
        return self.model(*self.inputs)


def _torch_dtype(dtype: str):
    import torch  # noqa: PLC0415

    if dtype not in DTYPES:
        raise BackendError(f"unknown dtype {dtype!r}; known: {', '.join(DTYPES)}")
    return getattr(torch, DTYPES[dtype])


def _vision(factory: str) -> Callable[[int, str], tuple]:
    def build(batch: int, dtype: str):
        import torch  # noqa: PLC0415
        import torchvision  # noqa: PLC0415

        # Random weights in fp16 overflow to inf/NaN through 100+ residual layers; zero-initialising each residual
        # branch's last BN keeps activations finite (same kernels, same work) so outputs can be compared.
        kwargs = {"zero_init_residual": True} if factory.startswith(("resnet", "resnext")) else {}
        model = getattr(torchvision.models, factory)(weights=None, **kwargs)
        x = torch.randn(batch, 3, 224, 224, dtype=_torch_dtype(dtype), device="cuda")
        return model, (x,)

    return build


def _albert(batch: int, dtype: str):
    import torch  # noqa: PLC0415
    from transformers import AlbertConfig, AlbertModel  # noqa: PLC0415

    # AlbertConfig() defaults to albert-xxlarge; the paper's albert is albert-base (docs/design.md §8).
    config = AlbertConfig(
        vocab_size=30000,
        embedding_size=128,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=512,
    )
    model = AlbertModel(config)
    ids = torch.randint(0, config.vocab_size, (batch, ALBERT_SEQ), device="cuda", dtype=torch.int64)
    return _FirstOutput(model), (ids,)


def _inception(batch: int, dtype: str):
    import torch  # noqa: PLC0415
    import torchvision  # noqa: PLC0415

    # no auxiliary classifier (eval never runs it). init_weights=False: PyTorch's default initialisation instead of
    # torchvision's truncated normal (std 0.1), under which activations grow about 4× per convolution and overflow
    # fp16 within the 94 of them; the kernels are the same either way.
    model = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)
    x = torch.randn(batch, 3, INCEPTION_SIZE, INCEPTION_SIZE, dtype=_torch_dtype(dtype), device="cuda")
    return model, (x,)


def _distilbert(batch: int, dtype: str):
    import torch  # noqa: PLC0415
    from transformers import DistilBertConfig, DistilBertModel  # noqa: PLC0415

    # distilbert-base-uncased's shape, written out (a config built here, nothing fetched): 6 layers, hidden 768, 12
    # heads, feed-forward 3072
    config = DistilBertConfig(
        vocab_size=DISTILBERT_VOCAB,
        max_position_embeddings=512,
        n_layers=6,
        n_heads=12,
        dim=768,
        hidden_dim=3072,
    )
    model = DistilBertModel(config)
    ids = torch.randint(0, config.vocab_size, (batch, DISTILBERT_SEQ), device="cuda", dtype=torch.int64)
    return _FirstOutput(model), (ids,)


class _FirstOutput:
    """Wraps a Hugging Face model so forward returns a plain tensor (graph outputs must be tensors)."""

    def __init__(self, model):
        self.model = model

    def __call__(self, *args):
        return self.model(*args).last_hidden_state

    def to(self, *args, **kwargs):
        self.model = self.model.to(*args, **kwargs)
        return self

    def eval(self):
        self.model.eval()
        return self


ZOO: dict[str, Callable[[int, str], tuple]] = {
    "albert": _albert,
    "densenet201": _vision("densenet201"),
    "resnet152": _vision("resnet152"),
    "resnext101": _vision("resnext101_32x8d"),
    "shufflenet": _vision("shufflenet_v2_x1_0"),
    "alexnet": _vision("alexnet"),
    "vgg19": _vision("vgg19"),
    "inceptionv3": _inception,
    "distilbert": _distilbert,
}
# built from transformers: token ids in (not cast to the model's dtype), a hidden state out
TRANSFORMERS = ("albert", "distilbert")

# What a server needs to accept requests: per model, its input tensors (name, KServe datatype, shape without batch).
INPUTS = {name: [("input", "FP16", [3, 224, 224])] for name in ZOO if name not in TRANSFORMERS}
INPUTS["inceptionv3"] = [("input", "FP16", [3, INCEPTION_SIZE, INCEPTION_SIZE])]
INPUTS["albert"] = [("input_ids", "INT64", [ALBERT_SEQ])]
INPUTS["distilbert"] = [("input_ids", "INT64", [DISTILBERT_SEQ])]


# the class each transformers model is built from: importing it is most of what building one costs in a fresh process
_TRANSFORMERS_CLASS = {"albert": "AlbertModel", "distilbert": "DistilBertModel"}


def prepare(name: str) -> str | None:
    """Imports what building `name` needs (a zoo model's library, a factory's module) and builds nothing: a model
    loaded later while others serve (model_control.py) then holds the interpreter for its build alone, not for seconds
    of imports. None when done, else why not (building it will say so again)."""
    try:
        if name in _TRANSFORMERS_CLASS:
            getattr(importlib.import_module("transformers"), _TRANSFORMERS_CLASS[name])
        elif name in ZOO:
            importlib.import_module("torchvision")  # its models come with it
        elif name.startswith("torchscript:"):
            return None
        elif ":" in name:
            importlib.import_module(name.split(":", 1)[0])
        else:
            return f"unknown model {name!r}"
    except Exception as e:  # noqa: BLE001 - said, not raised: serving starts whatever a model not loaded lacks
        return f"{name}: {type(e).__name__}: {e}"
    return None


def build(name: str, batch: int = 1, dtype: str = "fp16", input_shape: list[int] | None = None, seed: int = 0) -> Built:
    import torch  # noqa: PLC0415

    torch.manual_seed(seed)
    # Kernel choice must be deterministic: a plan is made for one kernel sequence (fingerprint, docs/design.md §8).
    torch.backends.cudnn.benchmark = False
    tdtype = _torch_dtype(dtype)
    if name in ZOO:
        model, inputs = ZOO[name](batch, dtype)
    elif name.startswith("torchscript:"):
        if not input_shape:
            raise BackendError("a TorchScript model needs --input-shape (without the batch dimension)")
        model = torch.jit.load(name.split(":", 1)[1], map_location="cuda")
        inputs = (torch.randn(batch, *input_shape, dtype=tdtype, device="cuda"),)
    elif ":" in name:
        mod, fn = name.split(":", 1)
        try:
            factory = getattr(importlib.import_module(mod), fn)
        except (ImportError, AttributeError) as e:
            raise BackendError(f"cannot load user model factory {name!r}: {e}") from None
        model, inputs = factory(batch=batch, dtype=dtype)
        inputs = tuple(inputs)
    else:
        raise BackendError(f"unknown model {name!r}; known: {', '.join(sorted(ZOO))}, torchscript:<file>, <module>:<function>")
    model = model.to("cuda")
    if name in ZOO and name not in TRANSFORMERS:
        model = model.to(tdtype)
    elif name in TRANSFORMERS:
        model = model.to(dtype=tdtype)
    model.eval()
    return Built(name=name, model=model, inputs=inputs, batch=batch, dtype=dtype)
