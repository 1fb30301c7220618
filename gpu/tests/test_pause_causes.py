"""gpu/scripts/pause-causes.py on a made-up log: the streams' pauses merged into episodes, each given to the first
source that overlaps it (the server's GC, its held loop, the clients, the backend's Python), and the chance control."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "pause-causes.py"
_spec = importlib.util.spec_from_file_location("pause_causes", SCRIPT)
pc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pc)

LOG = """\
eclip_gpu: pause m#0: 1500 µs, ended by an execution enqueued at 1002.000 ms (monotonic)
eclip_gpu: pause m#1: 1200 µs, ended by an execution enqueued at 1001.800 ms (monotonic)
eclip serve: gc minor at 1000.500 ms (monotonic) for 900 µs
eclip_gpu: pause m#0: 2000 µs, ended by an execution enqueued at 2002.000 ms (monotonic)
eclip serve: loop held at 2000.500 ms (monotonic) for 3000 µs
eclip_gpu: pause m#1: 2000 µs, ended by an execution enqueued at 3002.000 ms (monotonic)
eclip clients: gc minor at 3000.100 ms (monotonic) for 1500 µs
eclip_gpu: pause m#0: 1100 µs, ended by an execution enqueued at 4002.000 ms (monotonic)
eclip_gpu: python held at 5000.000 ms (monotonic) for 2500 µs
eclip_gpu: pause m#0: 50000 µs, ended by an execution enqueued at 9000.000 ms (monotonic)
"""


def test_reads_every_source_on_one_clock(tmp_path):
    f = tmp_path / "legs.log"
    f.write_text(LOG)
    pauses, held = pc.read(str(f))
    assert len(pauses) == 6 and pauses[0] == (1000.5, 1002.0, "m#0")
    assert [len(held[k]) for k in ("gc", "loop", "clients", "python")] == [1, 1, 1, 1]
    assert held["gc"][0] == (1000.5, 1001.4, "minor")
    assert held["loop"][0] == (2000.5, 2003.5, "loop")


def test_episodes_and_their_causes(tmp_path):
    f = tmp_path / "legs.log"
    f.write_text(LOG)
    pauses, held = pc.read(str(f))
    eps = [e for e in pc.episodes(pauses) if e[1] - e[0] <= 10]
    assert len(eps) == 4  # the two overlapping pauses are one; the 50-ms one is idle time
    assert eps[0][2] == {"m#0", "m#1"}
    by = pc.causes(eps, held, 0.2)
    assert [len(by[k]) for k in ("gc", "loop", "clients", "python", "none")] == [1, 1, 1, 0, 1]
    moved = pc.causes(eps, held, 0.2, shift=37.0)
    assert len(moved["none"]) == 4
    out = subprocess.run([sys.executable, str(SCRIPT), str(f)], capture_output=True, text=True, check=True).stdout
    assert "4 episodes of at most 10 ms (1 with every model of the 2 empty)" in out
    assert "overlapping gc    :    1 episodes" in out
