"""The serving backend's garbage-collector settings (gcpause.py): freezing after a load, counting pauses."""

import gc
import json
import os

from eclip_gpu import gcpause


def test_settle_freezes_what_is_alive(monkeypatch):
    monkeypatch.setattr(gcpause, "FREEZE", True)
    gc.unfreeze()
    keep = [[i] for i in range(1000)]  # containers the collector tracks
    try:
        assert gcpause.settle() is True
        assert gc.get_freeze_count() >= len(keep)
    finally:
        gc.unfreeze()


def test_settle_leaves_the_collector_alone_when_told(monkeypatch):
    monkeypatch.setattr(gcpause, "FREEZE", False)
    gc.unfreeze()
    assert gcpause.settle() is False
    assert gc.get_freeze_count() == 0


def test_recorder_counts_each_generation_and_dumps(tmp_path):
    ticks = iter([0.0, 0.002, 1.0, 1.010])
    rec = gcpause.PauseRecorder(clock=lambda: next(ticks))
    rec("start", {"generation": 0})
    rec("stop", {"generation": 0})
    rec("start", {"generation": 2})
    rec("stop", {"generation": 2})
    rec("stop", {"generation": 1})  # a stop without its start (installed mid-collection) is not counted
    g = rec.report()["generations"]
    assert g["0"]["collections"] == 1 and abs(g["0"]["totalMs"] - 2.0) < 1e-9
    assert g["2"]["collections"] == 1 and abs(g["2"]["maxMs"] - 10.0) < 1e-9
    assert g["1"]["collections"] == 0
    rec.dump(str(tmp_path / "gc"))
    with open(tmp_path / f"gc.{os.getpid()}.json") as f:
        assert json.load(f)["generations"]["2"]["collections"] == 1


def test_recorder_sees_real_collections():
    rec = gcpause.PauseRecorder().install()
    try:
        gc.collect(0)
        gc.collect(2)
    finally:
        rec.remove()
    g = rec.report()["generations"]
    assert g["0"]["collections"] >= 1 and g["2"]["collections"] >= 1
    assert rec not in gc.callbacks
