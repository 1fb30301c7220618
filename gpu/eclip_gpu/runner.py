"""Runs one bench run (a plan, a mode, a window) for the protocol: builds and captures the workers, runs the closed
loop (or each worker's schedule of arrivals and busy periods, arrivals.py), measures energy, checks outputs against
the baseline capture, and returns raw per-request times.

A run with `live` (eclip-live, issue #19) follows a plan table: every partition of the table's plans is created once,
each worker is captured under every plan that lists it (one graph memory pool, static input and dry capture per
worker, as serving.py does), and each request runs the capture of the plan of the set active when it starts (live.py).

Models are built once per (worker name, model, batch, dtype) and partitions once per slice set, then reused by
later runs; graphs live only for their run. Teardown order matters (docs/design.md §8): graphs die before partitions.

A plan worker with a `gate` (eclip-rt's gate mechanism) has it captured into its graph (gate.py).

A plan worker with `gemmTarget` has its matrix products captured with kernels picked for each partition's SMs
(gemm_target.py): its profile's times were measured so.

A plan worker with `streamPriority: high` (eclip-rt's real-time workers, eclip-fit's raised ones) gets every stream
it runs on at high priority: its own ordinary stream, which launches its graph, and its green contexts' streams its
kernels were captured on — a graph's kernels keep the priority of the stream they were captured on (docs/design.md §7).
"""

from __future__ import annotations

import gc
import time

from . import mps, zoo
from .arrivals import check_schedule, driven_loop, times_us
from .cuda import BackendError, versions
from .energy import Energy
from .execute import closed_loop, kernel_partitions, op_kernel_starts, prepare_worker
from .gate import gate_word
from .gemm_target import plan_gemm_target
from .identity import check_plan_gpu
from .live import ActiveSet, LiveWorker, check_sets
from .partitions import PartitionPool, ordinary_stream, read_layout

MODE_OF_POLICY = {"baseline": "whole", "model-wise": "whole", "kw-ioctl": "ioctl"}
# NVIDIA MPS (issue #8, mps.py): every worker its own process under an MPS daemon of ours, not in this process
MPS_POLICIES = ("mps", "mps-unlimited")


