"""The GPU backend's dispatcher (eclip_gpu.paris_dispatch) against the simulator's rules (src/paris/sim.ts + elsa.ts).

test/fixtures/paris-dispatch.json is written and checked by test/paris/dispatch-fixture.test.ts: one trace on one
heterogeneous layout and, per policy, the partition that served each query in the simulator and when it completed.
Replayed here through Dispatcher in virtual time with the same service times, every query must land on the same
partition at the same time: the two implementations make the same choices.
"""

import json
from pathlib import Path

import pytest

from eclip_gpu.paris_dispatch import (
    DISPATCHES,
    Dispatcher,
    earliest_choose,
    elsa_choose,
    estimated_finish,
    replay_virtual,
)

FIXTURE = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "paris-dispatch.json"


@pytest.fixture(scope="module")
def case():
    return json.loads(FIXTURE.read_text())


@pytest.mark.parametrize("dispatch", DISPATCHES)
def test_same_choices_as_the_simulator(case, dispatch):
    t = case["trace"]
    est = case["estUs"]
    disp = Dispatcher(case["sms"], est, case["sloUs"], t["model"], t["batchIdx"], dispatch, case["sloMargin"])
    out = replay_virtual(disp, t["arrivalUs"], lambda q, p: est[p][t["model"][q]][t["batchIdx"][q]] * t["noise"][q])
    want = case["expected"][dispatch]
    assert out["partition"] == want["partition"]
    assert out["doneUs"] == pytest.approx(want["doneUs"], rel=1e-12, abs=1e-6)
    if dispatch != "fifo":  # per-partition FIFOs: a query runs where it was sent
        assert out["assigned"] == out["partition"]


@pytest.mark.parametrize("dispatch", DISPATCHES)
def test_dedicated_workers_make_the_simulators_choices(case, dispatch):
    """eclip-kw: each partition serves one model (sim.ts's SimOptions.serves), estimates per model and batch."""
    t = case["trace"]
    ded = case["dedicated"]
    est = [ded["serviceUs"] for _ in case["sms"]]
    disp = Dispatcher(case["sms"], est, case["sloUs"], t["model"], t["batchIdx"], dispatch, case["sloMargin"],
                      serves=ded["serves"])
    out = replay_virtual(disp, t["arrivalUs"], lambda q, p: est[p][t["model"][q]][t["batchIdx"][q]] * t["noise"][q])
    want = ded["expected"][dispatch]
    assert out["partition"] == want["partition"]
    assert out["doneUs"] == pytest.approx(want["doneUs"], rel=1e-12, abs=1e-6)
    assert all(ded["serves"][p] == m for p, m in zip(out["partition"], t["model"]))


def test_elsa_choice_rules_match_elsa_ts_unit_cases():
    # the cases of test/paris/elsa.test.ts
    assert estimated_finish(0, 0, 100, 50) == 150
    assert estimated_finish(130, 40, 100, 50) == 220
    assert estimated_finish(90, 0, 100, 50) == 150
    assert elsa_choose([132, 8, 40, 16], [3, 14, 6, 9], 10) == 3
    assert earliest_choose([3, 14, 6, 9]) == 0
    assert elsa_choose([16, 16, 32], [9, 7, 2], 10) == 1
    assert elsa_choose([8, 16, 132], [30, 25, 21], 20) == 2


def test_unknown_dispatch_is_refused():
    with pytest.raises(ValueError, match="unknown dispatch"):
        Dispatcher([8], [[[1.0]]], [1.0], [0], [0], "random", 0.5)
