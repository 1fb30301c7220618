"""The MPS policy's parent side without a GPU: the daemon's lifecycle against a fake `nvidia-cuda-mps-control` put
first on PATH, and run_mps with fake worker processes (no torch anywhere in this file)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import pytest

from eclip_gpu import mps
from eclip_gpu.mps import MpsDaemon, MpsUnavailable, plan_percentages, run_mps, thread_percentage

# The fake control program: records every call (args, the MPS folders it was given, its stdin) as one JSON line;
# `-d` starts a stand-in daemon (a sleep whose argv[0] reads nvidia-cuda-mps-control-daemon, with the caller's
# environment) and writes its pid file into the pipe folder; `quit` kills that daemon and removes the pid file;
# get_server_list / get_client_list answer like the real one (server: the stand-in daemon itself, once a client
# came; clients: pids the fake workers wrote to <pipe>/clients). FAKE_MPS_FAIL=1 makes `-d` fail as a broken
# installation would. Each record also keeps the CUDA_VISIBLE_DEVICES the call saw ("cvd").
FAKE_CONTROL = r"""#!/bin/bash
pipe="${CUDA_MPS_PIPE_DIRECTORY:-/tmp/nvidia-mps}"
pidfile="$pipe/nvidia-cuda-mps-control.pid"
input=""
if [ "$1" != "-d" ]; then input="$(cat)"; fi
printf '{"args":"%s","pipe":"%s","log":"%s","stdin":"%s","cvd":"%s"}\n' "$*" "$CUDA_MPS_PIPE_DIRECTORY" \
  "$CUDA_MPS_LOG_DIRECTORY" "$(echo $input)" "$CUDA_VISIBLE_DEVICES" >> "$FAKE_MPS_RECORD"
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
# fail-connect | fail-connect-once (only the first worker process that ever starts in this test fails). It writes its
# CUDA_* environment to $FAKE_CHILD_ENV/<name>.json (the last try's, at a retry). FAKE_MPS_POOL=N stands for the
# server's pool of connections: each client takes its CUDA_DEVICE_MAX_CONNECTIONS (8 unset) from it, and one that
# finds too few left fails to connect as a real client does ("out of memory"), the server logging why.
FAKE_CHILD = r"""
import fcntl, json, os, sys, threading, time
from multiprocessing.connection import Connection
inbox = Connection(int(sys.argv[1]), writable=False)
outbox = Connection(int(sys.argv[2]), readable=False)
cfg = inbox.recv()
mode = os.environ.get("FAKE_CHILD", "ok")
pipe = os.environ["CUDA_MPS_PIPE_DIRECTORY"]
envdir = os.environ["FAKE_CHILD_ENV"]
with open(os.path.join(envdir, cfg["name"] + ".json"), "w") as f:
    json.dump({k: v for k, v in os.environ.items() if k.startswith("CUDA_")}, f)
def refuse(message):
    outbox.send({"type": "error", "stage": "connect", "message": message})
    sys.exit(1)
if mode == "fail-connect":
    refuse("RuntimeError: MPS client failed to connect")
if mode == "fail-connect-once":
    marker = os.path.join(envdir, "failed-once")
    if not os.path.exists(marker):
        open(marker, "w").close()
        refuse("RuntimeError: MPS client failed to connect")
if os.environ.get("FAKE_MPS_POOL"):
    want = int(os.environ.get("CUDA_DEVICE_MAX_CONNECTIONS", "8"))
    with open(os.path.join(pipe, "connections"), "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        used = sum(int(x) for x in f.read().split())
        if used + want > int(os.environ["FAKE_MPS_POOL"]):
            with open(os.path.join(os.environ["CUDA_MPS_LOG_DIRECTORY"], "server.log"), "a") as log:
                log.write(f"Client {os.getpid()} asked for {want} connections, {used} of the pool in use: refused\n")
            refuse("RuntimeError: CUDA error: out of memory")
        f.write(f"{want}\n")
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
    monkeypatch.delenv("FAKE_MPS_POOL", raising=False)
    monkeypatch.delenv("FAKE_CHILD", raising=False)
    # daemons' folders (and the orphans reap_orphans looks for) in this test's own temporary directory
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
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
    assert "MPS clients' captured kernels per request: a 3, b 3" in raw["notes"]


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


def test_client_connections_share_the_budget():
    assert mps.client_connections(3, "32") == 32  # 3 x 32 fit the budget: the backend's own value
    assert mps.client_connections(4, "32") == 24
    assert mps.client_connections(8, "32") == 12
    assert mps.client_connections(4, None) == mps.DRIVER_DEFAULT_CONNECTIONS  # unset: the driver's default
    assert mps.client_connections(2, "4") == 4  # never more than the backend asked for
    assert mps.client_connections(4, "many") == mps.DRIVER_DEFAULT_CONNECTIONS
    assert mps.client_connections(500, "32") == 1
    for n in range(1, 97):
        assert n * mps.client_connections(n, "32") <= mps.CONNECTION_BUDGET


def test_four_workers_fit_the_servers_pool_of_connections(fake, monkeypatch):
    # the H100 failure: four clients that each inherit the backend's 32 queues spend the server's pool, and the last
    # one to connect fails with "out of memory"; three fit
    monkeypatch.setenv("FAKE_MPS_POOL", "120")
    monkeypatch.setenv("CUDA_DEVICE_MAX_CONNECTIONS", "32")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    workers = [{"name": f"shufflenet#{i}"} for i in range(4)]
    raw = run_mps(workers, [25, 25, 25, 25], 0.02, 0.1, child_argv=fake.child_argv)
    assert [w["name"] for w in raw["workers"]] == [w["name"] for w in workers]
    envs = [json.loads((fake.envdir / f"shufflenet#{i}.json").read_text()) for i in range(4)]
    assert [e["CUDA_DEVICE_MAX_CONNECTIONS"] for e in envs] == ["24"] * 4
    # the daemon (so its server) sees the backend's devices; a client applying the index again would not find it
    assert all("CUDA_VISIBLE_DEVICES" not in e for e in envs)
    first = _records(fake.record)[0]
    assert first["args"] == "-d" and first["cvd"] == "1"
    assert any("CUDA_DEVICE_MAX_CONNECTIONS 24 each" in n and "the backend's: 32" in n for n in raw["notes"])
    assert not any("retry" in n for n in raw["notes"])  # it worked at the first try
    assert sum(1 for c in _records(fake.record) if c["args"] == "-d") == 1


def test_the_pool_refuses_a_client_as_on_the_gpu(fake, monkeypatch):
    # the fake pool itself: at the inherited 32 a fourth client does not fit (what the test above guards against),
    # and the reason comes with the server's log, not only the daemon's
    monkeypatch.setenv("FAKE_MPS_POOL", "120")
    monkeypatch.setattr(mps, "client_connections", lambda n, asked, budget=0: 32)
    monkeypatch.setattr(mps, "MPS_DEFAULT_CONNECTIONS", 32)  # the retry too
    with pytest.raises(MpsUnavailable) as e:
        run_mps([{"name": f"s#{i}"} for i in range(4)], [None] * 4, 0, 0.1, child_argv=fake.child_argv)
    assert "out of memory" in str(e.value)
    assert "server.log: Client" in str(e.value) and "refused" in str(e.value)
    assert "control.log: daemon started" in str(e.value)


def test_a_refused_run_is_retried_once_with_a_fresh_daemon(fake, monkeypatch):
    monkeypatch.setenv("FAKE_CHILD", "fail-connect-once")
    monkeypatch.setenv("CUDA_DEVICE_MAX_CONNECTIONS", "32")
    said = []
    raw = run_mps([{"name": "a"}, {"name": "b"}], [49, None], 0.02, 0.1, child_argv=fake.child_argv,
                  progress=said.append)
    assert [w["name"] for w in raw["workers"]] == ["a", "b"] and all(len(w["startsNs"]) > 5 for w in raw["workers"])
    calls = _records(fake.record)
    starts = [i for i, c in enumerate(calls) if c["args"] == "-d"]
    quits = [i for i, c in enumerate(calls) if c["stdin"] == "quit"]
    assert len(starts) == 2 and len(quits) == 2
    first, second = calls[starts[0]]["pipe"], calls[starts[1]]["pipe"]
    assert first != second  # fresh folders
    # the first daemon was stopped before the second started, each told to quit on its own pipe
    assert starts[0] < quits[0] < starts[1] < quits[1]
    assert calls[quits[0]]["pipe"] == first and calls[quits[1]]["pipe"] == second
    assert not Path(first).exists() and not Path(second).exists()
    assert not any(_alive(p) for p in raw["daemonPids"])
    assert raw["notes"][0].startswith("the first try failed (worker ") and "fresh MPS daemon" in raw["notes"][0]
    assert any("trying once more with a fresh daemon" in m for m in said)
    # at the retry the clients ask for MPS's default connections
    assert json.loads((fake.envdir / "a.json").read_text())["CUDA_DEVICE_MAX_CONNECTIONS"] == "2"


def test_a_second_refusal_gives_up_with_both_reasons(fake, monkeypatch):
    monkeypatch.setenv("FAKE_CHILD", "no-client")
    with pytest.raises(MpsUnavailable) as e:
        run_mps([{"name": "a"}], [None], 0, 0.1, child_argv=fake.child_argv)
    assert "at the retry with a fresh daemon" in str(e.value) and "the first try: " in str(e.value)
    assert str(e.value).count("would run without MPS") == 2
    assert not e.value.retry
    calls = _records(fake.record)
    assert [c["args"] for c in calls].count("-d") == 2 and [c["stdin"] for c in calls].count("quit") == 2
    assert not any(Path(c["pipe"]).exists() for c in calls)


def test_a_worker_that_fails_for_another_reason_is_not_retried(fake, monkeypatch):
    monkeypatch.setenv("FAKE_CHILD", "fail-capture")
    with pytest.raises(mps.ChildFailed):
        run_mps([{"name": "a"}], [None], 0, 0.1, child_argv=fake.child_argv)
    assert [c["args"] for c in _records(fake.record)].count("-d") == 1


# A backend that starts a daemon and is then killed (SIGKILL: no finally, no atexit), as the TypeScript side kills a
# backend that hangs or ends with the bench. Prints the daemon's folder, its pid and its watcher's pid (0: none).
KILLED_BACKEND = r"""
import os, signal, sys
from eclip_gpu.mps import MpsDaemon
d = MpsDaemon(watch=sys.argv[1] == "watch").start()
print(d.dir, int((d.pipe_dir / "nvidia-cuda-mps-control.pid").read_text()), d.watcher.pid if d.watcher else 0,
      flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def _killed_backend(fake, watch: bool) -> tuple[str, int, int]:
    gpu_dir = Path(mps.__file__).resolve().parents[1]
    env = {**os.environ, "TMPDIR": str(fake.tmp), "PYTHONPATH": str(gpu_dir)}
    out = subprocess.run([sys.executable, "-c", KILLED_BACKEND, "watch" if watch else "no-watch"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == -signal.SIGKILL, out.stderr
    folder, pid, watcher = out.stdout.split()
    return folder, int(pid), int(watcher)


def _until(cond, timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_killed_backends_daemon_is_stopped_by_its_watcher(fake):
    folder, pid, watcher = _killed_backend(fake, watch=True)
    assert watcher
    # no other run comes: the watcher alone quits the daemon, removes its folder and exits
    assert _until(lambda: not _alive(pid) and not Path(folder).exists() and not _alive(watcher))
    quits = [c for c in _records(fake.record) if c["stdin"] == "quit"]
    assert [q["pipe"] for q in quits] == [str(Path(folder) / "pipe")]  # on its own pipe, once


def test_a_watcher_ends_with_its_daemons_normal_stop(fake, capsys):
    with MpsDaemon() as d:
        w = d.watcher
        assert w is not None and w.poll() is None
        time.sleep(2 * mps.WATCH_POLL_S)
        assert w.poll() is None and _alive(int((d.pipe_dir / "nvidia-cuda-mps-control.pid").read_text()))
        assert (d.dir / mps.WATCHER).read_text().split()[0] == str(w.pid)  # it says who it is
    assert w.returncode == -signal.SIGTERM and d.watcher is None  # ended by the stop, not left to its next poll
    assert [c["stdin"] for c in _records(fake.record)].count("quit") == 1  # the stop's, none from the watcher
    assert "watcher" not in capsys.readouterr().err


def test_a_watcher_that_died_is_said_at_the_stop(fake, capsys):
    with MpsDaemon() as d:
        d.watcher.kill()
        d.watcher.wait()
    err = capsys.readouterr().err
    assert "the MPS daemon's watcher had ended (exit -9)" in err, err


# A backend in a process group of its own that starts a daemon and waits: a signal to its group (`timeout`'s
# SIGTERM, a SIGKILL) ends it with no atexit run. Prints the daemon's folder, its pid and the watcher's pid.
GROUP_BACKEND = r"""
import sys, time
from eclip_gpu.mps import MpsDaemon
d = MpsDaemon().start()
print(d.dir, int((d.pipe_dir / "nvidia-cuda-mps-control.pid").read_text()), d.watcher.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_the_watcher_outlives_a_signal_to_its_backends_process_group(fake, sig):
    gpu_dir = Path(mps.__file__).resolve().parents[1]
    env = {**os.environ, "TMPDIR": str(fake.tmp), "PYTHONPATH": str(gpu_dir)}
    backend = subprocess.Popen([sys.executable, "-c", GROUP_BACKEND], env=env, stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        folder, pid, watcher = backend.stdout.readline().split()
        pid, watcher = int(pid), int(watcher)
        os.killpg(backend.pid, sig)
        assert backend.wait(timeout=10) != 0
        # the watcher, in a session of its own, was not in the group: it stops the daemon, then exits
        assert _until(lambda: not _alive(pid) and not Path(folder).exists() and not _alive(watcher))
    finally:
        if backend.poll() is None:
            backend.kill()
            backend.wait()
        backend.stdout.close()
    assert [c["pipe"] for c in _records(fake.record) if c["stdin"] == "quit"] == [str(Path(folder) / "pipe")]


def test_the_next_run_waits_for_a_watcher_at_work(fake):
    folder, pid, _ = _killed_backend(fake, watch=False)  # a daemon left behind, no watcher of its own
    sleeper = subprocess.Popen(["sleep", "600"])  # stands for a watcher, stopping it now
    binary = str(fake.tmp / "bin" / "nvidia-cuda-mps-control")
    try:
        (Path(folder) / mps.WATCHER).write_text(f"{sleeper.pid} {mps._start_time(sleeper.pid)}\n")
        # the watcher finishes its stop while the reaper waits: nothing left to reap, one quit sent in all
        done = threading.Timer(0.5, lambda: mps._stop_folder(Path(folder), binary))
        done.start()
        t0 = time.monotonic()
        assert mps.reap_orphans(watcher_wait_s=10) == []
        assert time.monotonic() - t0 < 5 and not _alive(pid) and not Path(folder).exists()
        done.join()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert [c["stdin"] for c in _records(fake.record)].count("quit") == 1


def test_a_stuck_watcher_does_not_keep_its_daemon(fake):
    folder, pid, _ = _killed_backend(fake, watch=False)
    sleeper = subprocess.Popen(["sleep", "600"])  # a watcher that never gets to it
    try:
        (Path(folder) / mps.WATCHER).write_text(f"{sleeper.pid} {mps._start_time(sleeper.pid)}\n")
        t0 = time.monotonic()
        assert mps.reap_orphans(watcher_wait_s=0.5) == [folder] and not _alive(pid)
        assert time.monotonic() - t0 >= 0.5  # given its time first
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_daemon_a_killed_backend_left_is_stopped_by_the_next_run(fake):
    # its watcher gone too (none started here): the next MPS run reaps it
    folder, pid, _ = _killed_backend(fake, watch=False)
    assert Path(folder).parent == fake.tmp and _alive(pid)  # left behind
    with MpsDaemon() as ours:  # a daemon whose owner (this process) runs: not an orphan
        ours_pid = int((ours.pipe_dir / "nvidia-cuda-mps-control.pid").read_text())
        said = []
        raw = run_mps([{"name": "a"}], [None], 0, 0.05, child_argv=fake.child_argv, progress=said.append)
        time.sleep(0.1)
        assert not _alive(pid) and not Path(folder).exists()
        assert any(f"a killed backend left in {folder}" in m for m in said)
        assert _alive(ours_pid) and ours.pipe_dir.exists()
        assert raw["workers"][0]["startsNs"]
    quits = [c for c in _records(fake.record) if c["stdin"] == "quit"]
    assert quits[0]["pipe"] == str(Path(folder) / "pipe")  # told to quit on its own pipe, as its stop would


def test_an_owner_file_names_the_process_and_when_it_started(fake):
    with MpsDaemon() as d:
        pid, started = (d.dir / mps.OWNER).read_text().split()
        assert int(pid) == os.getpid() and started == mps._start_time(os.getpid())
        assert mps._owner_alive([pid, started])
        assert not mps._owner_alive([pid, str(int(started) + 1)])  # the pid reused by a later process
        assert mps.reap_orphans() == []


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
    from eclip_gpu.cuda import FATAL_MARKERS

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
    assert "not found on PATH" in str(again.value) and "not tried again" in str(again.value)
    assert not _records(fake.record)