class Runner:
    def __init__(self):
        self.layout = read_layout()
        self.pool = PartitionPool(self.layout)
        self.gpu = self.layout.describe()
        self.versions = versions()
        self.energy = Energy()
        self.models: dict[tuple, object] = {}
        import torch  # noqa: PLC0415

        self.origins: dict[str, object] = {}
        self.torch = torch

    def _built(self, w: dict):
        key = (w["name"], w["model"], w["batch"], w["dtype"])
        if key not in self.models:
            self.models[key] = zoo.build(w["model"], w["batch"], w["dtype"])
        return self.models[key]

    def _origin(self, name: str, priority: str = "normal"):
        # each worker its own ordinary (full-GPU) stream per priority: where baseline runs and where requests start
        # and end
        key = name if priority == "normal" else (name, priority)
        if key not in self.origins:
            self.origins[key] = self.torch.cuda.Stream() if priority == "normal" else ordinary_stream(priority)
        return self.origins[key]

    def run(self, msg: dict, progress) -> dict:
        torch = self.torch
        plan = msg["plan"]
        policy = plan["policy"]
        mode = MODE_OF_POLICY.get(policy) or msg.get("mode") or "graph"
        check_plan_gpu(plan["gpu"], self.layout)
        t0 = time.perf_counter()
        # each worker's schedule (plan order) where the run gives them; without: the paper's closed loop
        schedules = msg.get("arrivals")
        if schedules is not None:
            if len(schedules) != len(plan["workers"]):
                raise BackendError(f"{len(schedules)} arrival schedules for {len(plan['workers'])} plan workers")
            try:
                for w, s in zip(plan["workers"], schedules):
                    check_schedule(s, w["name"])
            except ValueError as e:
                raise BackendError(str(e)) from None
        if policy in MPS_POLICIES:
            return self._run_mps(msg, plan, progress, t0)
        if msg.get("live") is not None:
            if schedules is None:
                raise BackendError("a run that follows a plan table (live) needs every worker's arrivals")
            return self._run_live(msg, plan, mode, schedules, progress, t0)
        parts = {p["id"]: self.pool.create(p["slices"], p["id"]) for p in plan["pool"]["partitions"]}
        workers = []
        notes = []
        for w in plan["workers"]:
            built = self._built(w)
            groups = [dict(g) for g in w["groups"]]
            wmode = mode
            if policy == "baseline":
                groups = None
            # the plan's partitions, each with a stream of this worker's own (workers share SMs, never a queue), at
            # the worker's priority
            level = w.get("streamPriority", "normal")
            wparts = {pid: self.pool.for_worker(part, w["name"], level)
                      for pid, part in kernel_partitions(w["name"], groups, parts).items()}
            execd = prepare_worker(w["name"], built, wmode, groups, wparts, self._origin(w["name"], level),
                                   w["fingerprint"], layout=self.layout, gate=w.get("gate"),
                                   **plan_gemm_target(w))
            if execd.moved_boundaries:
                notes.append(f"{w['name']}: {execd.moved_boundaries} group boundaries moved to op starts")
            workers.append(execd)
        progress(f"captured {len(workers)} workers ({mode}) in {time.perf_counter() - t0:.1f} s")
        check = None
        if msg.get("checkOutputs") and policy != "baseline":
            check = self._check_outputs([(w["name"], w, e) for w, e in zip(plan["workers"], workers)])
        clocks_before = self.energy.clocks()
        warmup, window = float(msg.get("warmupS", 2)), float(msg.get("windowS", 10))
        if schedules is not None:
            raw = driven_loop(workers, schedules, warmup, window, self.energy, synchronize=torch.cuda.synchronize)
        else:
            raw = closed_loop(workers, warmup, window, self.energy)
        clocks_after = self.energy.clocks()
        if any(w.get("gate") for w in plan["workers"]) and (left := gate_word().value()) != 0:
            # every real-time request raised and lowered the gate: anything else would hold best-effort work forever
            raise BackendError(f"the gate word is {left} after the run, not 0")
        result = {
            "mode": mode,
            **times_us(raw),
            "energyJ": raw["energyJ"],
            "wallS": round(time.perf_counter() - t0, 2),
            "clocks": {"before": clocks_before, "after": clocks_after},
            "switches": [w.switches for w in workers],
            "notes": notes,
        }
        if check is not None:
            result["outputCheck"] = check
        del workers, raw
        self._release()
        return result

    def _release(self) -> None:
        torch = self.torch
        gc.collect()
        torch.cuda.synchronize()
        # torch keeps a cuBLAS workspace per stream it ran a matrix product on, for the process's life (empty_cache
        # does not free them), and every run makes new green-context streams: a bench of many runs (eclip-fit tuned
        # on the GPU: tens per mix) ran out of device memory that way. The run's graphs are gone: free them.
        clear = getattr(getattr(torch, "_C", None), "_cuda_clearCublasWorkspaces", None)
        if clear is not None:
            clear()
        # a run's green contexts (the pool's and every worker's own) die with its graphs (docs/design.md §8): a
        # context holds device memory of its own, and kept for the whole bench the per-worker ones pile up run after
        # run (workers × partitions each). The next run makes its own, ~2 ms apiece.
        self.pool.close()
        torch.cuda.empty_cache()

    def _run_live(self, msg: dict, plan: dict, mode: str, schedules: list, progress, t0: float) -> dict:
        """A run that follows a plan table: `live` = {holdUs, plans: [{key, plan}], sets: plan key per mask over the
        plan's workers}. Each worker is captured under every plan that lists it; each request runs the capture of
        the plan of the set active when it starts. The reply adds `live`: per worker per request the mask of the set
        it started under, each set's µs in the window (by mask) and the set's changes."""
        live = msg["live"]
        names = [w["name"] for w in plan["workers"]]
        entries = live["plans"]
        listed = {e["key"]: {pw["name"] for pw in e["plan"]["workers"]} for e in entries}
        if len(listed) != len(entries):
            raise BackendError(f"live.plans: every plan needs a key of its own (got {[e['key'] for e in entries]})")
        try:
            check_sets(live["sets"], names, listed)
        except ValueError as e:
            raise BackendError(str(e)) from None
        # every partition of every plan once, before any capture (shared slice sets share the partition)
        parts_of = {}
        for e in entries:
            check_plan_gpu(e["plan"]["gpu"], self.layout)
            parts_of[e["key"]] = {q["id"]: self.pool.create(q["slices"], q["id"])
                                  for q in e["plan"]["pool"]["partitions"]}
        torch = self.torch
        captures: list[dict] = []
        notes = []
        for w in plan["workers"]:
            name = w["name"]
            built, origin = self._built(w), self._origin(name)
            graph_pool, warmed, dry = torch.cuda.graph_pool_handle(), set(), None
            mine = {}
            for e in entries:
                pw = next((x for x in e["plan"]["workers"] if x["name"] == name), None)
                if pw is None:
                    continue
                if (pw["model"], pw["batch"], pw["dtype"]) != (w["model"], w["batch"], w["dtype"]):
                    raise BackendError(f"{name}: plan {e['key']!r} has {pw['model']} batch {pw['batch']} "
                                       f"{pw['dtype']}, the run {w['model']} batch {w['batch']} {w['dtype']}")
                p = e["plan"]
                pmode = MODE_OF_POLICY.get(p["policy"]) or msg.get("mode") or "graph"
                groups = None if p["policy"] == "baseline" else [dict(g) for g in pw["groups"]]
                used = kernel_partitions(name, groups, parts_of[e["key"]], f"plan {e['key']!r}")
                wparts = {pid: self.pool.for_worker(part, name) for pid, part in used.items()}
                if dry is None:
                    dry = op_kernel_starts(built, origin, warmed)
                execd = prepare_worker(name, built, pmode, groups, wparts, origin, pw["fingerprint"],
                                       layout=self.layout, pool=graph_pool, warmed=warmed, dry_run=dry,
                                       **plan_gemm_target(pw))
                if execd.moved_boundaries:
                    notes.append(f"{name} under {e['key']}: {execd.moved_boundaries} group boundaries moved to op "
                                 "starts")
                mine[e["key"]] = execd
            captures.append(mine)
        progress(f"captured {len(captures)} workers under {len(entries)} plans of a table "
                 f"({sum(len(c) for c in captures)} captures) in {time.perf_counter() - t0:.1f} s")
        check = None
        if msg.get("checkOutputs"):
            check = self._check_outputs([(f"{w['name']} under {k}", w, e)
                                         for w, mine in zip(plan["workers"], captures)
                                         for k, e in mine.items()
                                         if next(x for x in entries if x["key"] == k)["plan"]["policy"] != "baseline"])
        active = ActiveSet(len(names), int(round(float(live["holdUs"]) * 1000)))
        workers = [LiveWorker(i, name, mine, live["sets"], active) for i, (name, mine) in enumerate(zip(names, captures))]
        clocks_before = self.energy.clocks()
        warmup, window = float(msg.get("warmupS", 2)), float(msg.get("windowS", 10))
        raw = driven_loop(workers, schedules, warmup, window, self.energy, synchronize=torch.cuda.synchronize)
        clocks_after = self.energy.clocks()
        full = live["sets"][(1 << len(names)) - 1]
        summary = active.summary(raw["originNs"], raw["windowStartNs"], raw["windowEndNs"], raw["endNs"])
        result = {
            "mode": mode,
            **times_us(raw),
            "energyJ": raw["energyJ"],
            "wallS": round(time.perf_counter() - t0, 2),
            "clocks": {"before": clocks_before, "after": clocks_after},
            # the partition switches per request under the whole set's plan
            "switches": [mine[full].switches if full in mine else 0 for mine in captures],
            "notes": notes,
            "live": {
                # every request begun completes (run_schedule waits for each): one mask per logged request
                "requestSets": [m[: len(w["endsNs"])] for m, w in zip(active.masks, raw["workers"])],
                **summary,
            },
        }
        if check is not None:
            result["outputCheck"] = check
        del workers, captures, raw
        self._release()
        return result

    def _run_mps(self, msg: dict, plan: dict, progress, t0: float) -> dict:
        """mps / mps-unlimited: the model-wise plan's workers, each in its own MPS client process (mps.py), capped at
        its partition's share of the SMs (mps) or not at all. The closed loop, window and NVML energy are the same
        as in-process runs; this process only keeps time and reads NVML. No partitions, no output check (each
        worker runs the baseline's single-stream graph, just in another process)."""
        # MPS that could not work here once, retry with a fresh daemon included (run_mps), will not on the next run
        # either: say so at once instead of paying for daemons and worker processes again for every remaining mix
        known = getattr(self, "mps_unavailable", None)
        if known:
            raise mps.MpsUnavailable(f"{known} (found at an earlier run; MPS not tried again in this backend)",
                                     retry=False)
        policy = plan["policy"]
        percentages = mps.plan_percentages(plan)
        workers = [{k: w[k] for k in ("name", "model", "batch", "dtype", "fingerprint")} for w in plan["workers"]]
        clocks_before = self.energy.clocks()
        try:
            raw = mps.run_mps(workers, percentages, float(msg.get("warmupS", 2)), float(msg.get("windowS", 10)),
                              self.energy, progress, schedules=msg.get("arrivals"))
        except mps.MpsUnavailable as e:
            self.mps_unavailable = e.reason
            raise
        clocks_after = self.energy.clocks()
        sms = {p["id"]: p["sms"] for p in plan["pool"]["partitions"]}
        caps = []
        for w, pct in zip(plan["workers"], percentages):
            size = sms[w["groups"][0]["partition"]]
            caps.append(f"{w['name']} " + ("no cap" if pct is None else f"{pct}% (partition of {size} SMs)"))
        return {
            # each worker's request is one whole-mode graph on an ordinary stream, as model-wise captures it
            "mode": "whole",
            **times_us(raw),
            "energyJ": raw["energyJ"],
            "wallS": round(time.perf_counter() - t0, 2),
            "clocks": {"before": clocks_before, "after": clocks_after},
            "switches": [0 for _ in workers],
            "notes": [f"{policy}: one process per worker under an MPS daemon of eclip's own; "
                      f"CUDA_MPS_ACTIVE_THREAD_PERCENTAGE: {', '.join(caps)}", *raw["notes"],
                      "outputs not checked: each worker runs the baseline's single-stream graph in its own process"],
        }

    def _check_outputs(self, captured: list[tuple]) -> list[dict]:
        """Each capture's output after one request equals its worker's baseline capture's (relative error, bitwise
        flag); `captured`: (what to call it, plan worker, capture)."""
        torch = self.torch
        out = []
        for label, w, execd in captured:
            base = prepare_worker(w["name"], self._built(w), "whole", None, {}, self._origin(w["name"]), None)
            base.request().synchronize()
            ref = base.output.float().clone()
            execd.request().synchronize()
            got = execd.output.float()
            err = ((got - ref).norm() / ref.norm().clamp_min(1e-30)).item() if torch.isfinite(ref).all() else None
            out.append({"name": label, "relErr": err, "bitwise": bool(torch.equal(got, ref))})
            del base
        return out

    def close(self):
        self.models.clear()
        gc.collect()
        self.torch.cuda.synchronize()
