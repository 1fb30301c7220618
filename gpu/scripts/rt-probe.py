"""Which mechanism keeps a real-time model near its latency alone beside best-effort models on one GPU (issue #20)?

Two DISB-like cases, every candidate run back to back in this one process, batch 1, fp16, each request one CUDA graph
captured with the backend's own code (partitions.py, execute.prepare_worker) and driven by its arrival loop
(arrivals.driven_loop: latency from the scheduled arrival):
  A  vgg19 real-time, uniform 100 req/s (a request every 10 ms from 0); resnet152 best-effort, closed loop
  C  the same real-time vgg19; resnet152, densenet201, vgg19, inceptionv3, distilbert best-effort, closed loops
Candidates (RT: the real-time worker; BE: the best-effort ones):
  alone        RT by itself on the whole GPU, an ordinary stream: the reference (bench's "real-time workers alone")
  baseline     every worker on the whole GPU, ordinary streams of one priority (what Triton does)
  partition    eclip-rt's first form: RT on a partition of its own (--rt-sms, the high slices), BE on the rest
  prio-launch  baseline, RT's graph (captured on a normal-priority stream) launched on a high-priority stream
  prio-stream  baseline, RT's graph captured and launched on a high-priority stream
  prio         the executor's form: every worker's graph captured onto a whole-GPU green context (graph mode, one
               group), RT's streams (its own and its green context's) at high priority
  prio-rN      prio, BE confined to a partition that leaves the top N SMs to RT alone (--reserve)
  switch       RT on its partition as `partition`; each BE request runs on the whole GPU when no RT request is in
               flight at its start, on the rest when one is (a plan per active set, as eclip-live switches)
  prio-hold    prio, and BE starts no request while an RT request is in flight
  gate-N       RT's graph on a high-priority ordinary stream between two stream writes that raise and lower a word in
               device memory; every BE graph captured with a stream wait on that word (== 0) before its first op and
               then every N graph nodes: while an RT request runs, BE work stops at its next gate on the GPU itself,
               with no host in the way and nothing to preempt (--gates)
  gate-tT      gate-N with N per BE model such that its gates are about T µs of its solo request apart (its kernels
               × T ÷ its solo latency; --gate-us, needs the solo runs)
prio-launch against prio-stream says whether a graph's kernels take the priority of the stream it is launched on or
of the one it was captured on. The table printed last gives, per case and candidate, RT mean and p99 against alone,
RT's host wait (start − arrival), overall req/s (DISB's overall throughput) against baseline, BE STP (Σ rate / solo
rate; solo runs first, each BE model alone) against baseline's, and the worst BE worker against its baseline rate.

    python3 gpu/scripts/rt-probe.py [--cases A,C] [--window 2.5] [--warmup 0.5] [--rt-sms 112] [--reserve 16,32]
        [--candidates ...] [--no-solo] [--budget-s 170] [--out DIR]       (GPU machine; writes DIR/rt-probe.json)
Sized for about 2 minutes with the defaults; no run starts after --budget-s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eclip_gpu import zoo  # noqa: E402
from eclip_gpu.arrivals import driven_loop  # noqa: E402
from eclip_gpu.capture import _op_hook_mode, captured_node_count  # noqa: E402
from eclip_gpu.cuda import check, driver, stream_mem_op, versions  # noqa: E402
from eclip_gpu.execute import op_kernel_starts, prepare_worker  # noqa: E402
from eclip_gpu.partitions import PartitionPool, ordinary_stream, read_layout  # noqa: E402

CASES = {
    "A": ("vgg19", ["resnet152"]),
    "C": ("vgg19", ["resnet152", "densenet201", "vgg19", "inceptionv3", "distilbert"]),
}
RT_RATE = 100.0
BASE = ["alone", "baseline", "partition", "prio-launch", "prio-stream", "prio"]
LAST = ["switch", "prio-hold"]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class RtActivity:
    """How many real-time requests are in flight (issued, not yet seen complete), for `switch` and `prio-hold`."""

    def __init__(self):
        self.n = 0
        self.cv = threading.Condition()

    def begin(self):
        with self.cv:
            self.n += 1

    def end(self):
        with self.cv:
            self.n -= 1
            if self.n == 0:
                self.cv.notify_all()

    def wait_idle(self):
        with self.cv:
            while self.n > 0:
                self.cv.wait(0.05)


class Gate:
    """One int32 word in device memory: RT requests set it to 1 while they run (stream writes around the graph), BE
    graphs wait for it to be 0 at their gates (stream waits captured into the graph)."""

    def __init__(self, torch):
        self.word = torch.zeros(1, dtype=torch.int32, device="cuda")
        self.ptr = driver().CUdeviceptr(self.word.data_ptr())


class GatedRt:
    """A real-time worker's requests under gate-N: write 1, the graph, write 0, the completion event, on one stream."""

    def __init__(self, name, graph, stream, gate: Gate, rt_state):
        import torch  # noqa: PLC0415

        self.name, self.graph, self.gate, self.rt_state = name, graph, gate, rt_state
        self.stream = int(stream.cuda_stream)
        self.done = torch.cuda.Event()
        self.done.record(stream)
        self.d = driver()
        self.write = stream_mem_op(self.d, "cuStreamWriteValue32")
        self.flags = self.d.CUstreamWriteValue_flags.CU_STREAM_WRITE_VALUE_DEFAULT

    def request(self):
        self.rt_state.begin()
        s = self.d.CUstream(self.stream)
        check(self.write(s, self.gate.ptr, 1, self.flags), f"{self.name}: raise the gate")
        check(self.d.cuGraphLaunch(self.graph, self.stream), f"{self.name}: cuGraphLaunch")
        check(self.write(s, self.gate.ptr, 0, self.flags), f"{self.name}: lower the gate")
        check(self.d.cuEventRecord(self.done.cuda_event, self.stream), f"{self.name}: cuEventRecord")
        return self

    def synchronize(self):
        self.done.synchronize()
        self.rt_state.end()


