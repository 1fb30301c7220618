"""NVIDIA MPS as a bench policy (issue #8): every worker its own process under an MPS control daemon that eclip
starts and stops itself.

- The daemon: pipe and log folders in a fresh temporary directory (CUDA_MPS_PIPE_DIRECTORY / CUDA_MPS_LOG_DIRECTORY),
  `nvidia-cuda-mps-control -d` to start it, `echo quit | nvidia-cuda-mps-control` to stop it: always (try/finally,
  and atexit should the backend exit on an exception). Every command we send carries our own pipe folder, so it can
  only ever reach the daemon we started; a daemon someone else runs (e.g. the system's, in /tmp/nvidia-mps) is never
  addressed, let alone stopped. The GPU's compute mode is left as it is (no `nvidia-smi -c`).
- The workers: one child process each (subprocess + two pipes; the MPS variables are in its environment from the
  start, so they are set before CUDA initialises). A child connects (CUDA init), builds its model, captures one graph
  on an ordinary stream (the executor's whole mode), signals ready, runs the closed loop between the parent's start
  and stop messages (or, given a schedule, its arrivals and busy periods from the origin the start message names:
  arrivals.py), and sends back its raw request times. The parent keeps the NVML energy counter and the window.
- `mps` caps each process with CUDA_MPS_ACTIVE_THREAD_PERCENTAGE (its model-wise partition: sms / smCount × 100,
  rounded up); `mps-unlimited` sets no cap.
- Hardware work queues: the clients of one MPS server share one pool of connections, and each owns the ones it
  asked for (CUDA_DEVICE_MAX_CONNECTIONS); once the pool is spent, the next client's context creation fails (the
  runtime reports it as "out of memory"). The backend runs with 32 queues, which a client would inherit and which
  spend the pool after a few clients: so each client asks for its share of a budget (`client_connections`), never
  more than the backend runs with. (A worker process runs one stream: it has no other streams to keep apart.)
- A CUDA client that cannot reach the daemon silently runs *without* MPS (the driver falls back), so after the
  children connect the parent asks the daemon for its server's clients and refuses a run whose workers are not
  among them. Anything that keeps MPS from working raises MpsUnavailable with the reason (and the tails of the
  daemon's and the server's logs: the server logs why a client was refused). A run that fails so is tried once
  more with a fresh daemon (stopped, then started again in new folders), its clients at MPS's default of 2
  connections; if that fails too the bench records the run as failed, says why, and goes on with the other
  policies.
- A daemon whose backend was killed (SIGKILL runs no atexit: a hung backend, or the bench's own exit on Ctrl-C or
  SIGTERM) is stopped by its watcher: a small process of its own session, started with the daemon, that looks at
  the owner twice a second and, once it is gone, stops the daemon as its own stop would (`watch`), then exits. The
  owner's own stop ends its watcher; a watcher that died before is said on stderr then. Should the watcher be gone
  too, the next MPS run on this machine reaps the daemon: each daemon's folder names the process that started it
  (`owner`) and its watcher (`watcher`), and a folder whose owner is gone is reaped (`reap_orphans`), once its
  watcher, if at work, has had some seconds to finish. Both send the documented `quit` on that folder's pipe, never
  anything by process name.

Request times are CLOCK_MONOTONIC nanoseconds (time.monotonic_ns), one clock for every process on the machine.
This module imports no torch at module level: the parent side (daemon, processes) is tested without a GPU.
"""

from __future__ import annotations

import atexit
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from . import zoo
from .arrivals import LEAD_NS, sleep_until, run_schedule
from .cuda import BackendError
from .execute import prepare_worker

CONTROL = "nvidia-cuda-mps-control"
PACKAGE_PARENT = str(Path(__file__).resolve().parents[1])  # gpu/, so a child can import eclip_gpu
OWNER = "owner"  # in a daemon's folder: "<pid> <start time>" of the process that started it
WATCHER = "watcher"  # in a daemon's folder: "<pid> <start time>" of its watcher, written by the watcher itself
WATCHER_LOG = "watcher.log"  # the watcher's stderr, in the daemon's folder
WATCHER_WAIT_S = 10  # how long a reaper gives a watcher at work to stop its daemon (it takes seconds)
WATCH_POLL_S = 0.5  # how often a daemon's watcher looks at its owner

