"""Does the L2 cache hold co-located workers back, and does dividing it help?

Disjoint SM partitions leave each worker 12–32% slower beside its neighbours than alone (results/h100/interference):
they share L2, DRAM and the crossbar. At batch 1 a request reads mostly weights, and several zoo models' weights fit
the H100's 50 MB L2 alone but not together. CUDA's access policy windows divide the L2: a window over a worker's
weights marks its accesses persisting (kept in a set-aside part of the L2, `CU_LIMIT_PERSISTING_L2_CACHE_SIZE`) or
streaming (evicted first). This probe asks whether that lifts the workers' rates beside each other.

Per mix (each worker its own model instance, its weights moved into one contiguous buffer before capture so one
window covers them), every worker's graph captured once on the whole GPU, then instantiated as is and once per L2
policy with the window set on every kernel node (cuGraphKernelNodeSetAttribute on a clone). Arms, requests launched
back to back on each worker's stream (no host gap), rates over the window in which every worker ran:
  plain     every worker alone, then all at once, no window, no set-aside (baseline's placement: the solo rates and
            baseline's STP)
  aside     all at once, no window, the set-aside made (what the set-aside alone costs the others)
  <policy>  all at once, and each alone, with the policy's windows and the set-aside made
Policies: `stream-big` (weights larger than the L2 streaming, the rest normal), `persist-small` (weights that fit the
L2 persisting, sharing the set-aside in proportion to their size; larger ones streaming), `persist-all` (every
worker persisting, the set-aside shared in proportion to size, capped at each worker's weights).

    python3 gpu/scripts/l2-probe.py [--batch 1] [--mixes mix2=albert+densenet201,...] [--arm-s 0.4] [--out DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eclip_gpu import zoo  # noqa: E402
from eclip_gpu.cuda import check, device, driver  # noqa: E402
from eclip_gpu.partitions import ordinary_stream  # noqa: E402

_spec = importlib.util.spec_from_file_location("dispatch_probe", Path(__file__).with_name("dispatch-probe.py"))
_dp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_dp)
windowed = _dp.windowed

POLICIES = ("stream-big", "persist-small", "persist-all")


def log(msg: str) -> None:
    print(f"[l2-probe {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def module_of(built):
    """The torch module behind a zoo model (Hugging Face ones are wrapped)."""
    import torch  # noqa: PLC0415

    m = built.model
    return m if isinstance(m, torch.nn.Module) else m.model


def flatten_weights(built) -> tuple[int, int]:
    """Moves every floating parameter and buffer of the model into one contiguous buffer (each tensor a view of it);
    returns its (device pointer, bytes). Kernels read the same values from new addresses; capture comes after."""
    import torch  # noqa: PLC0415

    mod = module_of(built)
    tensors = [t for t in list(mod.parameters()) + list(mod.buffers()) if t.is_floating_point()]
    dtype = tensors[0].dtype
    if any(t.dtype != dtype for t in tensors):
        raise SystemExit(f"{built.name}: weights of several dtypes")
    align = 128  # elements: every view starts 256-byte aligned, as allocations do
    sizes = [(t.numel() + align - 1) // align * align for t in tensors]
    flat = torch.empty(sum(sizes), dtype=dtype, device="cuda")
    off = 0
    with torch.no_grad():
        for t, n in zip(tensors, sizes):
            view = flat[off:off + t.numel()].view_as(t)
            view.copy_(t)
            t.data = view
            off += n
    built.flat = flat  # kept alive with the model
    return flat.data_ptr(), flat.numel() * flat.element_size()


def policy_windows(policy: str, sizes: list[int], l2: int, aside: int, max_window: int) -> list[dict | None]:
    """Per worker: None (no window) or {bytes, hitRatio, hit, miss} for its weights' window (from their start)."""
    out: list[dict | None] = []
    small = [s <= l2 for s in sizes]
    if policy == "persist-all":
        share = [aside * s / sum(sizes) for s in sizes]
    else:
        tot = sum(s for s, k in zip(sizes, small) if k)
        share = [aside * s / tot if k and tot else 0 for s, k in zip(sizes, small)]
    for s, k, sh in zip(sizes, small, share):
        w = min(s, max_window)
        if policy == "stream-big":
            out.append(None if k else {"bytes": w, "hitRatio": 0.0, "hit": "STREAMING", "miss": "STREAMING"})
        elif policy == "persist-small" and not k:
            out.append({"bytes": w, "hitRatio": 0.0, "hit": "STREAMING", "miss": "STREAMING"})
        else:
            out.append({"bytes": w, "hitRatio": min(1.0, sh / w), "hit": "PERSISTING", "miss": "STREAMING"})
    return out


