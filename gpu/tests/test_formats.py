import json
import sys
from pathlib import Path

import pytest

from eclip_gpu.fingerprint import fingerprint
from eclip_gpu.formats import FormatError, validate

ROOT = Path(__file__).resolve().parents[2]


def test_fingerprint_matches_shared_vectors():
    for v in json.loads((ROOT / "test/fixtures/fingerprint-vectors.json").read_text()):
        assert fingerprint(v["kernels"]) == v["fingerprint"]


def test_validates_against_the_typescript_schemas():
    gpu = json.loads((ROOT / "test/fixtures/h100.gpu.json").read_text())
    validate("gpu", gpu, "h100.gpu.json")
    gpu["slices"][2]["sms"] = "eight"
    with pytest.raises(FormatError, match=r"h100.gpu.json: gpu .*slices.*2.*sms"):
        validate("gpu", gpu, "h100.gpu.json")


def test_a_missing_package_is_one_line_naming_what_to_install(monkeypatch, capsys):
    """An image without fastjsonschema (an H100 one had none) gets an actionable line and exit 2, not a traceback."""
    import builtins

    from eclip_gpu.__main__ import main

    real = builtins.__import__

    def no_fastjsonschema(name, *args, **kwargs):
        if name == "fastjsonschema":
            raise ImportError("No module named 'fastjsonschema'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_fastjsonschema)
    monkeypatch.delitem(sys.modules, "eclip_gpu.formats", raising=False)
    assert main(["describe", "--out", "unused"]) == 2
    err = capsys.readouterr().err
    assert "fastjsonschema" in err and "gpu/requirements.txt" in err and "Traceback" not in err