class Requests:
    """One worker's requests as driven_loop issues them: each a launch of one of `graphs` (an instantiated graph) and
    a completion event on `stream`, as the executor's request path does. A real-time worker counts itself in `rt`
    while a request is in flight; a best-effort one may `hold` while any is, or `choose` a graph by whether one is."""

    def __init__(self, name, graphs, stream, rt_state=None, is_rt=False, hold=False, choose=None):
        import torch  # noqa: PLC0415

        self.name = name
        self.graphs = graphs
        self.stream = int(stream.cuda_stream)
        self.done = torch.cuda.Event()
        self.done.record(stream)  # torch makes its cudaEvent_t at the first record
        self.rt_state, self.is_rt, self.hold, self.choose = rt_state, is_rt, hold, choose
        self.d = driver()

    def request(self):
        if self.hold:
            self.rt_state.wait_idle()
        graph = self.graphs[self.choose(self.rt_state.n > 0) if self.choose else 0]
        if self.is_rt:
            self.rt_state.begin()
        check(self.d.cuGraphLaunch(graph, self.stream), f"{self.name}: cuGraphLaunch")
        check(self.d.cuEventRecord(self.done.cuda_event, self.stream), f"{self.name}: cuEventRecord")
        return self if self.is_rt else self.done

    def synchronize(self):
        # a real-time request: done once its event is, then no longer in flight
        self.done.synchronize()
        self.rt_state.end()


class Worker:
    """A built model with its streams and its captures, made on first use and kept for every candidate."""

    def __init__(self, name: str, model: str, pool: PartitionPool):
        import torch  # noqa: PLC0415

        self.name, self.model, self.pool, self.torch = name, model, pool, torch
        self.built = zoo.build(model, 1, "fp16")
        self.origins = {lvl: ordinary_stream(lvl) for lvl in ("normal", "high")}
        self.warmed: set = set()
        self.dry = op_kernel_starts(self.built, self.origins["normal"], self.warmed)
        self.kernels = len(self.dry[1].kernels)
        self.captures: dict = {}

    def whole(self, level: str):
        """The whole request as one graph captured on an ordinary stream at `level` (baseline's capture)."""
        key = ("whole", level)
        if key not in self.captures:
            self.captures[key] = prepare_worker(self.name, self.built, "whole", None, {}, self.origins[level], None,
                                                warmed=self.warmed, dry_run=self.dry)
        return self.captures[key]

    def on(self, part, level: str):
        """One group on `part` (graph mode, as the executor runs a plan's group), its streams at `level`."""
        key = ("on", part.slices, level)
        if key not in self.captures:
            mine = self.pool.for_worker(part, self.name, level)
            groups = [{"first": 0, "last": self.kernels - 1, "partition": 0}]
            self.captures[key] = prepare_worker(self.name, self.built, "graph", groups, {0: mine}, self.origins[level],
                                                None, layout=self.pool.layout, warmed=self.warmed, dry_run=self.dry)
        return self.captures[key]

    def graph(self, execd):
        return execd.segments[0][0].raw_cuda_graph_exec()

    def gated(self, gate: Gate, every: int):
        """The whole request as one graph on the ordinary normal stream, as baseline's, with a wait on `gate` == 0
        captured before the first op and then before the first op at least `every` nodes after the last wait.
        Returns (graph exec, gates); checks once that its output equals the ungated graph's."""
        key = ("gated", every)
        if key in self.captures:
            return self.captures[key]
        torch, d = self.torch, driver()
        stream = self.origins["normal"]
        cu = d.CUstream(int(stream.cuda_stream))
        wait = stream_mem_op(d, "cuStreamWaitValue32")
        eq = d.CUstreamWaitValue_flags.CU_STREAM_WAIT_VALUE_EQ
        state = {"last": None, "gates": 0}

        def before(_op: int):
            n = captured_node_count(cu)
            if state["last"] is None or n - state["last"] >= every:
                check(wait(cu, gate.ptr, 0, eq), f"{self.name}: cuStreamWaitValue32 in capture")
                state["last"] = captured_node_count(cu)
                state["gates"] += 1

        g = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(g, stream=stream):
            with _op_hook_mode(before):
                out = self.built.forward()
        plain = self.whole("normal")
        with torch.inference_mode():
            g.replay()
            plain.segments[0][0].replay()
            torch.cuda.synchronize()
            same = torch.equal(out, plain.output)
        if not same:
            raise RuntimeError(f"{self.name}: the gated graph's output differs from the ungated graph's")
        self.captures[key] = (g, out, g.raw_cuda_graph_exec(), state["gates"])
        log(f"{self.name}: gated every {every} nodes: {state['gates']} gates, output equal to the ungated graph's")
        return self.captures[key]


