"""Do stream priorities lift co-located workers' STP on the whole GPU?

Under baseline every worker's stream has CUDA's default priority, and a light worker's small kernels wait behind a
heavy neighbour's queued blocks (batch 1, mix3: albert and densenet201 keep ~0.4 of their solo rates beside vgg19).
The block scheduler hands freed SMs to the highest-priority stream with blocks pending, so raising the light workers'
streams could let their chains run near their solo pace at little cost to the heavy worker. A plan already carries a
priority per worker (`streamPriority`, used by eclip-rt); this probe asks whether it pays for best-effort mixes.

Per mix (each worker its own model instance), every worker's graph captured twice on the whole GPU, on a
normal-priority stream and on a high-priority one, each launched into the stream it was captured on. Arms, requests launched back to back on each stream (no host gap), rates over the window in which every worker
ran: every worker alone (solo rates), all at once with no stream raised (baseline), and all at once with each subset
raised (with more than three workers: each one alone raised, and all but each one).

    python3 gpu/scripts/priority-probe.py [--batch 1] [--mixes mix3=albert+densenet201+vgg19,...] [--out DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eclip_gpu import zoo  # noqa: E402
from eclip_gpu.cuda import device, driver  # noqa: E402
from eclip_gpu.partitions import ordinary_stream  # noqa: E402

_spec = importlib.util.spec_from_file_location("dispatch_probe", Path(__file__).with_name("dispatch-probe.py"))
_dp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_dp)
windowed = _dp.windowed

PAPER = _dp.PAPER_MIXES
MORE = ("more1=vgg19+shufflenet+albert,more2=resnext101+alexnet+densenet201,more3=vgg19+resnet152+shufflenet+alexnet,"
        "more4=albert+resnext101+shufflenet+alexnet+densenet201,more5=shufflenet+shufflenet+vgg19+resnet152,"
        "more6=albert+albert+vgg19+alexnet")


def log(msg: str) -> None:
    print(f"[priority-probe {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def subsets(k: int) -> list[tuple[int, ...]]:
    """The sets of workers raised, none excluded: all proper non-empty subsets up to three workers, else singletons
    and their complements."""
    if k <= 3:
        return [s for n in range(1, k) for s in itertools.combinations(range(k), n)]
    ones = [(i,) for i in range(k)]
    return ones + [tuple(j for j in range(k) if j != i) for i in range(k)]


def mix(spec: str, a) -> dict:
    import torch  # noqa: PLC0415

    d = driver()
    name, models_ = spec.split("=")
    names = models_.split("+")
    k = len(names)
    t0 = time.perf_counter()
    keep, normal, high = [], [], []
    for i, model in enumerate(names):
        built = zoo.build(model, a.batch, "fp16", seed=i)
        stream = ordinary_stream("normal")
        with torch.inference_mode(), torch.cuda.stream(stream):
            for _ in range(3):
                built.forward()
        stream.synchronize()
        hi = ordinary_stream("high")
        with torch.inference_mode(), torch.cuda.stream(hi):
            built.forward()
        hi.synchronize()
        keep += [built, stream, hi]
        for s, into in ((stream, normal), (hi, high)):
            # captured on the stream it runs on: the kernel nodes take the capturing stream's priority
            g = torch.cuda.CUDAGraph()
            with torch.inference_mode(), torch.cuda.graph(g, stream=s):
                out = built.forward()
            keep += [g, out]
            into.append((d.CUgraphExec(int(g.raw_cuda_graph_exec())), d.CUstream(int(s.cuda_stream))))
    torch.cuda.synchronize()
    log(f"{name} b{a.batch} ({'+'.join(names)}): captured in {time.perf_counter() - t0:.1f} s")
    reps = _dp.reps_per_arm(normal, a.arm_s)
    arms = {"none": ()} | {"hi:" + "+".join(str(i) for i in s): s for s in subsets(k)}
    got: dict[str, list[list[float]]] = {"alone": []} | {arm: [] for arm in arms}
    for _rep in range(a.repeats):
        got["alone"].append([windowed([normal[i]], [reps[i]])[0] for i in range(k)])
        for arm, raised in arms.items():
            got[arm].append(windowed([high[i] if i in raised else normal[i] for i in range(k)], reps))
    med = _dp.medians(got, k)
    solo = med["alone"]
    stp = {arm: sum(x / s for x, s in zip(med[arm], solo)) for arm in arms}
    vs = {arm: [x / b for x, b in zip(med[arm], med["none"])] for arm in arms}
    best = max(arms, key=lambda arm: stp[arm])
    fair = [arm for arm in arms if min(vs[arm]) >= 0.9]
    best_fair = max(fair, key=lambda arm: stp[arm]) if fair else "none"
    row = {"mix": name, "models": names, "batch": a.batch, "reps": reps, "rps": got, "median": med, "stp": stp,
           "vsNone": vs, "best": best, "bestFloored": best_fair}
    log(f"{name}: STP none {stp['none']:.3f}; best {best} {stp[best]:.3f} ({stp[best] / stp['none']:.3f}×); "
        f"best with every worker ≥ 0.9 of none {best_fair} {stp[best_fair] / stp['none']:.3f}×")
    del keep
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--arm-s", type=float, default=0.4)
    ap.add_argument("--mixes", default="paper", help="`paper`, `more`, `all` or name=model+model,...")
    ap.add_argument("--out", default=".")
    a = ap.parse_args()
    spec = {"paper": PAPER, "more": MORE, "all": f"{PAPER},{MORE}"}.get(a.mixes, a.mixes)
    mixes = [m for m in spec.split(",") if m]
    import torch  # noqa: PLC0415

    device(0)
    rows = [mix(m, a) for m in mixes]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "priority.json").write_text(json.dumps({"gpu": torch.cuda.get_device_name(), "rows": rows}, indent=1))
    print(f"\nbatch {a.batch}: STP ÷ baseline's (no stream raised); the best arm, and the best with every worker ≥ 0.9 "
          "of its rate under baseline (worst worker's ratio)")
    for r in rows:
        b, f = r["best"], r["bestFloored"]
        print(f"  {r['mix']:6s} ({'+'.join(r['models'])}) STP {r['stp']['none']:.3f}  best {b} "
              f"{r['stp'][b] / r['stp']['none']:.3f} (worst {min(r['vsNone'][b]):.2f})  floored {f} "
              f"{r['stp'][f] / r['stp']['none']:.3f} (worst {min(r['vsNone'][f]):.2f})")
    fl = [r["stp"][r["bestFloored"]] / r["stp"]["none"] for r in rows]
    print(f"  mean floored gain {sum(fl) / len(fl):.3f} over {len(fl)} mixes")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
