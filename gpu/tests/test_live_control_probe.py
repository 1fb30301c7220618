"""gpu/scripts/live-control-probe.py's bookkeeping without a server: Triton's counters read off a /metrics page, what
two samples say of the time between them (GPU time and queueing per request, busy cores), and the load's steps lined
up with the requests' ends — a step where a model's requests took no longer on the GPU but fewer ended shows as a
rate ratio below 1 beside a GPU-time ratio of 1."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "live_control_probe", Path(__file__).resolve().parents[1] / "scripts" / "live-control-probe.py")
probe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(probe)

METRICS = """# HELP nv_inference_request_success Number of successful inference requests, all batch sizes
# TYPE nv_inference_request_success counter
nv_inference_request_success{model="albert",version="1"} 300
nv_inference_request_success{model="vgg19",version="1"} 0
nv_inference_compute_infer_duration_us{model="albert",version="1"} 900000
nv_inference_queue_duration_us{model="albert",version="1"} 1.5e6
nv_inference_request_failure{model="albert",version="1",reason="BACKEND"} 2
eclip_model_active{model="albert"} 1
"""


def test_reads_the_counters_of_the_models_asked_for():
    got = probe.parse_metrics(METRICS, ["albert", "densenet201"])
    assert got == {"albert": {"success": 300.0, "computeUs": 900000.0, "queueUs": 1.5e6}, "densenet201": {}}


def _sample(t, albert, compute_us, busy):
    """A sample at t s: albert's answered requests and their GPU µs so far, the host's busy CPU s so far."""
    return {"t": t, "counters": {"albert": {"success": albert, "computeUs": compute_us, "queueUs": 0.0}},
            "host": (busy, 16 * t), "procs": {"backend": busy / 4}}


def test_says_what_the_samples_nearest_a_span_saw_in_it():
    samples = [_sample(0.0, 0, 0, 0.0), _sample(1.0, 300, 900_000, 2.0), _sample(2.0, 450, 1_350_000, 6.0)]
    seen = probe.between(samples, 1.02, 1.97, ["albert"])
    # 150 requests of 3000 µs each between the samples at 1 and 2 s; 4 busy cores, the backend one of them
    assert seen["models"]["albert"] == {"requests": 150, "computeUs": 3000.0, "queueUs": 0.0}
    assert seen["hostCores"] == pytest.approx(4.0) and seen["procCores"] == {"backend": pytest.approx(1.0)}
    assert probe.between(samples, 1.0, 1.1, ["albert"]) == {}  # one sample: nothing to say


def test_lines_the_load_steps_up_with_the_requests_and_rates_them_against_before():
    # albert ends a request every 1/300 s, but only every 1/150 s from 4 to 6 s; its GPU time stays 3000 µs
    ends = [i / 300 for i in range(1200)] + [4 + i / 150 for i in range(300)] + [6 + i / 300 for i in range(600)]
    log = [("albert", e - 0.003, e, 200, "") for e in ends]
    samples = [_sample(t / 4, 0, 0, 0.0) for t in range(33)]
    done = 0
    for s in samples:
        done = sum(1 for e in ends if e < s["t"])
        s["counters"]["albert"] = {"success": done, "computeUs": 3000.0 * done, "queueUs": 0.0}
    steps = [("partitions and ring", 0.0, 1.0), ("model built", 1.0, 3.0), ("serving", 3.0, 3.5)]
    before = {"albert": {"rate": 300.0, "computeUs": 3000.0}}
    # POST at 2 s, answered at 6.5 s: the backend's 3.5 s of steps end then, from 3 s; planning 2–3 s
    rows = probe.phase_rows(steps, 2.0, 6.5, log, samples, ["albert"], before)
    assert [(r["step"], r["from"], r["to"]) for r in rows] == [
        ("planning (server)", 2.0, 3.0), ("partitions and ring", 3.0, 4.0), ("model built", 4.0, 6.0),
        ("serving", 6.0, 6.5)]
    by = {r["step"]: r["models"]["albert"] for r in rows}
    assert by["partitions and ring"]["rateVsBefore"] == pytest.approx(1.0, abs=0.01)
    assert by["model built"]["rateVsBefore"] == pytest.approx(0.5, abs=0.01)
    assert by["model built"]["computeVsBefore"] == pytest.approx(1.0)
    text = "\n".join(probe.step_table(rows, ["albert"], before, {"hostCores": 2.0, "procCores": {}}))
    assert "model built" in text and "0.500" in text
    assert probe.phase_rows([], 2.0, 6.5, log, samples, ["albert"], before) == []