def schedules_for(n_be: int, horizon_s: float, rt: bool = True) -> list[dict]:
    period_us = 1e6 / RT_RATE
    arrivals = [round(i * period_us, 1) for i in range(int(horizon_s * RT_RATE) + 1)]
    closed = {"kind": "closed", "periodsUs": [0.0, horizon_s * 1e6]}
    return ([{"kind": "open", "arrivalsUs": arrivals}] if rt else []) + [dict(closed) for _ in range(n_be)]


def measure(reqs: list[Requests], schedules: list[dict], warmup: float, window: float, torch) -> dict:
    raw = driven_loop(reqs, schedules, warmup, window, energy=None, synchronize=torch.cuda.synchronize)
    return summarise(raw, schedules)


def summarise(raw: dict, schedules: list[dict]) -> dict:
    """Per worker its completions per second in the window; for an open-loop (real-time) one also the latency from
    arrival of the requests that arrived in the window (mean, p99 by rank) and the mean host wait, start − arrival."""
    w0, w1 = raw["windowStartNs"], raw["windowEndNs"]
    span = (w1 - w0) / 1e9
    out = {"windowS": round(span, 3), "workers": []}
    for s, w in zip(schedules, raw["workers"]):
        ends = [e for e in w["endsNs"] if w0 <= e < w1]
        row = {"name": w["name"], "rate": len(ends) / span}
        if s["kind"] == "open":
            lat = [(e - a) / 1e6 for a, e in zip(w["arrivalsNs"], w["endsNs"]) if w0 <= a < w1]
            wait = [(st - a) / 1e3 for a, st in zip(w["arrivalsNs"], w["startsNs"]) if w0 <= a < w1]
            lat.sort()
            row.update(n=len(lat), meanMs=statistics.fmean(lat) if lat else None,
                       p99Ms=lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else None,
                       waitUs=statistics.fmean(wait) if wait else None)
        out["workers"].append(row)
    out["overall"] = sum(r["rate"] for r in out["workers"])
    return out


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="A,C")
    ap.add_argument("--window", type=float, default=2.5, help="steady window per run, s")
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--solo-window", type=float, default=1.5)
    ap.add_argument("--rt-sms", type=int, default=112, help="partition/switch: RT's own SMs (multiple of the slice)")
    ap.add_argument("--reserve", default="16,32", help="prio-rN: SMs kept free of BE work (multiples of the slice)")
    ap.add_argument("--gates", default="1,8", help="gate-N: a BE gate every N graph nodes")
    ap.add_argument("--gate-us", default="", help="gate-tT: BE gates about T µs of solo GPU time apart")
    ap.add_argument("--candidates", default="", help="comma-separated subset (default: all)")
    ap.add_argument("--no-solo", action="store_true", help="skip the BE solo runs (no STP)")
    ap.add_argument("--budget-s", type=float, default=170,
                    help="start no run after this many seconds from the start (the table says what was skipped)")
    ap.add_argument("--out", default="out/rt-probe")
    a = ap.parse_args()
    t_start = time.perf_counter()
    layout = read_layout()
    pool = PartitionPool(layout)
    n_reg = len(layout.groups)
    size = layout.min_size
    v = versions()
    log(f"{v['gpu']}, driver {v['driver']}, CUDA {v['cuda']}, torch {v['torch']}; {layout.sm_count} SMs, "
        f"{n_reg} slices of {size} + {layout.remainder_sms}; CUDA_DEVICE_MAX_CONNECTIONS {v['cudaDeviceMaxConnections']}")
    whole = pool.whole()
    k = a.rt_sms // size
    rt_part = pool.create(range(n_reg - k, n_reg))
    rest = pool.create([*range(0, n_reg - k), *([n_reg] if layout.remainder_sms else [])])
    reserves = [int(x) for x in a.reserve.split(",") if x]
    be_part = {}
    for r in reserves:
        keep = n_reg - r // size
        be_part[r] = pool.create([*range(0, keep), *([n_reg] if layout.remainder_sms else [])])
    gates = [int(x) for x in a.gates.split(",") if x]
    cands = BASE + [f"prio-r{r}" for r in reserves] + LAST + [f"gate-{n}" for n in gates]
    cands += [f"gate-t{t}" for t in a.gate_us.split(",") if t]
    if a.candidates:
        want = a.candidates.split(",")
        unknown = [c for c in want if c not in cands]
        if unknown:
            raise SystemExit(f"--candidates: unknown {unknown} (known: {', '.join(cands)})")
        cands = [c for c in cands if c in want or c in ("alone", "baseline")]
    log(f"partitions: RT's own {rt_part.sms} SMs (slices {rt_part.slices[0]}–{rt_part.slices[-1]}), the rest "
        f"{rest.sms}; BE with reserves {', '.join(f'{r}: {p.sms} SMs' for r, p in be_part.items())}")

    workers: dict[str, Worker] = {}
    gate = Gate(torch)

    def worker(name: str, model: str) -> Worker:
        if name not in workers:
            t = time.perf_counter()
            workers[name] = Worker(name, model, pool)
            log(f"built {name} ({workers[name].kernels} kernels) in {time.perf_counter() - t:.1f} s")
        return workers[name]

    results: dict = {"gpu": v, "args": vars(a), "cases": {}, "solo": {}}
    rows = []
    horizon = a.warmup + a.window + 0.5
    try:
        for case in a.cases.split(","):
            rt_model, be_models = CASES[case]
            rt = worker(f"rt:{rt_model}", rt_model)
            bes = [worker(f"be:{m}", m) for m in be_models]
            if not a.no_solo:
                for b in bes:
                    if b.name not in results["solo"]:
                        m = measure([Requests(b.name, [b.graph(b.whole("normal"))], b.origins["normal"])],
                                    schedules_for(1, horizon, rt=False), a.warmup, a.solo_window, torch)
                        results["solo"][b.name] = m["workers"][0]["rate"]
                        log(f"solo {b.name}: {results['solo'][b.name]:.1f} req/s")
            got = {}
            for cand in cands:
                if time.perf_counter() - t_start > a.budget_s:
                    log(f"{case} {cand}: skipped, past the {a.budget_s:g}-s budget")
                    results.setdefault("skipped", []).append(f"{case} {cand}")
                    continue
                t = time.perf_counter()
                state = RtActivity()
                reqs = build_candidate(cand, rt, bes, state, whole, rt_part, rest, be_part, gate, results["solo"])
                sched = schedules_for(len(reqs) - 1, horizon)
                got[cand] = measure(reqs, sched, a.warmup, a.window, torch)
                r0 = got[cand]["workers"][0]
                log(f"{case} {cand}: RT mean {r0['meanMs']:.3f} ms, p99 {r0['p99Ms']:.3f} ms ({r0['n']} requests), "
                    f"overall {got[cand]['overall']:.1f} req/s ({time.perf_counter() - t:.1f} s)")
            results["cases"][case] = got
            if "alone" in got and "baseline" in got:
                rows += table_rows(case, got, results["solo"], [b.name for b in bes])
    except BaseException:  # noqa: BLE001 - what was measured is still written and printed
        rc = 1
        traceback.print_exc()
    else:
        rc = 0
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    results["wallS"] = round(time.perf_counter() - t_start, 1)
    (out / "rt-probe.json").write_text(json.dumps(results, indent=1) + "\n")
    log(f"wrote {out / 'rt-probe.json'} after {results['wallS']} s")
    print_table(rows, a)
    if results.get("skipped"):
        print(f"skipped (budget): {', '.join(results['skipped'])}")
    # exit without tearing down: graphs must die before the green contexts they run on (docs/design.md §8), and the
    # captures are still referenced here; the driver frees everything with the process
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


