"""A Triton model repository that serves an eclip serve config's models (docs/serve-bench.md#triton-side-by-side).

Each model of the config becomes a Triton model of the same name with the same tensors (names, datatypes, a -1 batch
dimension up to the config's batch, as eclip serve's metadata gives them) on Triton's Python backend: config.pbtxt,
and 1/model.py (this package's triton_model.py), which builds the zoo model as eclip does (same seed and dtype) and
runs it eagerly in PyTorch. No dynamic batcher: a request runs as sent, as in eclip serve's runs at a fixed batch.

Usage: python -m anchor.triton_repo --config SERVE.json --out DIR [--instances N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from eclip_gpu.zoo import ALBERT_SEQ, DISTILBERT_SEQ, INPUTS

TRITON_TYPES = {"FP16": "TYPE_FP16", "BF16": "TYPE_BF16", "FP32": "TYPE_FP32", "INT64": "TYPE_INT64"}
DTYPE_DATATYPE = {"fp16": "FP16", "bf16": "BF16", "fp32": "FP32"}
SEQ = {"albert": ALBERT_SEQ, "distilbert": DISTILBERT_SEQ}
MODEL_FILE = Path(__file__).with_name("triton_model.py")
GPU_DIR = Path(__file__).resolve().parents[1]


class RepoError(ValueError):
    """A config this repository cannot be written for; the message names the model and what is wrong."""


def outputs_of(model: str, dtype: str) -> list[tuple[str, str, list[int]]]:
    """The zoo model's output tensors as eclip serve names them (src/serve/io-specs.ts): name, datatype, shape."""
    dt = DTYPE_DATATYPE[dtype]
    if model in SEQ:
        return [("last_hidden_state", dt, [SEQ[model], 768])]
    return [("logits", dt, [1000])]


def inputs_of(model: str, dtype: str) -> list[tuple[str, str, list[int]]]:
    """The zoo model's input tensors as eclip serve takes them: images in the model's precision, token ids as they are."""
    return [(n, dt if dt == "INT64" else DTYPE_DATATYPE[dtype], shape) for n, dt, shape in INPUTS[model]]


def _tensor(name: str, datatype: str, dims: list[int]) -> str:
    return f'  {{ name: "{name}" data_type: {TRITON_TYPES[datatype]} dims: [ {", ".join(map(str, dims))} ] }}'


def model_config(m: dict, instances: int = 1) -> str:
    """config.pbtxt of one served model (a serve config's model entry: name, model, batch, dtype)."""
    name, model = m.get("name"), m.get("model")
    batch, dtype = int(m.get("batch", 1)), m.get("dtype", "fp16")
    if model not in INPUTS:
        raise RepoError(f"model {name!r}: {model!r} is not a zoo model (known: {', '.join(sorted(INPUTS))})")
    if dtype not in DTYPE_DATATYPE:
        raise RepoError(f"model {name!r}: dtype {dtype!r} (known: {', '.join(DTYPE_DATATYPE)})")
    if batch < 1 or instances < 1:
        raise RepoError(f"model {name!r}: batch {batch} and instances {instances} must be at least 1")
    # where model.py imports eclip_gpu from: this checkout's gpu/ (Triton's stub does not start in it)
    params = {"zoo_model": model, "batch": str(batch), "dtype": dtype, "eclip_gpu_path": str(GPU_DIR)}
    return "\n".join([
        f'name: "{name}"',
        'backend: "python"',
        f"max_batch_size: {batch}",
        "input [",
        ",\n".join(_tensor(*t) for t in inputs_of(model, dtype)),
        "]",
        "output [",
        ",\n".join(_tensor(*t) for t in outputs_of(model, dtype)),
        "]",
        f"instance_group [ {{ kind: KIND_GPU count: {instances} gpus: [ 0 ] }} ]",
        *(f'parameters {{ key: "{k}" value {{ string_value: "{v}" }} }}' for k, v in params.items()),
        "",
    ])


def write_repo(config: dict, out: Path, instances: int = 1) -> list[str]:
    """Writes one Triton model per served model into `out` (emptied first); returns their names."""
    models = config.get("models")
    if not isinstance(models, list) or not models:
        raise RepoError("the serve config has no models")
    texts = {m.get("name"): model_config(m, instances) for m in models}
    if out.exists():
        shutil.rmtree(out)
    for name, text in texts.items():
        (out / name / "1").mkdir(parents=True)
        (out / name / "config.pbtxt").write_text(text)
        shutil.copy(MODEL_FILE, out / name / "1" / "model.py")
    return list(texts)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="an eclip serve config (JSON, as serve-bench writes them)")
    ap.add_argument("--out", required=True, help="the repository directory (replaced)")
    ap.add_argument("--instances", type=int, default=1, help="Triton instances (stub processes) per model")
    a = ap.parse_args(argv)
    try:
        config = json.loads(Path(a.config).read_text())
        names = write_repo(config, Path(a.out), a.instances)
    except (OSError, json.JSONDecodeError, RepoError) as e:
        print(f"triton_repo: {a.config}: {e}", file=sys.stderr)
        return 2
    print(f"triton_repo: {len(names)} models in {a.out}: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
