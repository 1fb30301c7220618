"""The MPS policy's parent side without a GPU: the daemon's lifecycle against a fake `nvidia-cuda-mps-control` put
first on PATH, and run_mps with fake worker processes (no torch anywhere in this file)."""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
import textwrap
import time
from pathlib import Path

import pytest

from eclip_gpu import mps
from eclip_gpu.mps import MpsDaemon, MpsUnavailable, plan_percentages, run_mps, thread_percentage

# The fake control program: records every call (args, the MPS folders it was given, its stdin) as one JSON line;
# `-d` starts a stand-in daemon (a sleep whose argv[0] reads nvidia-cuda-mps-control-daemon, with the caller's
# environment) and writes its pid file into the pipe folder; `quit` kills that daemon and removes the pid file;
# get_server_list / get_client_list answer like the real one (server: the stand-in daemon itself, once a client
# came; clients: pids the fake workers wrote to <pipe>/clients). FAKE_MPS_FAIL=1 makes `-d` fail as a broken installation would.
FAKE_CONTROL = r"""#!/bin/bash
pipe="${CUDA_MPS_PIPE_DIRECTORY:-/tmp/nvidia-mps}"
pidfile="$pipe/nvidia-cuda-mps-control.pid"
input=""
if [ "$1" != "-d" ]; then input="$(cat)"; fi
printf '{"args":"%s","pipe":"%s","log":"%s","stdin":"%s"}\n' "$*" "$CUDA_MPS_PIPE_DIRECTORY" \
  "$CUDA_MPS_LOG_DIRECTORY" "$(echo $input)" >> "$FAKE_MPS_RECORD"
if [ "$1" = "-d" ]; then
  if [ "$FAKE_MPS_FAIL" = "1" ]; then echo "An instance of this daemon is already running" >&2; exit 1; fi
  mkdir -p "$pipe"
  (exec -a nvidia-cuda-mps-control-daemon sleep 600) </dev/null >/dev/null 2>&1 &
  echo $! > "$pidfile"
  echo "daemon started" > "$CUDA_MPS_LOG_DIRECTORY/control.log"
  exit 0
fi
if [ ! -f "$pidfile" ] || ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "Cannot find MPS control daemon process" >&2; exit 1
fi
case "$input" in
  quit) kill "$(cat "$pidfile")"; rm -f "$pidfile" ;;
  get_server_list) if [ -n "$FAKE_MPS_SERVER_PID" ]; then echo "$FAKE_MPS_SERVER_PID";
                   elif [ -s "$pipe/clients" ]; then cat "$pidfile"; fi ;;
  get_client_list*) cat "$pipe/clients" 2>/dev/null ;;
esac
exit 0
"""

