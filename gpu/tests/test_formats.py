import json
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