def build_candidate(cand, rt: Worker, bes: list[Worker], state, whole, rt_part, rest, be_part, gate, solo) -> list:
    """The workers' requests under one candidate (RT first)."""
    def rt_req(execd, level):
        return Requests(rt.name, [rt.graph(execd)], rt.origins[level], state, is_rt=True)

    def be_on(part=None, **kw):
        out = []
        for b in bes:
            execd = b.on(part, "normal") if part is not None else b.whole("normal")
            out.append(Requests(b.name, [b.graph(execd)], b.origins["normal"], state, **kw))
        return out

    if cand == "alone":
        return [rt_req(rt.whole("normal"), "normal")]
    if cand == "baseline":
        return [rt_req(rt.whole("normal"), "normal"), *be_on()]
    if cand == "partition":
        return [rt_req(rt.on(rt_part, "normal"), "normal"), *be_on(rest)]
    if cand == "prio-launch":
        # captured on the normal stream, launched on the high one
        return [rt_req(rt.whole("normal"), "high"), *be_on()]
    if cand == "prio-stream":
        return [rt_req(rt.whole("high"), "high"), *be_on()]
    if cand == "prio":
        return [rt_req(rt.on(whole, "high"), "high"), *be_on(whole)]
    if cand.startswith("prio-r"):
        return [rt_req(rt.on(whole, "high"), "high"), *be_on(be_part[int(cand[len("prio-r"):])])]
    if cand == "prio-hold":
        return [rt_req(rt.on(whole, "high"), "high"), *be_on(whole, hold=True)]
    if cand.startswith("gate-"):
        arg = cand[len("gate-"):]
        out = [GatedRt(rt.name, rt.graph(rt.whole("high")), rt.origins["high"], gate, state)]
        for b in bes:
            if arg.startswith("t"):
                every = max(1, round(float(arg[1:]) * b.kernels * solo[b.name] / 1e6))
            else:
                every = int(arg)
            out.append(Requests(b.name, [b.gated(gate, every)[2]], b.origins["normal"], state))
        return out
    if cand == "switch":
        out = [rt_req(rt.on(rt_part, "normal"), "normal")]
        for b in bes:
            graphs = [b.graph(b.on(whole, "normal")), b.graph(b.on(rest, "normal"))]
            out.append(Requests(b.name, graphs, b.origins["normal"], state, choose=lambda busy: 1 if busy else 0))
        return out
    raise ValueError(cand)