# A fake worker process speaking run_mps's protocol, without torch. FAKE_CHILD: ok | fail-capture | no-client |
# fail-connect. It writes its MPS environment to $FAKE_CHILD_ENV/<name>.json.
FAKE_CHILD = r"""
import json, os, sys, threading, time
from multiprocessing.connection import Connection
inbox = Connection(int(sys.argv[1]), writable=False)
outbox = Connection(int(sys.argv[2]), readable=False)
cfg = inbox.recv()
mode = os.environ.get("FAKE_CHILD", "ok")
pipe = os.environ["CUDA_MPS_PIPE_DIRECTORY"]
with open(os.path.join(os.environ["FAKE_CHILD_ENV"], cfg["name"] + ".json"), "w") as f:
    json.dump({k: v for k, v in os.environ.items() if k.startswith("CUDA_MPS")}, f)
if mode == "fail-connect":
    outbox.send({"type": "error", "stage": "connect", "message": "RuntimeError: MPS client failed to connect"})
    sys.exit(1)
if mode != "no-client":
    with open(os.path.join(pipe, "clients"), "a") as f:
        f.write(f"{os.getpid()}\n")
outbox.send({"type": "connected", "pid": os.getpid()})
if mode == "fail-capture":
    outbox.send({"type": "error", "stage": "capture", "message": "BackendError: fingerprint mismatch"})
    sys.exit(1)
outbox.send({"type": "ready", "kernels": 3})
msg = inbox.recv()
if msg["type"] != "start":
    sys.exit(0)
stop = threading.Event()
threading.Thread(target=lambda: (inbox.recv(), stop.set()), daemon=True).start()
if cfg.get("schedule") is not None:
    # a schedule of arrivals or busy periods: the real loop (arrivals.py), each request 2 ms of sleep
    from eclip_gpu.arrivals import run_schedule
    class Done:
        def synchronize(self):
            time.sleep(0.002)
    log = run_schedule(cfg["name"], Done, cfg["schedule"], msg["originNs"], msg["endNs"], stop, clock=time.monotonic_ns)
    outbox.send({"type": "times", "startsNs": log.starts_ns, "endsNs": log.ends_ns, "arrivalsNs": log.arrivals_ns})
    sys.exit(0)
starts, ends = [], []
while not stop.is_set():
    t0 = time.monotonic_ns(); time.sleep(0.002); starts.append(t0); ends.append(time.monotonic_ns())
outbox.send({"type": "times", "startsNs": starts, "endsNs": ends})
"""


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _alive(pid: int) -> bool:
    return mps._pid_alive(pid)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """The fake control program first on PATH; its calls recorded in tmp_path/record.jsonl."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    ctl = bindir / "nvidia-cuda-mps-control"
    ctl.write_text(FAKE_CONTROL)
    ctl.chmod(ctl.stat().st_mode | stat.S_IXUSR)
    record = tmp_path / "record.jsonl"
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_MPS_RECORD", str(record))
    monkeypatch.delenv("FAKE_MPS_FAIL", raising=False)
    monkeypatch.delenv("FAKE_MPS_SERVER_PID", raising=False)
    monkeypatch.delenv("CUDA_MPS_PIPE_DIRECTORY", raising=False)
    monkeypatch.delenv("CUDA_MPS_LOG_DIRECTORY", raising=False)
    child = tmp_path / "fake_child.py"
    child.write_text(textwrap.dedent(FAKE_CHILD))
    envdir = tmp_path / "child-env"
    envdir.mkdir()
    monkeypatch.setenv("FAKE_CHILD_ENV", str(envdir))

    class Fake:
        pass

    f = Fake()
    f.record, f.tmp, f.child_argv, f.envdir = record, tmp_path, [sys.executable, str(child)], envdir
    return f


def test_thread_percentage_rounds_up():
    assert thread_percentage(64, 132) == 49  # 48.48…
    assert thread_percentage(8, 132) == 7  # 6.06…
    assert thread_percentage(66, 132) == 50
    assert thread_percentage(132, 132) == 100
    assert thread_percentage(1, 1000) == 1
    with pytest.raises(ValueError):
        thread_percentage(0, 132)


def test_plan_percentages():
    plan = {
        "policy": "mps",
        "gpu": {"smCount": 132},
        "pool": {"partitions": [{"id": 0, "sms": 64}, {"id": 1, "sms": 68}]},
        "workers": [
            {"name": "a", "groups": [{"first": 0, "last": 9, "partition": 0}]},
            {"name": "b", "groups": [{"first": 0, "last": 4, "partition": 1}]},
        ],
    }
    assert plan_percentages(plan) == [49, 52]
    assert plan_percentages({**plan, "policy": "mps-unlimited"}) == [None, None]
    with pytest.raises(ValueError):
        plan_percentages({**plan, "policy": "eclip"})


def test_daemon_uses_its_own_folders_and_stops(fake):
    d = MpsDaemon()
    with d:
        assert d.dir is not None and d.dir.name.startswith("eclip-mps-")
        assert d.pipe_dir == d.dir / "pipe" and d.log_dir == d.dir / "log"
        pidfile = d.pipe_dir / "nvidia-cuda-mps-control.pid"
        pid = int(pidfile.read_text())
        assert _alive(pid)
        assert d.alive() and pid in d.pids  # found by our pipe folder in its environment
        env = d.env(49)
        assert env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] == "49"
        assert "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE" not in d.env(None)
    calls = _records(fake.record)
    assert calls[0]["args"] == "-d"
    assert all(c["pipe"] == str(d.pipe_dir) and c["log"] == str(d.log_dir) for c in calls)
    assert calls[-1]["stdin"] == "quit"
    time.sleep(0.1)
    assert not _alive(pid) and not d.alive()
    assert not d.pipe_dir.exists()  # the temporary directory is removed
    d.stop()  # idempotent: nothing more sent
    assert len(_records(fake.record)) == len(calls)


def test_inherited_percentage_does_not_cap_an_unlimited_worker(fake, monkeypatch):
    monkeypatch.setenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", "10")
    with MpsDaemon() as d:
        assert "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE" not in d.env(None)


def test_a_daemon_we_did_not_start_is_never_touched(fake, monkeypatch):
    # someone else's daemon, on its own pipe folder (as the system's would be, in /tmp/nvidia-mps)
    other = fake.tmp / "system-mps"
    other.mkdir()
    (fake.tmp / "system-log").mkdir()
    monkeypatch.setenv("CUDA_MPS_PIPE_DIRECTORY", str(other))
    monkeypatch.setenv("CUDA_MPS_LOG_DIRECTORY", str(fake.tmp / "system-log"))
    import subprocess

    subprocess.run(["nvidia-cuda-mps-control", "-d"], check=True)
    other_pid = int((other / "nvidia-cuda-mps-control.pid").read_text())
    before = len(_records(fake.record))
    try:
        with MpsDaemon() as d:
            assert other_pid not in d.pids
        ours = _records(fake.record)[before:]
        assert ours and all(c["pipe"] == str(d.pipe_dir) for c in ours)
        assert _alive(other_pid) and (other / "nvidia-cuda-mps-control.pid").exists()
    finally:
        os.kill(other_pid, signal.SIGTERM)


def test_a_stale_server_pid_that_is_no_mps_program_is_left_alone(fake, monkeypatch):
    import subprocess

    bystander = subprocess.Popen(["sleep", "60"])
    try:
        monkeypatch.setenv("FAKE_MPS_SERVER_PID", str(bystander.pid))
        with MpsDaemon():
            pass
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_missing_binary_is_a_clear_skip_reason(fake, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    with pytest.raises(MpsUnavailable) as e:
        MpsDaemon().start()
    assert "nvidia-cuda-mps-control not found on PATH" in str(e.value)
    assert str(e.value).startswith("MPS unavailable on this machine, policy skipped")
    with pytest.raises(MpsUnavailable):
        run_mps([{"name": "a"}], [None], 0, 0, child_argv=fake.child_argv)
    assert not list(fake.envdir.iterdir())  # no worker was started


def test_daemon_that_fails_to_start(fake, monkeypatch):
    monkeypatch.setenv("FAKE_MPS_FAIL", "1")
    d = MpsDaemon()
    with pytest.raises(MpsUnavailable) as e:
        d.start()
    assert "exited with 1" in str(e.value) and "already running" in str(e.value)
    assert d.dir is None and not d.pipe_dir.exists()


def test_run_measures_every_worker_then_stops_the_daemon(fake):
    raw = run_mps([{"name": "a"}, {"name": "b"}], [49, None], 0.05, 0.2, child_argv=fake.child_argv)
    assert [w["name"] for w in raw["workers"]] == ["a", "b"]
    for w in raw["workers"]:
        assert len(w["startsNs"]) == len(w["endsNs"]) > 10
        assert all(s < e for s, e in zip(w["startsNs"], w["endsNs"]))
        # one clock across processes: requests cover the parent's window
        assert w["startsNs"][0] < raw["windowStartNs"] and w["endsNs"][-1] >= raw["windowEndNs"] - 50_000_000
    assert raw["energyJ"] is None
    env_a = json.loads((fake.envdir / "a.json").read_text())
    env_b = json.loads((fake.envdir / "b.json").read_text())
    assert env_a["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] == "49"
    assert "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE" not in env_b
    assert env_a["CUDA_MPS_PIPE_DIRECTORY"] == raw["pipeDir"] == env_b["CUDA_MPS_PIPE_DIRECTORY"]
    calls = _records(fake.record)
    assert calls[0]["args"] == "-d" and calls[-1]["stdin"] == "quit"
    assert not any(_alive(p) for p in raw["daemonPids"])
    assert any(n.startswith("MPS server ") for n in raw["notes"])


def test_run_with_schedules_sends_each_worker_its_own_and_the_origin(fake):
    schedules = [{"kind": "open", "arrivalsUs": [0, 10_000, 20_000]}, {"kind": "closed", "periodsUs": [0, 15_000]}]
    raw = run_mps([{"name": "a"}, {"name": "b"}], [49, None], 0.0, 0.05, child_argv=fake.child_argv,
                  schedules=schedules)
    origin = raw["originNs"]
    a, b = raw["workers"]
    # whatever the machine's speed: a's arrivals are its schedule's, in order, each started at or after it
    got = [(x - origin) / 1000 for x in a["arrivalsNs"]]
    assert got == [0, 10_000, 20_000][: len(got)]
    assert all(s >= x for s, x in zip(a["startsNs"], a["arrivalsNs"]))
    # b ran its closed loop inside its one busy period only
    assert b["arrivalsNs"] == b["startsNs"]
    assert all(origin <= s < origin + 15_000_000 for s in b["startsNs"])
    assert not any(_alive(p) for p in raw["daemonPids"])
    with pytest.raises(mps.BackendError, match="1 arrival schedules for 2 workers"):
        run_mps([{"name": "a"}, {"name": "b"}], [None, None], 0, 0.01, child_argv=fake.child_argv,
                schedules=schedules[:1])


def test_daemon_is_stopped_when_a_worker_fails(fake, monkeypatch):
    monkeypatch.setenv("FAKE_CHILD", "fail-capture")
    with pytest.raises(mps.ChildFailed) as e:
        run_mps([{"name": "a"}, {"name": "b"}], [49, 52], 0, 0.1, child_argv=fake.child_argv)
    assert "fingerprint mismatch" in str(e.value) and not isinstance(e.value, MpsUnavailable)
    calls = _records(fake.record)
    assert calls[-1]["stdin"] == "quit"
    pipe = Path(calls[0]["pipe"])
    assert not pipe.exists()


@pytest.mark.parametrize("mode, reason", [
    ("no-client", "would run without MPS"),
    ("fail-connect", "could not start CUDA under MPS"),
])
def test_a_worker_that_cannot_use_mps_skips_the_policy(fake, monkeypatch, mode, reason):
    monkeypatch.setenv("FAKE_CHILD", mode)
    with pytest.raises(MpsUnavailable) as e:
        run_mps([{"name": "a"}], [49], 0, 0.1, child_argv=fake.child_argv)
    assert reason in str(e.value)
    assert _records(fake.record)[-1]["stdin"] == "quit"


def test_module_imports_no_torch():
    assert "torch" not in sys.modules or not hasattr(mps, "torch")


class _FakeEnergy:
    def __init__(self):
        self.mj = 1_000_000

    def read_mj(self):
        self.mj += 500
        return self.mj

    def clocks(self):
        return {"smMHz": 1980}


class _Layout:
    name, sm_count, min_size, compute_capability, n_slices = "NVIDIA H100 80GB HBM3", 132, 8, "9.0", 16

    def slice_sms(self, i):
        return 12 if i == 15 else 8


def _runner():
    from eclip_gpu.runner import Runner

    r = object.__new__(Runner)  # no torch, no GPU: only what the mps branch uses
    r.layout, r.energy, r.torch = _Layout(), _FakeEnergy(), None
    return r


def _plan(policy):
    worker = {"model": "alexnet", "batch": 1, "dtype": "fp16", "fingerprint": "sha256:" + "0" * 64}
    return {
        "policy": policy,
        "gpu": {"name": _Layout.name, "smCount": 132, "sliceSize": 8},
        "pool": {"partitions": [{"id": 0, "slices": [0], "sms": 64}, {"id": 1, "slices": [1], "sms": 68}]},
        "workers": [
            {**worker, "name": "alexnet#0", "groups": [{"first": 0, "last": 9, "partition": 0}]},
            {**worker, "name": "alexnet#1", "groups": [{"first": 0, "last": 9, "partition": 1}]},
        ],
    }


@pytest.mark.parametrize("policy, caps", [("mps", ["49", "52"]), ("mps-unlimited", [None, None])])
def test_runner_mps_branch_answers_like_the_other_policies(fake, monkeypatch, policy, caps):
    import functools

    monkeypatch.setattr(mps, "run_mps", functools.partial(mps.run_mps, child_argv=fake.child_argv))
    out = _runner().run({"plan": _plan(policy), "warmupS": 0.02, "windowS": 0.1, "checkOutputs": True},
                        progress=lambda m: None)
    # the keys the TypeScript side reads (src/execute/gpu/protocol.ts RunReply)
    assert {"mode", "workers", "windowStartUs", "windowEndUs", "energyJ", "wallS", "clocks", "switches",
            "notes"} <= set(out)
    assert out["mode"] == "whole" and out["switches"] == [0, 0] and out["energyJ"] == 0.5
    assert "outputCheck" not in out
    assert [w["name"] for w in out["workers"]] == ["alexnet#0", "alexnet#1"]
    for w in out["workers"]:
        assert len(w["startUs"]) == len(w["endUs"]) > 5
        assert min(w["startUs"]) >= 0 and out["windowStartUs"] < out["windowEndUs"]
    assert out["notes"][0].startswith(f"{policy}: one process per worker")
    got = [json.loads((fake.envdir / f"alexnet#{i}.json").read_text()).get("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE")
           for i in (0, 1)]
    assert got == caps


def test_runner_reports_mps_unavailable_as_a_plain_error(fake, monkeypatch, tmp_path):
    from eclip_gpu.protocol import FATAL_MARKERS

    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    runner = _runner()
    with pytest.raises(MpsUnavailable) as e:
        runner.run({"plan": _plan("mps"), "warmupS": 0, "windowS": 0.1}, progress=lambda m: None)
    # not fatal: the backend keeps serving the other policies
    assert not any(m in f"{type(e.value).__name__}: {e.value}" for m in FATAL_MARKERS)
    # the next MPS run fails at once with the same reason, even once the binary is back
    monkeypatch.setenv("PATH", f"{fake.tmp / 'bin'}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(MpsUnavailable) as again:
        runner.run({"plan": _plan("mps-unlimited"), "warmupS": 0, "windowS": 0.1}, progress=lambda m: None)
    assert "not found on PATH" in str(again.value) and "not retried" in str(again.value)
    assert not _records(fake.record)
