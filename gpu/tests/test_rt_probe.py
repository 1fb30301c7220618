"""gpu/scripts/rt-probe.py's bookkeeping without a GPU: the schedules it drives, the metrics of a run's raw times,
the table's ratios against alone and baseline, and the count of real-time requests in flight that `switch` and
`prio-hold` read."""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "rt_probe", Path(__file__).resolve().parents[1] / "scripts" / "rt-probe.py")
probe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(probe)

MS = 1_000_000  # ns


def test_schedules_rt_uniform_from_zero_then_closed_loops():
    s = probe.schedules_for(2, 0.05)
    assert s[0] == {"kind": "open", "arrivalsUs": [0.0, 10000.0, 20000.0, 30000.0, 40000.0, 50000.0]}
    assert s[1:] == [{"kind": "closed", "periodsUs": [0.0, 50000.0]}] * 2
    assert probe.schedules_for(1, 0.05, rt=False) == [{"kind": "closed", "periodsUs": [0.0, 50000.0]}]


def _raw():
    # window [100, 200) ms; the real-time worker: arrivals at 90, 110, 150 ms, each 2, 3, 5 ms after its arrival,
    # started 0, 1, 0 ms late; the best-effort one completes at 95, 120, 130, 199, 200 ms
    return {
        "windowStartNs": 100 * MS, "windowEndNs": 200 * MS,
        "workers": [
            {"name": "rt", "arrivalsNs": [90 * MS, 110 * MS, 150 * MS], "startsNs": [90 * MS, 111 * MS, 150 * MS],
             "endsNs": [92 * MS, 113 * MS, 155 * MS]},
            {"name": "be:x", "arrivalsNs": [0] * 5, "startsNs": [0] * 5,
             "endsNs": [95 * MS, 120 * MS, 130 * MS, 199 * MS, 200 * MS]},
        ],
    }


def test_summarise_counts_the_window_and_times_from_arrival():
    m = probe.summarise(_raw(), probe.schedules_for(1, 1.0))
    rt, be = m["workers"]
    assert m["windowS"] == 0.1
    # completions inside [100, 200): rt 113 and 155; be 120, 130, 199
    assert rt["rate"] == pytest.approx(20.0) and be["rate"] == pytest.approx(30.0)
    assert m["overall"] == pytest.approx(50.0)
    # latency of the requests that arrived in the window (110 and 150 ms): 3 and 5 ms; the wait 1 ms and 0
    assert rt["n"] == 2 and rt["meanMs"] == pytest.approx(4.0) and rt["p99Ms"] == pytest.approx(5.0)
    assert rt["waitUs"] == pytest.approx(500.0)
    assert "meanMs" not in be


def _run(mean, p99, overall, be_rates):
    return {"overall": overall, "workers": [{"name": "rt", "meanMs": mean, "p99Ms": p99, "waitUs": 10.0, "rate": 0},
                                            *({"name": n, "rate": r} for n, r in be_rates.items())]}


def test_table_rows_ratios_against_alone_and_baseline():
    got = {
        "alone": _run(1.0, 1.2, 100, {}),
        "baseline": _run(1.5, 2.4, 1000, {"be:a": 400, "be:b": 500}),
        "prio": _run(1.05, 1.32, 950, {"be:a": 380, "be:b": 470}),
    }
    rows = {r[1]: r for r in probe.table_rows("A", got, {"be:a": 800, "be:b": 1000}, ["be:a", "be:b"])}
    assert rows["alone"][3] == "1.00" and rows["alone"][-2:] == ["–", "–"]
    # baseline: RT 1.5× its mean alone, 2× its p99; BE STP 0.5 + 0.5 against itself
    assert rows["baseline"][3] == "1.50" and rows["baseline"][5] == "2.00" and rows["baseline"][9] == "1.00"
    p = rows["prio"]
    assert p[3] == "1.05" and p[5] == "1.10" and p[8] == "0.95"
    # STP 380/800 + 470/1000 = 0.945 against 0.9 + ... baseline 0.5 + 0.5 = 1.0; worst: b at 0.94 of baseline
    assert p[9] == "0.94" and p[10] == "0.94 b"


def test_rt_activity_counts_in_flight_and_wakes_the_held():
    state = probe.RtActivity()
    state.begin()
    state.begin()
    woke = threading.Event()
    t = threading.Thread(target=lambda: (state.wait_idle(), woke.set()))
    t.start()
    state.end()
    time.sleep(0.1)
    assert not woke.is_set() and state.n == 1
    state.end()
    t.join(timeout=2)
    assert woke.is_set() and state.n == 0