def table_rows(case: str, got: dict, solo: dict, be_names: list[str]) -> list[list[str]]:
    alone = got["alone"]["workers"][0]
    base = got["baseline"]
    base_be = {w["name"]: w["rate"] for w in base["workers"][1:]}

    def stp(run):
        if not solo:
            return None
        return sum(w["rate"] / solo[w["name"]] for w in run["workers"][1:] if solo.get(w["name"]))

    rows = []
    for cand, run in got.items():
        r = run["workers"][0]
        bes = run["workers"][1:]
        worst = min(((w["rate"] / base_be[w["name"]], w["name"]) for w in bes if base_be.get(w["name"])),
                    default=None)
        s, sb = (stp(run), stp(base)) if bes else (None, None)
        rows.append([
            case, cand,
            f"{r['meanMs']:.3f}", f"{r['meanMs'] / alone['meanMs']:.2f}",
            f"{r['p99Ms']:.3f}", f"{r['p99Ms'] / alone['p99Ms']:.2f}",
            f"{r['waitUs']:.0f}",
            f"{run['overall']:.0f}", f"{run['overall'] / base['overall']:.2f}",
            f"{s / sb:.2f}" if s is not None and sb else "–",
            f"{worst[0]:.2f} {worst[1][3:]}" if worst else "–",
        ])
    return rows


def print_table(rows: list[list[str]], a) -> None:
    head = ["case", "candidate", "RT mean ms", "÷ alone", "RT p99 ms", "÷ alone", "RT wait µs", "overall req/s",
            "÷ base", "BE STP ÷ base", "worst BE ÷ base"]
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    print(f"\nRT vgg19 uniform {RT_RATE:g} req/s beside closed-loop BE, batch 1, window {a.window} s after "
          f"{a.warmup} s; RT latency from arrival; targets: mean ÷ alone ≤ 1.05, p99 ÷ alone ≤ 1.20, overall ÷ base ≥ 0.9")
    for r in [head, *rows]:
        print("  ".join(x.rjust(wd) if i > 1 else x.ljust(wd) for i, (x, wd) in enumerate(zip(r, widths))))


if __name__ == "__main__":
    main()