def instantiate_with_window(raw_graph, base: int, win: dict | None):
    """A graph exec of a clone of `raw_graph` with `win` set on every kernel node (None: the clone as is)."""
    d = driver()
    clone = check(d.cuGraphClone(d.CUgraph(int(raw_graph))), "cuGraphClone")
    if win is not None:
        n = int(check(d.cuGraphGetNodes(clone, 0), "cuGraphGetNodes")[1])
        nodes, _ = check(d.cuGraphGetNodes(clone, n), "cuGraphGetNodes")
        v = d.CUkernelNodeAttrValue()
        apw = v.accessPolicyWindow
        apw.base_ptr = base
        apw.num_bytes = win["bytes"]
        apw.hitRatio = win["hitRatio"]
        apw.hitProp = getattr(d.CUaccessProperty, f"CU_ACCESS_PROPERTY_{win['hit']}")
        apw.missProp = getattr(d.CUaccessProperty, f"CU_ACCESS_PROPERTY_{win['miss']}")
        v.accessPolicyWindow = apw
        ids = getattr(d, "CUkernelNodeAttrID", d.CUlaunchAttributeID)
        attr = getattr(ids, "CU_KERNEL_NODE_ATTRIBUTE_ACCESS_POLICY_WINDOW",
                       d.CUlaunchAttributeID.CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW)
        set_ = 0
        for node in nodes:
            if check(d.cuGraphNodeGetType(node), "cuGraphNodeGetType") != d.CUgraphNodeType.CU_GRAPH_NODE_TYPE_KERNEL:
                continue
            check(d.cuGraphKernelNodeSetAttribute(node, attr, v), "cuGraphKernelNodeSetAttribute")
            set_ += 1
        got = check(d.cuGraphKernelNodeGetAttribute(nodes[-1] if set_ else nodes[0], attr),
                    "cuGraphKernelNodeGetAttribute").accessPolicyWindow
        if int(got.num_bytes) != win["bytes"]:
            raise SystemExit(f"window not kept on the node: {int(got.num_bytes)} bytes read back")
    return check(d.cuGraphInstantiate(clone, 0), "cuGraphInstantiate")


def set_aside(nbytes: int) -> None:
    import torch  # noqa: PLC0415

    d = driver()
    torch.cuda.synchronize()
    check(d.cuCtxSetLimit(d.CUlimit.CU_LIMIT_PERSISTING_L2_CACHE_SIZE, nbytes), "cuCtxSetLimit(persisting L2)")
    check(d.cuCtxResetPersistingL2Cache(), "cuCtxResetPersistingL2Cache")


