"""The Triton anchor's repository writer (anchor/triton_repo.py): names, tensors and batch as eclip serve serves them."""

import json

import pytest

from anchor.triton_repo import RepoError, main, model_config, write_repo


def test_vision_model_matches_eclip_serve_tensors():
    text = model_config({"name": "alexnet-1", "model": "alexnet", "batch": 8, "dtype": "fp16"}, instances=2)
    assert 'name: "alexnet-1"' in text and 'backend: "python"' in text
    assert "max_batch_size: 8" in text  # metadata then says [-1, 3, 224, 224], as eclip serve does
    assert '{ name: "input" data_type: TYPE_FP16 dims: [ 3, 224, 224 ] }' in text
    assert '{ name: "logits" data_type: TYPE_FP16 dims: [ 1000 ] }' in text
    assert "kind: KIND_GPU count: 2" in text
    assert "dynamic_batching" not in text  # a request runs as sent


def test_encoder_takes_token_ids_and_gives_hidden_states():
    text = model_config({"name": "albert", "model": "albert", "batch": 1, "dtype": "fp16"})
    assert '{ name: "input_ids" data_type: TYPE_INT64 dims: [ 128 ] }' in text
    assert '{ name: "last_hidden_state" data_type: TYPE_FP16 dims: [ 128, 768 ] }' in text


def test_fp32_model_takes_fp32_images():
    text = model_config({"name": "vgg19", "model": "vgg19", "batch": 1, "dtype": "fp32"})
    assert "TYPE_FP32 dims: [ 3, 224, 224 ]" in text and "TYPE_FP16" not in text


@pytest.mark.parametrize(
    ("model", "why"),
    [
        ({"name": "x", "model": "gpt2", "batch": 1}, "'gpt2' is not a zoo model"),
        ({"name": "x", "model": "vgg19", "batch": 1, "dtype": "int8"}, "dtype 'int8'"),
        ({"name": "x", "model": "vgg19", "batch": 0}, "batch 0"),
    ],
)
def test_bad_models_are_refused_naming_what_is_wrong(model, why):
    with pytest.raises(RepoError, match=why):
        model_config(model)


def test_writes_one_model_per_served_model_and_replaces_the_directory(tmp_path):
    out = tmp_path / "repo"
    (out / "stale").mkdir(parents=True)
    config = {"models": [{"name": "alexnet-0", "model": "alexnet", "batch": 1},
                         {"name": "alexnet-1", "model": "alexnet", "batch": 1}]}
    assert write_repo(config, out) == ["alexnet-0", "alexnet-1"]
    assert sorted(p.name for p in out.iterdir()) == ["alexnet-0", "alexnet-1"]
    assert (out / "alexnet-1" / "1" / "model.py").read_text().startswith('"""Triton Python-backend model')
    assert 'name: "alexnet-1"' in (out / "alexnet-1" / "config.pbtxt").read_text()


def test_nothing_written_when_a_model_is_bad(tmp_path, capsys):
    cfg = tmp_path / "serve.json"
    cfg.write_text(json.dumps({"models": [{"name": "a", "model": "alexnet"}, {"name": "b", "model": "nope"}]}))
    assert main(["--config", str(cfg), "--out", str(tmp_path / "repo")]) == 2
    assert "'nope' is not a zoo model" in capsys.readouterr().err
    assert not (tmp_path / "repo").exists()
