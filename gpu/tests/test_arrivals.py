"""The executor's arrival-driven loop (arrivals.py) without a GPU: one worker's schedule against a virtual clock
(every wait and every request advances it; nothing here depends on real time), the schedule checks, the protocol's
times, and the threaded loop over fake workers (checked for order and content, never for timing)."""

from __future__ import annotations

import threading

import pytest

from eclip_gpu.arrivals import check_schedule, driven_loop, run_schedule, times_us

US = 1000  # ns


class Clock:
    """Virtual time: waits and requests move it; `issue()` returns a request taking `service_us`."""

    def __init__(self, service_us: float, start_ns: int = 7_000):
        self.now = start_ns
        self.service = int(service_us * US)
        self.issued = 0
        self.stop_after: int | None = None
        self.stop: threading.Event | None = None

    def __call__(self) -> int:
        return self.now

    def wait(self, seconds: float) -> bool:
        assert seconds > 0, "waited for nothing"
        self.now += int(round(seconds * 1e9))
        return False

    def issue(self):
        self.issued += 1
        if self.stop_after is not None and self.issued >= self.stop_after:
            self.stop.set()
        clock = self

        class Done:
            def synchronize(self):
                clock.now += clock.service

        return Done()


def run(schedule: dict, service_us: float, end_us: float, stop_after: int | None = None):
    c = Clock(service_us)
    origin = c.now
    stop = threading.Event()
    c.stop, c.stop_after = stop, stop_after
    log = run_schedule("w#0", c.issue, schedule, origin, origin + int(end_us * US), stop, clock=c, wait=c.wait,
                       thread_clock=lambda: 0)
    rel = lambda xs: [(x - origin) / US for x in xs]  # noqa: E731
    return rel(log.arrivals_ns), rel(log.starts_ns), rel(log.ends_ns)


def test_open_arrivals_wait_their_time_and_queue_in_order():
    # 100-µs requests: the one at 50 µs waits for the first; the one at 10 ms is past the run's end
    a, s, e = run({"kind": "open", "arrivalsUs": [0, 50, 500, 10_000]}, 100, 1000)
    assert a == [0, 50, 500]
    assert s == [0, 100, 500]
    assert e == [100, 200, 600]


def test_nothing_starts_after_the_end_even_if_it_arrived_before():
    # the second request ends at 1200 µs, after the end (1000): the third, queued since 20 µs, never starts
    a, s, _ = run({"kind": "open", "arrivalsUs": [0, 10, 20]}, 600, 1000)
    assert a == [0, 10]
    assert s == [0, 600]


class SlowClock(Clock):
    """Virtual time that also moves `tick_us` at every read: a thread descheduled between two reads."""

    def __init__(self, service_us: float, tick_us: float):
        super().__init__(service_us)
        self.tick = int(tick_us * US)

    def __call__(self) -> int:
        self.now += self.tick
        return self.now


def test_a_start_is_never_after_its_period_or_the_run_however_late_the_thread_runs():
    for schedule in ({"kind": "closed", "periodsUs": [0, 250, 400, 650]}, {"kind": "open", "arrivalsUs": [0, 10, 20]}):
        c = SlowClock(100, tick_us=70)
        origin = c.now
        log = run_schedule("w#0", c.issue, schedule, origin, origin + int(700 * US), threading.Event(), clock=c,
                           wait=c.wait, thread_clock=lambda: 0)
        starts = [(x - origin) / US for x in log.starts_ns]
        assert starts, schedule
        if schedule["kind"] == "closed":
            assert all(0 <= s < 250 or 400 <= s < 650 for s in starts), starts
        assert all(s < 700 for s in starts), starts


def test_closed_loop_inside_busy_periods_only():
    # busy 0–250 and 400–650 µs: requests at 0, 100, 200 (ends at 300, after its period), then 400, 500, 600
    a, s, e = run({"kind": "closed", "periodsUs": [0, 250, 400, 650]}, 100, 2000)
    assert s == [0, 100, 200, 400, 500, 600]
    assert a == s
    assert e[2] == 300


def test_a_period_past_the_end_is_cut_at_it():
    _, s, _ = run({"kind": "closed", "periodsUs": [0, 10_000]}, 100, 350)
    assert s == [0, 100, 200, 300]


def test_stop_ends_the_loop():
    _, s, _ = run({"kind": "closed", "periodsUs": [0, 10_000]}, 100, 10_000, stop_after=3)
    assert len(s) == 3


