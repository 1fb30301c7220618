"""The MPS policy on a GPU (issue #8): worker processes under an MPS daemon of our own. Skips, with the reason, where
MPS cannot start (no nvidia-cuda-mps-control, a daemon that fails, workers that cannot become its clients)."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eclip_gpu.mps import CONTROL, MpsUnavailable, _pid_alive, reap_orphans, run_mps


def _run(workers, percentages, window_s=2.0):
    from eclip_gpu.energy import Energy

    try:
        return run_mps(workers, percentages, 0.5, window_s, Energy(), progress=print)
    except MpsUnavailable as e:
        pytest.skip(str(e))


def _leftovers(pipe_dir: str) -> list[int]:
    """Processes whose environment still names our pipe folder (our daemon or its server)."""
    needle = f"CUDA_MPS_PIPE_DIRECTORY={pipe_dir}".encode()
    out = []
    for d in Path("/proc").glob("[0-9]*"):
        try:
            if needle in (d / "environ").read_bytes().split(b"\0"):
                out.append(int(d.name))
        except OSError:
            continue
    return out


def _in_window(raw, w):
    return sum(1 for e in w["endsNs"] if raw["windowStartNs"] < e <= raw["windowEndNs"])


def test_two_workers_under_mps_complete_requests_and_the_daemon_is_gone():
    workers = [{"name": f"alexnet#{i}", "model": "alexnet", "batch": 1, "dtype": "fp16", "fingerprint": None}
               for i in range(2)]
    raw = _run(workers, [50, 50])
    counts = [_in_window(raw, w) for w in raw["workers"]]
    print(f"requests in the 2 s window: {counts}, energy {raw['energyJ']:.1f} J, notes {raw['notes']}")
    assert all(c > 10 for c in counts), counts
    assert raw["energyJ"] is not None and raw["energyJ"] > 0
    assert any(n.startswith("MPS server") for n in raw["notes"])  # both were clients of our server
    assert not Path(raw["pipeDir"]).exists()
    assert _leftovers(raw["pipeDir"]) == [], "MPS daemon or server still running after the run"


@pytest.mark.parametrize("n", [4, 8])
def test_as_many_workers_as_the_plan_has_become_clients(n):
    # four shufflenet clients at batch 8 failed to start CUDA ("out of memory") when each inherited the backend's
    # 32 hardware queues: one server's clients share one pool of connections (mps.client_connections)
    assert os.environ.get("CUDA_DEVICE_MAX_CONNECTIONS") == "32", "the backend's setting, which clients used to inherit"
    workers = [{"name": f"shufflenet#{i}", "model": "shufflenet", "batch": 8, "dtype": "fp16", "fingerprint": None}
               for i in range(n)]
    if not shutil.which(CONTROL):
        pytest.skip(f"{CONTROL} not found on PATH")
    from eclip_gpu.energy import Energy

    # no skip on MpsUnavailable here: MPS works on this machine (the control program is there), so a refusal fails
    raw = run_mps(workers, [25] * n, 0.5, 1.0, Energy(), progress=print)
    counts = [_in_window(raw, w) for w in raw["workers"]]
    print(f"{n} workers: requests in the 1 s window {counts}; notes {raw['notes']}")
    assert all(c > 5 for c in counts), counts
    assert not any(note.startswith("the first try failed") for note in raw["notes"]), raw["notes"]
    assert _leftovers(raw["pipeDir"]) == [], "MPS daemon or server still running after the run"


def test_the_thread_percentage_caps_a_worker():
    # a compute-heavy worker alone: capped at 10% of the SMs it must be clearly slower than uncapped
    w = [{"name": "resnet152#0", "model": "resnet152", "batch": 8, "dtype": "fp16", "fingerprint": None}]

    def mean_latency_ms(pct):
        raw = _run(w, [pct], window_s=1.5)
        x = raw["workers"][0]
        lat = [(e - s) / 1e6 for s, e in zip(x["startsNs"], x["endsNs"]) if e > raw["windowStartNs"]]
        assert lat
        return sum(lat) / len(lat)

    capped, free = mean_latency_ms(10), mean_latency_ms(None)
    print(f"resnet152 b8: {capped:.2f} ms at 10%, {free:.2f} ms uncapped")
    assert capped > 2 * free


# A backend that starts a daemon and is killed before it can stop it (as the bench's own exit on Ctrl-C kills it)
KILLED_BACKEND = r"""
import os, signal
from eclip_gpu.mps import MpsDaemon
d = MpsDaemon().start()
print(d.pipe_dir, d.watcher.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_killed_backends_daemon_is_stopped_by_its_watcher():
    if not shutil.which(CONTROL):
        pytest.skip(f"{CONTROL} not found on PATH")
    gpu_dir = str(Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", KILLED_BACKEND], env={**os.environ, "PYTHONPATH": gpu_dir},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == -signal.SIGKILL, out.stderr
    pipe, watcher = out.stdout.split()
    try:
        deadline = time.monotonic() + 30
        while (_leftovers(pipe) or Path(pipe).exists() or _pid_alive(int(watcher))) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _leftovers(pipe) == [] and not Path(pipe).exists(), "the daemon outlived its backend by 30 s"
        assert not _pid_alive(int(watcher)), "the watcher did not exit after stopping the daemon"
    finally:
        reap_orphans()  # should the watcher have failed, no daemon is left on the machine