def mix(spec: str, a, l2: int, aside: int, max_window: int) -> dict:
    import torch  # noqa: PLC0415

    d = driver()
    name, models_ = spec.split("=")
    names = models_.split("+")
    k = len(names)
    t0 = time.perf_counter()
    keep, sizes, bases, plain, streams, raws = [], [], [], [], [], []
    for i, model in enumerate(names):
        built = zoo.build(model, a.batch, "fp16", seed=i)
        base, nbytes = flatten_weights(built)
        stream = ordinary_stream("normal")
        with torch.inference_mode(), torch.cuda.stream(stream):
            for _ in range(3):
                built.forward()
        stream.synchronize()
        g = torch.cuda.CUDAGraph(keep_graph=True)
        with torch.inference_mode(), torch.cuda.graph(g, stream=stream):
            out = built.forward()
        g.instantiate()
        keep += [built, g, out]
        cu = d.CUstream(int(stream.cuda_stream))
        plain.append((d.CUgraphExec(int(g.raw_cuda_graph_exec())), cu))
        raws.append(g.raw_cuda_graph())
        sizes.append(nbytes)
        bases.append(base)
        streams.append(cu)
    execs = {"plain": plain}
    wins = {}
    for pol in a.policies:
        wins[pol] = policy_windows(pol, sizes, l2, aside, max_window)
        execs[pol] = [(instantiate_with_window(raws[i], bases[i], wins[pol][i]), streams[i]) for i in range(k)]
    torch.cuda.synchronize()
    log(f"{name} b{a.batch} ({'+'.join(names)}): weights {', '.join(f'{s / 2**20:.1f}' for s in sizes)} MiB; "
        f"captured in {time.perf_counter() - t0:.1f} s")
    reps = _dp.reps_per_arm(plain, a.arm_s)
    got: dict[str, list[list[float]]] = {"plain-alone": [], "plain-all": [], "aside-all": []}
    for pol in a.policies:
        got[f"{pol}-alone"], got[f"{pol}-all"] = [], []
    for _rep in range(a.repeats):
        set_aside(0)
        got["plain-alone"].append([windowed([plain[i]], [reps[i]])[0] for i in range(k)])
        got["plain-all"].append(windowed(plain, reps))
        set_aside(aside)
        got["aside-all"].append(windowed(plain, reps))
        for pol in a.policies:
            set_aside(aside)
            got[f"{pol}-all"].append(windowed(execs[pol], reps))
            alone = []
            for i in range(k):
                set_aside(aside)
                alone.append(windowed([execs[pol][i]], [reps[i]])[0])
            got[f"{pol}-alone"].append(alone)
    set_aside(0)
    med = _dp.medians(got, k)
    solo = med["plain-alone"]
    stp = {arm: sum(x / s for x, s in zip(v, solo)) for arm, v in med.items() if arm.endswith("-all")}
    row = {"mix": name, "models": names, "batch": a.batch, "weightBytes": sizes, "windows": wins, "reps": reps,
           "rps": got, "median": med, "stp": stp,
           "vsPlainAll": {arm: [x / b for x, b in zip(v, med["plain-all"])] for arm, v in med.items()
                          if arm.endswith("-all")}}
    log(f"{name}: STP plain {stp['plain-all']:.3f}, aside {stp['aside-all']:.3f}, "
        + ", ".join(f"{p} {stp[f'{p}-all']:.3f}" for p in a.policies))
    del keep
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--arm-s", type=float, default=0.4)
    ap.add_argument("--mixes", default=_dp.PAPER_MIXES)
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--aside-mib", type=float, default=0, help="set-aside (default: the device's maximum)")
    ap.add_argument("--out", default=".")
    a = ap.parse_args()
    a.mixes = [m for m in a.mixes.split(",") if m]
    a.policies = [p for p in a.policies.split(",") if p]
    import torch  # noqa: PLC0415

    dev = device(0)
    d = driver()
    attr = d.CUdevice_attribute
    l2 = int(check(d.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, dev), "L2 size"))
    max_aside = int(check(d.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_MAX_PERSISTING_L2_CACHE_SIZE, dev),
                          "max persisting L2"))
    max_window = int(check(d.cuDeviceGetAttribute(attr.CU_DEVICE_ATTRIBUTE_MAX_ACCESS_POLICY_WINDOW_SIZE, dev),
                           "max access policy window"))
    aside = int(a.aside_mib * 2**20) if a.aside_mib else max_aside
    log(f"{torch.cuda.get_device_name()}: L2 {l2 / 2**20:.1f} MiB, set-aside at most {max_aside / 2**20:.1f} MiB "
        f"(using {aside / 2**20:.1f}), access policy window at most {max_window / 2**20:.1f} MiB")
    rows = [mix(spec, a, l2, aside, max_window) for spec in a.mixes]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "l2.json").write_text(json.dumps({"gpu": torch.cuda.get_device_name(), "l2Bytes": l2,
                                             "maxPersistingBytes": max_aside, "asideBytes": aside,
                                             "maxWindowBytes": max_window, "rows": rows}, indent=1))
    print(f"\nbatch {a.batch}: STP (solo: each alone, plain) of all at once; per worker its rate ÷ plain all-at-once")
    for r in rows:
        arms = [arm for arm in r["stp"] if arm != "plain-all"]
        per = "  ".join(f"{arm.removesuffix('-all')} {r['stp'][arm]:.3f} ["
                        + "/".join(f"{x:.2f}" for x in r["vsPlainAll"][arm]) + "]" for arm in arms)
        print(f"  {r['mix']:6s} plain {r['stp']['plain-all']:.3f}  {per}")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