@pytest.mark.parametrize("bad, why", [
    ({"kind": "open"}, "needs arrivalsUs"),
    ({"kind": "open", "arrivalsUs": [3, 2]}, "must not decrease"),
    ({"kind": "closed", "periodsUs": [0, 1, 2]}, "start/end pairs"),
    ({"kind": "closed", "periodsUs": [0, 5, 3, 8]}, "ascending and not overlap"),
    ({"kind": "closed", "periodsUs": [5, 0]}, "ascending and not overlap"),
    ({"kind": "sometimes"}, "unknown schedule kind 'sometimes'"),
    ("closed", "unknown schedule kind None"),
])
def test_bad_schedules_are_refused_naming_the_worker(bad, why):
    with pytest.raises(ValueError, match=f"vgg19#0: .*{why}"):
        check_schedule(bad, "vgg19#0")


def test_times_of_a_driven_run_count_from_its_origin():
    raw = {"originNs": 1_000_000, "windowStartNs": 1_500_000, "windowEndNs": 3_000_000,
           "workers": [{"name": "a#0", "arrivalsNs": [1_000_000, 1_010_000], "startsNs": [1_000_100, 1_020_000],
                        "endsNs": [1_020_000, 1_030_000], "cpuNs": [5_000, 6_000]}]}
    t = times_us(raw)
    assert t["windowStartUs"] == 500.0 and t["windowEndUs"] == 2000.0
    w = t["workers"][0]
    assert w["arrivalUs"] == [0.0, 10.0]
    assert w["startUs"] == [0.1, 20.0]
    assert w["endUs"] == [20.0, 30.0]
    assert w["cpuUs"] == [5.0, 6.0]


def test_times_of_a_closed_loop_are_as_before():
    raw = {"windowStartNs": 2_000_000, "windowEndNs": 3_000_000,
           "workers": [{"name": "a#0", "startsNs": [1_000_000], "endsNs": [1_500_000]}]}
    assert times_us(raw) == {"workers": [{"name": "a#0", "startUs": [0.0], "endUs": [500.0]}],
                             "windowStartUs": 1000.0, "windowEndUs": 2000.0}


class FakeWorker:
    def __init__(self, name):
        self.name = name
        self.requests = 0

    def request(self):
        self.requests += 1

        class Done:
            def synchronize(self):
                pass

        return Done()


def test_driven_loop_runs_every_worker_by_its_schedule():
    ws = [FakeWorker("a#0"), FakeWorker("b#0")]
    schedules = [{"kind": "open", "arrivalsUs": [0, 1_000, 2_000]}, {"kind": "closed", "periodsUs": [0, 3_000]}]
    synced = []
    raw = driven_loop(ws, schedules, 0.0, 0.02, synchronize=lambda: synced.append(1))
    assert synced == [1]
    a, b = raw["workers"]
    # whatever the machine's speed: the open worker's arrivals are the schedule's, in order, each started after it
    got = [(x - raw["originNs"]) / US for x in a["arrivalsNs"]]
    assert got == [0, 1_000, 2_000][: len(got)]
    assert all(s >= x for s, x in zip(a["startsNs"], a["arrivalsNs"]))
    # the closed one started only inside its period and recorded each request as arriving when it started
    assert b["arrivalsNs"] == b["startsNs"]
    assert all(raw["originNs"] <= s < raw["originNs"] + 3_000 * US for s in b["startsNs"])
    assert ws[1].requests == len(b["startsNs"])
    assert raw["windowStartNs"] <= raw["windowEndNs"]


def test_driven_loop_refuses_a_schedule_per_worker_mismatch():
    with pytest.raises(ValueError, match="1 schedules for 2 workers"):
        driven_loop([FakeWorker("a#0"), FakeWorker("b#0")], [{"kind": "closed", "periodsUs": []}], 0, 0.01,
                    synchronize=lambda: None)
    with pytest.raises(ValueError, match="b#0: an open schedule needs arrivalsUs"):
        driven_loop([FakeWorker("a#0"), FakeWorker("b#0")], [{"kind": "closed", "periodsUs": []}, {"kind": "open"}],
                    0, 0.01, synchronize=lambda: None)


def test_a_request_that_never_completes_is_called_stuck_and_fatal():
    # a worker whose request's completion never comes (GPU work held for good): the run does not wait on the device
    # forever, it names the worker in an error that makes the backend exit and be restarted
    from eclip_gpu.cuda import BackendError, is_fatal

    never = threading.Event()

    class Held(FakeWorker):
        def request(self):
            self.requests += 1

            class Done:
                def synchronize(self):
                    never.wait()

            return Done()

        def pending(self):
            return True

    synced = []
    try:
        with pytest.raises(BackendError, match=r"GPU work is stuck: held#0 still waiting for a request 0\.2 s after "
                           r"the run's end \(held#0 has work queued\)") as e:
            driven_loop([FakeWorker("a#0"), Held("held#0")],
                        [{"kind": "closed", "periodsUs": [0, 1e6]}, {"kind": "closed", "periodsUs": [0, 1e6]}],
                        0.0, 0.1, synchronize=lambda: synced.append(1), drain_s=0.2)
        assert is_fatal(str(e.value))
        assert synced == []  # the device is not waited on
    finally:
        never.set()