# The connections (hardware work queues) the clients of one MPS server may ask for together. NVIDIA documents 60
# clients per server at MPS's default of 2 connections each, and that a client asking for more leaves room for
# fewer; the budget stays below that pool, with room for whatever the server keeps for itself.
CONNECTION_BUDGET = 96
MPS_DEFAULT_CONNECTIONS = 2
DRIVER_DEFAULT_CONNECTIONS = 8  # without CUDA_DEVICE_MAX_CONNECTIONS


class MpsUnavailable(BackendError):
    """MPS cannot run here (no control binary, the daemon does not start, a worker cannot become its client).
    `retry`: whether a fresh daemon might do better (not when the control program is missing)."""

    def __init__(self, reason: str, retry: bool = True):
        super().__init__(f"MPS unavailable on this machine, policy skipped: {reason}")
        self.reason = reason
        self.retry = retry


def thread_percentage(sms: int, sm_count: int) -> int:
    """CUDA_MPS_ACTIVE_THREAD_PERCENTAGE for a worker of `sms` SMs: rounded up, so the cap never falls below the
    partition the model-wise plan chose (at most one SM more, as the driver rounds the percentage to SMs)."""
    if sm_count <= 0 or sms <= 0:
        raise ValueError(f"thread_percentage: need sms > 0 and sm_count > 0, got {sms}, {sm_count}")
    # integer arithmetic: 64 / 132 * 100 must round to 49, not to 48.99999 + 1
    return max(1, min(100, math.ceil(sms * 100 / sm_count)))


def client_connections(n_clients: int, asked: int | str | None, budget: int = CONNECTION_BUDGET) -> int:
    """CUDA_DEVICE_MAX_CONNECTIONS for each of `n_clients` clients of one MPS server: what the backend runs with
    (`asked`; the driver's default when unset or unreadable), cut to an equal share of `budget`, at least 1."""
    try:
        want = int(asked) if asked is not None else DRIVER_DEFAULT_CONNECTIONS
    except ValueError:
        want = DRIVER_DEFAULT_CONNECTIONS
    if want <= 0:
        want = DRIVER_DEFAULT_CONNECTIONS
    return max(1, min(want, budget // max(1, n_clients)))


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22): with the pid, who it is even
    after the pid was reused. None if it is gone (or not Linux)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2:].split()[19]
    except (OSError, ValueError, IndexError):
        return None


def _this_process() -> str:
    """"<pid> <start time>" of this process, as a daemon's folder names its owner and its watcher."""
    return f"{os.getpid()} {_start_time(os.getpid()) or '?'}\n"


def _with_package(pythonpath: str | None) -> str:
    """A PYTHONPATH under which a process we start (a worker, the watcher) can import eclip_gpu."""
    return os.pathsep.join(p for p in (PACKAGE_PARENT, pythonpath) if p)


