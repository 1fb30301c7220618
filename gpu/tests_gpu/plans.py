"""Hand-made kernel groups for GPU tests and probes (gpu/scripts/launch-probe.py) that need a partitioned worker
without a planner."""


def alternating_groups(n_kernels: int, parts: list) -> list[dict]:
    """Groups of ~n/7 kernels each, alternating over the partition ids `parts`: ~6 switches."""
    step = max(1, n_kernels // 7)
    groups, first, i = [], 0, 0
    while first < n_kernels:
        last = min(n_kernels - 1, first + step - 1)
        groups.append({"first": first, "last": last, "partition": parts[i % len(parts)]})
        first, i = last + 1, i + 1
    return groups


def realtime_run(runner, gates: bool = False, split: bool = False) -> dict:
    """An eclip-rt run message for `runner` (runner.Runner): alexnet real-time (uniform arrivals every 5 ms, streams at
    high priority) beside a closed-loop shufflenet, both one group on the whole GPU; `gates`: the real-time worker
    raising the gate, the best-effort one waiting at every 8th op start (gate.py); `split`: the best-effort worker's
    first half of kernels on half the GPU's slices instead, in graph mode (its plan as eclip-fit makes one)."""
    import torch

    from eclip_gpu.execute import op_kernel_starts

    layout = runner.layout
    gpu = {"name": layout.name, "smCount": layout.sm_count, "sliceSize": layout.min_size}
    whole = {"id": 0, "slices": list(range(layout.n_slices)), "sms": layout.sm_count}
    half = {"id": 1, "slices": list(range(layout.n_slices // 2)), "sms": layout.n_slices // 2 * layout.min_size}
    workers = []
    for model, rt in (("alexnet", True), ("shufflenet", False)):
        w = {"name": f"{model}#0", "model": model, "batch": 1, "dtype": "fp16"}
        _, dry = op_kernel_starts(runner._built(w), torch.cuda.Stream())
        gate = {"role": "raise"} if rt else {"role": "wait", "atKernels": sorted({0, *dry.op_starts[::8]})}
        n = len(dry.kernels)
        mid = dry.op_starts[len(dry.op_starts) // 2]
        groups = ([{"first": 0, "last": mid - 1, "partition": 1}, {"first": mid, "last": n - 1, "partition": 0}]
                  if split and not rt else [{"first": 0, "last": n - 1, "partition": 0}])
        workers.append({**w, "fingerprint": dry.fingerprint, "priority": "realtime" if rt else "best-effort",
                        "groups": groups,
                        **({"gate": gate} if gates else {}),
                        **({"streamPriority": "high", "sloMs": 10} if rt else {})})
    plan = {"policy": "eclip-rt", "gpu": gpu, "pool": {"partitions": [whole, half] if split else [whole]},
            "workers": workers}
    arrivals = [{"kind": "open", "arrivalsUs": [i * 5000.0 for i in range(200)]},
                {"kind": "closed", "periodsUs": [0, 1.0e6]}]
    return {"type": "run", "key": "rt|eclip-rt|-|b1", "plan": plan, "mode": "graph" if split else None, "warmupS": 0.1, "windowS": 0.6,
            "checkOutputs": True, "arrivals": arrivals}
