"""The real-time replay loop of eclip_gpu.paris_replay (`replay`) over partitions of two GPUs, without a GPU.

A stand-in for torch.cuda keeps what CUDA keeps per host thread — the current device, and a current stream per
device — and its graphs check where they are launched: like torch's CUDAGraph.replay, on the current stream of the
device they were captured on, which must be their partition's own stream. Graph replays sleep their service time, so
the loop runs in real time as on the GPU. Checked: one dispatcher routes over the partitions of both GPUs and each
query runs where it was sent, every GPU is synchronized at the end (torch.cuda.synchronize() waits for the current
device only), and the NVML energy is summed over the GPUs and reported per GPU.
"""

import random
import threading
import time

import pytest

from eclip_gpu.paris_dispatch import Dispatcher
from eclip_gpu.paris_replay import replay


class _Stream:
    def __init__(self, device: str, name: str):
        self.device, self.name = device, name

    def __repr__(self):
        return f"<stream {self.name} on {self.device}>"


class _FakeCuda:
    def __init__(self):
        self.local = threading.local()
        self.synchronized: list = []
        self.launches: list = []  # (stream name, query model) in launch order, across threads
        self.lock = threading.Lock()
        fake = self

        class Event:
            def __init__(self, blocking=False):
                self.blocking = blocking

            def record(self):
                # on the current stream of the current device: the partition's, or the event would not time its graph
                dev = fake.local.device
                stream = fake.current_stream(dev)
                if stream is None:
                    raise AssertionError(f"event recorded on {dev}'s default stream")

            def synchronize(self):
                pass

        self.Event = Event

    def set_device(self, device):
        self.local.device = device

    def set_stream(self, stream):
        # torch.cuda.set_stream also makes the stream's device current
        if not hasattr(self.local, "streams"):
            self.local.streams = {}
        self.local.streams[stream.device] = stream
        self.local.device = stream.device

    def current_stream(self, device):
        return getattr(self.local, "streams", {}).get(device)

    def synchronize(self, device=None):
        with self.lock:
            self.synchronized.append(device)


class _FakeTorch:
    def __init__(self):
        self.cuda = _FakeCuda()


class _Graph:
    """Replays like torch's CUDAGraph: on the current stream of its capture device, taking `us` µs."""

    def __init__(self, cuda: _FakeCuda, stream: _Stream, us: float):
        self.cuda, self.stream, self.us = cuda, stream, us

    def replay(self):
        launched_on = self.cuda.current_stream(self.stream.device)
        if launched_on is not self.stream:
            raise AssertionError(f"graph of {self.stream} launched on {launched_on}")
        with self.cuda.lock:
            self.cuda.launches.append(self.stream.name)
        time.sleep(self.us / 1e6)


class _Energy:
    def __init__(self, index: int, mj_per_read: int):
        self.index, self.step, self.mj = index, mj_per_read, 10_000_000

    def read_mj(self):
        self.mj += self.step
        return self.mj


def _trace(n: int, rate: float, seed: int = 5):
    rng = random.Random(seed)
    t, arrival, model, batch = 0.0, [], [], []
    for _ in range(n):
        t += rng.expovariate(rate) * 1e6
        arrival.append(t)
        model.append(rng.randrange(2))
        batch.append(0)
    return arrival, model, batch


# two GPUs, each a 16-SM and a 40-SM partition (a layout PARIS could plan for 2 GPUs; same sizes on both GPUs, so
# ELSA's tie-breaks go across GPUs too)
DEVICES = ["cuda:0", "cuda:0", "cuda:1", "cuda:1"]
SMS = [16, 40, 16, 40]
# µs of model m on each partition (estimates = service times here)
SERVICE = [[1600.0, 700.0, 1600.0, 700.0], [2400.0, 1100.0, 2400.0, 1100.0]]


def _setup(dispatch: str, n=240, rate=1500.0):
    torch = _FakeTorch()
    streams = [_Stream(d, f"p{i}") for i, d in enumerate(DEVICES)]
    graphs = [[[_Graph(torch.cuda, s, SERVICE[m][i])] for m in range(2)] for i, s in enumerate(streams)]
    est = [[[SERVICE[m][i]] for m in range(2)] for i in range(len(streams))]
    arrival, qm, qb = _trace(n, rate)
    disp = Dispatcher(SMS, est, [8000.0, 12000.0], qm, qb, dispatch, 0.5)
    return torch, streams, graphs, disp, arrival, qm


@pytest.mark.parametrize("dispatch", ["elsa", "least-loaded", "fifo"])
def test_one_dispatcher_over_the_partitions_of_two_gpus(dispatch):
    torch, streams, graphs, disp, arrival, qm = _setup(dispatch)
    energies = [_Energy(0, 100), _Energy(1, 300)]
    r = replay(torch, disp, streams, graphs, arrival, qm, [1e9, 1e9], 24, energies)
    n = len(arrival)
    assert r["dropped"] == [0] * n
    assert all(p in range(4) for p in r["ran_on"]), "every query ran on some partition"
    if dispatch != "fifo":  # per-partition FIFOs: a query runs where the dispatcher sent it
        assert r["ran_on"] == r["assigned"]
    used = {DEVICES[p] for p in r["ran_on"]}
    assert used == {"cuda:0", "cuda:1"}, f"{dispatch}: both GPUs serve ({used})"
    for q in range(n):
        assert r["end"][q] - r["start"][q] >= SERVICE[qm[q]][r["ran_on"][q]] * 0.9, q
        assert r["release"][q] >= arrival[q] - 1, q
    # every GPU waited for, not only the current device
    assert {"cuda:0", "cuda:1"} <= set(torch.cuda.synchronized)
    # energy: summed over the GPUs (one read before, one after each), and per GPU
    assert r["energyPerGpuJ"] == pytest.approx([0.1, 0.3])
    assert r["energyJ"] == pytest.approx(0.4)
    assert len(torch.cuda.launches) == n


def test_a_single_energy_reader_still_works_as_before():
    torch, streams, graphs, disp, arrival, qm = _setup("elsa", n=60, rate=800.0)
    r = replay(torch, disp, streams, graphs, arrival, qm, [1e9, 1e9], 6, _Energy(0, 250))
    assert r["energyJ"] == pytest.approx(0.25) and r["energyPerGpuJ"] == pytest.approx([0.25])
    torch, streams, graphs, disp, arrival, qm = _setup("elsa", n=60, rate=800.0)
    r = replay(torch, disp, streams, graphs, arrival, qm, [1e9, 1e9], 6, None)
    assert r["energyJ"] is None and r["energyPerGpuJ"] is None


def test_a_replay_launched_on_another_stream_fails_the_run():
    # the check of the stand-in itself: a partition thread that never made its stream current would launch its
    # graphs on the device's default stream (the whole GPU): that must not pass silently
    torch, streams, graphs, disp, arrival, qm = _setup("elsa", n=40, rate=500.0)
    torch.cuda.set_stream = lambda stream: None
    with pytest.raises(AssertionError, match="launched on None"):
        replay(torch, disp, streams, graphs, arrival, qm, [1e9, 1e9], 4, None)