def _pid_alive(pid: int) -> bool:
    """Running (a zombie nobody has reaped yet counts as gone: in a container PID 1 may never reap it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2] not in "ZX"
    except (OSError, ValueError, IndexError):
        return True


def _is_mps_program(pid: int) -> bool:
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
    except OSError:
        return False
    return os.path.basename(argv0).startswith(b"nvidia-cuda-mps")


def _tail(path: Path, n: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-n:].strip()
    except OSError:
        return ""


class MpsDaemon:
    """One MPS control daemon of our own, in a fresh temporary directory. Use as a context manager (stop always runs);
    `stop` is idempotent and also registered with atexit while the daemon runs."""

    def __init__(self, binary: str | None = None, base_env: dict | None = None, start_timeout_s: float = 20,
                 watch: bool = True):
        self.binary = binary
        self.watch = watch  # start a watcher that stops the daemon should this process die without stopping it
        self.watcher: subprocess.Popen | None = None
        self.base_env = dict(os.environ if base_env is None else base_env)
        self.start_timeout_s = start_timeout_s
        self.dir: Path | None = None
        self.pipe_dir: Path | None = None
        self.log_dir: Path | None = None
        self.started = False
        self.pids: list[int] = []  # our daemon's processes, found by our pipe folder in their environment

    # --- environment -----------------------------------------------------------------------------------------
    def env(self, percentage: int | None = None) -> dict:
        """The environment of a process that should talk to our daemon (and to no other)."""
        if self.pipe_dir is None:
            raise RuntimeError("MPS daemon not started")
        env = dict(self.base_env)
        env["CUDA_MPS_PIPE_DIRECTORY"] = str(self.pipe_dir)
        env["CUDA_MPS_LOG_DIRECTORY"] = str(self.log_dir)
        # an inherited percentage would silently cap an mps-unlimited worker
        env.pop("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", None)
        if percentage is not None:
            env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] = str(int(percentage))
        return env

    def control(self, command: str, timeout_s: float = 20) -> subprocess.CompletedProcess:
        """One command to our daemon (`echo COMMAND | nvidia-cuda-mps-control`, with our pipe folder)."""
        return subprocess.run([self.binary], input=command + "\n", env=self.env(), capture_output=True,
                              text=True, timeout=timeout_s, check=False)

    def client_env(self, percentage: int | None, connections: int | None = None) -> dict:
        """The environment of a worker process: env(percentage), its share of the server's connections, and no
        CUDA_VISIBLE_DEVICES: the server sees the daemon's devices already, renumbered from 0, and a client that
        applied an index again would look for a device the server does not have (NVIDIA's MPS documentation)."""
        env = self.env(percentage)
        if connections is not None:
            env["CUDA_DEVICE_MAX_CONNECTIONS"] = str(int(connections))
        env.pop("CUDA_VISIBLE_DEVICES", None)
        return env

    def log_tail(self) -> str:
        """The ends of the daemon's log and of its server's: the server's says why it refused a client, the daemon's
        only that the client came ("Server already exists" is the normal line for a second client)."""
        if not self.log_dir:
            return ""
        tails = [(name, _tail(self.log_dir / name, 1000)) for name in ("control.log", "server.log")]
        return " | ".join(f"{name}: {t}" for name, t in tails if t)

    # --- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> MpsDaemon:
        found = self.binary or shutil.which(CONTROL, path=self.base_env.get("PATH"))
        if not found:
            raise MpsUnavailable(f"{CONTROL} not found on PATH (MPS ships with the NVIDIA driver's CUDA utilities)",
                                 retry=False)
        self.binary = found
        self.dir = Path(tempfile.mkdtemp(prefix="eclip-mps-"))
        # who started this daemon: should we die without stopping it, the next MPS run reaps it (reap_orphans)
        (self.dir / OWNER).write_text(_this_process())
        self.pipe_dir = self.dir / "pipe"
        self.log_dir = self.dir / "log"
        self.pipe_dir.mkdir()
        self.log_dir.mkdir()
        # registered before the daemon exists: a backend that dies between here and the try/finally still stops it
        atexit.register(self.stop)
        if self.watch:
            self._start_watcher()
        try:
            r = subprocess.run([self.binary, "-d"], env=self.env(), capture_output=True, text=True,
                               timeout=self.start_timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            self.stop()
            raise MpsUnavailable(f"`{CONTROL} -d` failed: {e}") from e
        self.started = True  # from here on stop() sends quit: something may be listening on our pipe folder
        if r.returncode != 0:
            detail = (r.stderr or r.stdout or "").strip() or self.log_tail() or "no output"
            self.stop()
            raise MpsUnavailable(f"`{CONTROL} -d` exited with {r.returncode}: {detail}")
        # the daemon forks into the background: wait until it answers on our pipe folder
        deadline = time.monotonic() + self.start_timeout_s
        last = ""
        while True:
            try:
                q = self.control("get_server_list", timeout_s=5)
                if q.returncode == 0:
                    break
                last = (q.stderr or q.stdout or "").strip()
            except subprocess.TimeoutExpired:
                last = "no answer within 5 s"
            if time.monotonic() > deadline:
                detail = last or self.log_tail() or "no output"
                self.stop()
                raise MpsUnavailable(
                    f"the MPS control daemon did not come up in {self.start_timeout_s:.0f} s: {detail}")
            time.sleep(0.1)
        self.pids = self._own_processes()
        return self

    def _start_watcher(self) -> None:
        """The watcher (`python -m eclip_gpu.mps watch FOLDER BINARY`): in a session of its own, so the Ctrl-C that
        reaches this process group does not end it first, and holding none of our pipes open. A watcher that cannot
        start leaves the next run's reaping, said on stderr."""
        env = dict(self.base_env)
        env["PYTHONPATH"] = _with_package(env.get("PYTHONPATH"))
        try:
            with open(self.dir / WATCHER_LOG, "wb") as log:
                self.watcher = subprocess.Popen(
                    [sys.executable, "-m", "eclip_gpu.mps", "watch", str(self.dir), str(self.binary)], env=env,
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        except OSError as e:
            print(f"eclip: MPS daemon watcher did not start ({e}); should this backend be killed, the next MPS run "
                  "stops its daemon", file=sys.stderr)

    def _own_processes(self) -> list[int]:
        """PIDs of MPS processes (control daemon, server) whose environment names our pipe folder: ours, never
        anybody else's. Linux /proc; empty elsewhere."""
        if self.pipe_dir is None:
            return []
        needle = f"CUDA_MPS_PIPE_DIRECTORY={self.pipe_dir}".encode()
        out = []
        for d in Path("/proc").glob("[0-9]*"):
            try:
                if _is_mps_program(int(d.name)) and needle in (d / "environ").read_bytes().split(b"\0"):
                    out.append(int(d.name))
            except (OSError, ValueError):
                continue
        return sorted(out)

    def _servers(self) -> list[int]:
        """Our daemon's MPS servers (its own answer, so ours), in case they do not carry our pipe folder in their
        environment; only PIDs that are MPS programs, should the answer be stale."""
        try:
            r = self.control("get_server_list", timeout_s=5)
        except (OSError, subprocess.TimeoutExpired):
            return []
        return [int(x) for x in r.stdout.split() if x.isdigit() and _is_mps_program(int(x))]

    def alive(self) -> bool:
        """Whether any process of our daemon is still running."""
        return any(_pid_alive(p) for p in set(self.pids) | set(self._own_processes()))

    def stop(self, timeout_s: float = 20) -> None:
        """Quits our daemon (idempotent) and removes its folders. Waits for its processes to end; one still there
        after `timeout_s` is sent SIGTERM — only processes that carry our own pipe folder."""
        if self.dir is None:
            return
        try:
            if self.started:
                pids = set(self.pids) | set(self._own_processes()) | set(self._servers())
                try:
                    self.control("quit", timeout_s=timeout_s)
                except (OSError, subprocess.TimeoutExpired):
                    pass
                deadline = time.monotonic() + timeout_s
                while any(_pid_alive(p) for p in pids) and time.monotonic() < deadline:
                    time.sleep(0.05)
                # looked for again: a daemon still forking when the list above was made is in it now, given a moment
                # to quit as the others were
                late = set(self._own_processes()) - pids
                deadline = time.monotonic() + (2 if late else 0)
                while any(_pid_alive(p) for p in late) and time.monotonic() < deadline:
                    time.sleep(0.05)
                for p in pids | late:
                    if _pid_alive(p):
                        try:
                            os.kill(p, signal.SIGTERM)
                        except OSError:
                            pass
        finally:
            self.started = False
            self._check_watcher()
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
            atexit.unregister(self.stop)
            self._end_watcher()

    def _check_watcher(self) -> None:
        """A watcher that ended while its owner lived failed (it ends only when the owner or the folder is gone): said
        on stderr with the end of its log, as this daemon ran unwatched."""
        w = self.watcher
        if w is None or w.poll() is None or self.dir is None:
            return
        log = _tail(self.dir / WATCHER_LOG, 600)
        print(f"eclip: the MPS daemon's watcher had ended (exit {w.returncode}): had this backend been killed, its "
              f"daemon would have waited for the next MPS run{': ' + log if log else ''}", file=sys.stderr)

    def _end_watcher(self) -> None:
        """The folder is gone, so the watcher has nothing left to watch: ended now (and reaped) rather than at its
        next poll."""
        w, self.watcher = self.watcher, None
        if w is None:
            return
        try:
            w.terminate()
            w.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass

    def clients(self) -> tuple[list[int], list[int]]:
        """(server PIDs, client PIDs) as our daemon reports them."""
        servers = [int(x) for x in self.control("get_server_list").stdout.split() if x.strip().isdigit()]
        clients: list[int] = []
        for s in servers:
            r = self.control(f"get_client_list {s}")
            clients += [int(x) for x in r.stdout.split() if x.strip().isdigit()]
        return servers, clients

    def __enter__(self) -> MpsDaemon:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _owner_alive(owner: list[str]) -> bool:
    """Whether the process an owner file names ("<pid> <start time>") still runs: the same pid started at the same
    time (a reused pid is somebody else). An owner file we cannot read counts as alive: not ours to judge."""
    try:
        pid = int(owner[0])
    except (IndexError, ValueError):
        return True
    if not _pid_alive(pid):
        return False
    started = owner[1] if len(owner) > 1 else "?"
    return started == "?" or _start_time(pid) in (None, started)


def reap_orphans(binary: str | None = None, base: str | Path | None = None, timeout_s: float = 20,
                 watcher_wait_s: float = WATCHER_WAIT_S) -> list[str]:
    """Stops the daemons that backends killed before they could stop them left behind, and removes their folders:
    every eclip-mps-* folder in the temporary directory whose owner process is gone. Returns the folders reaped.
    A folder whose watcher is at work is given up to `watcher_wait_s` to be gone (its watcher stopping the daemon),
    then reaped all the same should it still be there (a watcher stuck). A folder whose owner still runs (another
    backend, running now) or that names no owner is left alone, and nothing is sent anywhere but to that folder's own
    pipe, as its own daemon's stop would."""
    found = binary or shutil.which(CONTROL)
    if not found:
        return []  # without the control program no daemon can be running, nor be asked to quit
    reaped = []
    for d in sorted(Path(base or tempfile.gettempdir()).glob("eclip-mps-*")):
        try:
            owner = (d / OWNER).read_text().split()
        except OSError:
            continue
        if _owner_alive(owner):
            continue
        deadline = time.monotonic() + watcher_wait_s
        while _watcher_at_work(d) and d.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        if not d.exists():
            continue  # its watcher stopped it
        _stop_folder(d, found, timeout_s)
        reaped.append(str(d))
    return reaped


def _watcher_at_work(folder: Path) -> bool:
    """Whether the folder's watcher still runs (then it is stopping the daemon, or about to): a reaper waits for it."""
    try:
        who = (folder / WATCHER).read_text().split()
    except OSError:
        return False
    return bool(who) and _owner_alive(who)


def _stop_folder(folder: Path, binary: str, timeout_s: float = 20) -> None:
    """Stops the daemon of `folder` as its own MpsDaemon.stop would (quit on its pipe, then its processes waited
    for) and removes the folder."""
    orphan = MpsDaemon(binary=binary, watch=False)
    orphan.dir, orphan.pipe_dir, orphan.log_dir = folder, folder / "pipe", folder / "log"
    orphan.started = True  # so stop() sends quit to its pipe and waits for its processes
    orphan.stop(timeout_s)


def watch(folder: str | Path, binary: str, poll_s: float = WATCH_POLL_S) -> bool:
    """The watcher's loop: until `folder` is gone (its daemon stopped by its owner), look at the owner every
    `poll_s`; once the owner is gone, stop the daemon and remove the folder. Returns whether it stopped one."""
    folder = Path(folder)
    try:
        owner = (folder / OWNER).read_text().split()
        (folder / WATCHER).write_text(_this_process())
    except OSError:
        return False
    while folder.exists():
        if not _owner_alive(owner):
            _stop_folder(folder, binary)
            return True
        time.sleep(poll_s)
    return False


# --- worker processes ------------------------------------------------------------------------------------------

CHILD_ARGV = [sys.executable, "-m", "eclip_gpu.mps", "child"]


@dataclass
class WorkerProcess:
    """One worker in its own process; messages are pickled over two pipes (the child is our own code)."""

    name: str
    proc: subprocess.Popen
    to_child: Connection
    from_child: Connection
    percentage: int | None
    pending: list = field(default_factory=list)

    @classmethod
    def spawn(cls, cfg: dict, env: dict, percentage: int | None, argv: list[str] | None = None) -> WorkerProcess:
        r1, w1 = os.pipe()  # parent -> child
        r2, w2 = os.pipe()  # child -> parent
        env = dict(env)
        env["PYTHONPATH"] = _with_package(env.get("PYTHONPATH"))
        try:
            proc = subprocess.Popen([*(argv or CHILD_ARGV), str(r1), str(w2)], env=env, pass_fds=(r1, w2),
                                    stdin=subprocess.DEVNULL)
        except OSError:
            for fd in (r1, w1, r2, w2):
                os.close(fd)
            raise
        os.close(r1)
        os.close(w2)
        wp = cls(cfg["name"], proc, Connection(w1, readable=False), Connection(r2, writable=False), percentage)
        wp.to_child.send(cfg)
        return wp

    def send(self, msg: dict) -> None:
        try:
            self.to_child.send(msg)
        except (OSError, EOFError):
            pass  # a child that died is reported by expect()

    def expect(self, kind: str, timeout_s: float) -> dict:
        """The child's next message, which must be `kind`; its error, exit or silence raise ChildFailed."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChildFailed(self.name, "", f"no '{kind}' within {timeout_s:.0f} s")
            try:
                if self.from_child.poll(min(left, 0.5)):
                    msg = self.from_child.recv()
                    break
            except (EOFError, OSError):
                try:
                    code = self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    code = "still running"
                raise ChildFailed(self.name, "", f"the worker process exited (code {code}) before '{kind}'") from None
        if msg.get("type") == "error":
            raise ChildFailed(self.name, msg.get("stage", ""), msg.get("message", "?"), msg.get("trace", ""))
        if msg.get("type") != kind:
            raise ChildFailed(self.name, "", f"expected '{kind}', got {msg.get('type')!r}")
        return msg

    def close(self, timeout_s: float = 15) -> None:
        """Ends the child: asks it to quit, then SIGTERM, then SIGKILL; its pipes are closed either way."""
        self.send({"type": "quit"})
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for c in (self.to_child, self.from_child):
            try:
                c.close()
            except OSError:
                pass


class ChildFailed(BackendError):
    def __init__(self, name: str, stage: str, message: str, trace: str = ""):
        super().__init__(f"{name}: {message}")
        self.name, self.stage, self.message, self.trace = name, stage, message, trace


def run_mps(workers: list[dict], percentages: list[int | None], warmup_s: float, window_s: float, energy=None,
            progress=lambda m: None, child_argv: list[str] | None = None, control_binary: str | None = None,
            ready_timeout_s: float = 420, schedules: list[dict] | None = None) -> dict:
    """One closed-loop run with every worker in its own MPS client process. `workers`: {name, model, batch, dtype,
    fingerprint}; `percentages`: each worker's active-thread cap, None for none; `schedules`: each worker's arrivals
    or busy periods (arrivals.py), None for the closed loop. Returns closed_loop's raw shape (windowStartNs,
    windowEndNs, energyJ, workers: [{name, startsNs, endsNs}]) plus `notes`, and with schedules `originNs` and each
    worker's `arrivalsNs`. The daemon and the children are gone when this returns or raises.

    Daemons that killed backends left are stopped first (reap_orphans). A run MPS refuses (MpsUnavailable, but for
    a missing control program) is tried once more with a fresh daemon — the first one stopped, new folders — and
    its clients at MPS's default connections; a second refusal raises, naming both reasons."""
    if schedules is not None and len(schedules) != len(workers):
        raise BackendError(f"{len(schedules)} arrival schedules for {len(workers)} workers")
    for d in reap_orphans(control_binary):
        progress(f"mps: stopped the MPS daemon a killed backend left in {d}")
    asked = os.environ.get("CUDA_DEVICE_MAX_CONNECTIONS")
    connections = client_connections(len(workers), asked)
    args = (workers, percentages, warmup_s, window_s, energy, progress, child_argv, control_binary, ready_timeout_s,
            schedules)
    try:
        return _run_once(*args, connections, asked)
    except MpsUnavailable as e:
        if not e.retry:
            raise
        first = e.reason
    progress(f"mps: {first}; trying once more with a fresh daemon")
    try:
        raw = _run_once(*args, min(connections, MPS_DEFAULT_CONNECTIONS), asked)
    except MpsUnavailable as e:
        raise MpsUnavailable(f"{e.reason} (at the retry with a fresh daemon; the first try: {first})",
                             retry=False) from e
    raw["notes"].insert(0, f"the first try failed ({first}); measured at the retry, with a fresh MPS daemon")
    return raw


def _run_once(workers, percentages, warmup_s, window_s, energy, progress, child_argv, control_binary,
              ready_timeout_s, schedules, connections: int, asked: str | None) -> dict:
    """run_mps's one try: a daemon of its own, the workers as its clients at `connections` each, the window."""
    notes: list[str] = [f"MPS clients: CUDA_DEVICE_MAX_CONNECTIONS {connections} each "
                        f"(the backend's: {asked or f'driver default, {DRIVER_DEFAULT_CONNECTIONS}'}; "
                        f"{len(workers)} clients share one server's pool of connections)"]
    limit = os.environ.get("CUDA_MPS_PINNED_DEVICE_MEM_LIMIT")
    if limit:
        notes.append(f"CUDA_MPS_PINNED_DEVICE_MEM_LIMIT={limit} from the environment caps each client's memory")
    procs: list[WorkerProcess] = []
    daemon = MpsDaemon(binary=control_binary)
    with daemon:
        progress(f"mps: control daemon up in {daemon.dir}")
        try:
            for i, (cfg, pct) in enumerate(zip(workers, percentages)):
                if schedules is not None:
                    cfg = {**cfg, "schedule": schedules[i]}
                procs.append(WorkerProcess.spawn(cfg, daemon.client_env(pct, connections), pct, child_argv))
            try:
                connected = {p.name: p.expect("connected", 120)["pid"] for p in procs}
            except ChildFailed as e:
                log = daemon.log_tail()
                raise MpsUnavailable(f"worker {e.name} could not start CUDA under MPS: {e.message}"
                                     + (f" (MPS logs: {log})" if log else "")) from e
            _check_clients(daemon, connected, notes)
            ready = [p.expect("ready", ready_timeout_s) for p in procs]
            # under a cap cuBLAS/cuDNN see fewer SMs and may pick other kernels than the profile's: say what each ran
            notes.append("MPS clients' captured kernels per request: "
                         + ", ".join(f"{p.name} {r.get('kernels', '?')}" for p, r in zip(procs, ready)))
            progress(f"mps: {len(procs)} worker processes captured, "
                     + ", ".join(f"{p.name} {'no cap' if p.percentage is None else f'{p.percentage}%'}" for p in procs))
            # the schedules' time 0, a little ahead so that every child has the message before its first arrival
            origin = time.monotonic_ns() + LEAD_NS
            end = origin + int((warmup_s + window_s) * 1e9)
            for p in procs:
                p.send({"type": "start", "originNs": origin, "endNs": end})
            if schedules is not None:
                sleep_until(origin + int(warmup_s * 1e9), time.monotonic_ns)
            else:
                time.sleep(warmup_s)
            e0 = energy.read_mj() if energy else None
            w0 = time.monotonic_ns()
            if schedules is not None:
                sleep_until(end, time.monotonic_ns)
            else:
                time.sleep(window_s)
            w1 = time.monotonic_ns()
            e1 = energy.read_mj() if energy else None
            for p in procs:
                p.send({"type": "stop"})
            times = [p.expect("times", 120) for p in procs]
        finally:
            for p in procs:
                p.close()
    pids, pipe_dir = daemon.pids, daemon.pipe_dir
    if daemon.alive():
        notes.append("MPS control daemon still running after quit + SIGTERM (pids "
                     f"{daemon.pids}); stop it with CUDA_MPS_PIPE_DIRECTORY=<its pipe dir> and `echo quit | {CONTROL}`")
    return {
        **({"originNs": origin} if schedules is not None else {}),
        "windowStartNs": w0,
        "windowEndNs": w1,
        "energyJ": (e1 - e0) / 1e3 if energy else None,
        "workers": [{"name": p.name, "startsNs": t["startsNs"], "endsNs": t["endsNs"],
                     **({"arrivalsNs": t["arrivalsNs"]} if "arrivalsNs" in t else {})} for p, t in zip(procs, times)],
        "notes": notes,
        # for the GPU test: the daemon's processes and pipe folder, to check that nothing of it is left
        "daemonPids": pids,
        "pipeDir": str(pipe_dir),
    }


def plan_percentages(plan: dict, policy: str | None = None) -> list[int | None]:
    """Per plan worker, its CUDA_MPS_ACTIVE_THREAD_PERCENTAGE: from its (model-wise) partition under `mps`, None
    (no cap) under `mps-unlimited`."""
    policy = policy or plan["policy"]
    if policy == "mps-unlimited":
        return [None for _ in plan["workers"]]
    if policy != "mps":
        raise ValueError(f"not an MPS policy: {policy!r}")
    sms = {p["id"]: p["sms"] for p in plan["pool"]["partitions"]}
    sm_count = plan["gpu"]["smCount"]
    out = []
    for w in plan["workers"]:
        parts = {g["partition"] for g in w["groups"]}
        if len(parts) != 1:
            raise BackendError(f"{w['name']}: an mps plan gives a worker one partition (a model-wise plan), "
                               f"this one has {len(parts)}")
        out.append(thread_percentage(sms[parts.pop()], sm_count))
    return out


def _check_clients(daemon: MpsDaemon, connected: dict[str, int], notes: list[str]) -> None:
    """Every worker must be a client of our MPS server; one that is not runs without MPS (the driver's fallback)."""
    try:
        servers, clients = daemon.clients()
    except (OSError, subprocess.TimeoutExpired) as e:
        raise MpsUnavailable(f"cannot ask the MPS daemon for its clients: {e}") from e
    if not servers:
        log = daemon.log_tail()
        raise MpsUnavailable("no MPS server was started for the workers: they would run without MPS"
                             + (f" (MPS logs: {log})" if log else ""))
    missing = [f"{n} (pid {pid})" for n, pid in connected.items() if pid not in clients]
    if missing:
        raise MpsUnavailable(f"not clients of our MPS server (pids {clients}): {', '.join(missing)}; "
                             "they would run without MPS")
    notes.append(f"MPS server {servers[0]}, clients {sorted(connected.values())}")


# --- the child -------------------------------------------------------------------------------------------------

def _child(fd_in: int, fd_out: int) -> int:
    """A worker process: connect (CUDA init), build + capture, ready, closed loop between start and stop, times."""
    inbox = Connection(fd_in, writable=False)
    outbox = Connection(fd_out, readable=False)
    stage = "config"
    try:
        cfg = inbox.recv()
        stage = "connect"
        import torch  # noqa: PLC0415 - CUDA must see the MPS variables, which are in our environment from exec

        torch.cuda.init()
        torch.zeros(1, device="cuda").add_(1)
        torch.cuda.synchronize()
        outbox.send({"type": "connected", "pid": os.getpid()})
        stage = "capture"
        built = zoo.build(cfg["model"], cfg["batch"], cfg["dtype"])
        origin = torch.cuda.Stream()
        # no fingerprint check: under an active-thread cap cuBLAS/cuDNN see fewer SMs and pick other kernels (an
        # H100 alexnet captured 36 kernels at 30% where the profile has 39); MPS runs the model whole, never by groups
        w = prepare_worker(cfg["name"], built, "whole", None, {}, origin, None)
        w.request().synchronize()  # the first replay pays for lazy loading; not part of the warm-up
        outbox.send({"type": "ready", "kernels": w.kernels})
        stage = "run"
        msg = inbox.recv()
        if msg.get("type") != "start":
            return 0
        stop = threading.Event()

        def listen():
            try:
                inbox.recv()
            except (EOFError, OSError):
                pass  # the parent went away: stop too
            stop.set()

        threading.Thread(target=listen, daemon=True).start()
        if cfg.get("schedule") is not None:
            # arrivals or busy periods from the parent's origin (one clock for every process: CLOCK_MONOTONIC)
            log = run_schedule(cfg["name"], w.request, cfg["schedule"], msg["originNs"], msg["endNs"], stop,
                               clock=time.monotonic_ns)
            torch.cuda.synchronize()
            outbox.send({"type": "times", "startsNs": log.starts_ns, "endsNs": log.ends_ns,
                         "arrivalsNs": log.arrivals_ns})
            return 0
        starts: list[int] = []
        ends: list[int] = []
        while not stop.is_set():
            t0 = time.monotonic_ns()
            w.request().synchronize()
            starts.append(t0)
            ends.append(time.monotonic_ns())
        torch.cuda.synchronize()
        outbox.send({"type": "times", "startsNs": starts, "endsNs": ends})
        return 0
    except BaseException as e:  # noqa: BLE001 - every failure goes to the parent, with the stage it happened in
        try:
            outbox.send({"type": "error", "stage": stage, "message": f"{type(e).__name__}: {e}",
                         "trace": traceback.format_exc(limit=6)})
        except (OSError, EOFError):
            pass
        return 1


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "child":
        sys.exit(_child(int(sys.argv[2]), int(sys.argv[3])))
    if len(sys.argv) == 4 and sys.argv[1] == "watch":
        watch(sys.argv[2], sys.argv[3])
        sys.exit(0)
    sys.exit("usage: python -m eclip_gpu.mps child FD_IN FD_OUT | watch FOLDER BINARY (started by the bench, not by "
             "hand)")
