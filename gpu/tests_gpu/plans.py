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


def realtime_run(runner, gates: bool = False) -> dict:
    """An eclip-rt run message for `runner` (runner.Runner): alexnet real-time (uniform arrivals every 5 ms, streams at
    high priority) beside a closed-loop shufflenet, both one group on the whole GPU; `gates`: the real-time worker
    raising the gate, the best-effort one waiting at every 8th op start (gate.py)."""
    import torch

    from eclip_gpu.execute import op_kernel_starts

    layout = runner.layout
    gpu = {"name": layout.name, "smCount": layout.sm_count, "sliceSize": layout.min_size}
    whole = {"id": 0, "slices": list(range(layout.n_slices)), "sms": layout.sm_count}
    workers = []
    for model, rt in (("alexnet", True), ("shufflenet", False)):
        w = {"name": f"{model}#0", "model": model, "batch": 1, "dtype": "fp16"}
        _, dry = op_kernel_starts(runner._built(w), torch.cuda.Stream())
        gate = {"role": "raise"} if rt else {"role": "wait", "atKernels": sorted({0, *dry.op_starts[::8]})}
        workers.append({**w, "fingerprint": dry.fingerprint, "priority": "realtime" if rt else "best-effort",
                        "groups": [{"first": 0, "last": len(dry.kernels) - 1, "partition": 0}],
                        **({"gate": gate} if gates else {}),
                        **({"streamPriority": "high", "sloMs": 10} if rt else {})})
    plan = {"policy": "eclip-rt", "gpu": gpu, "pool": {"partitions": [whole]}, "workers": workers}
    arrivals = [{"kind": "open", "arrivalsUs": [i * 5000.0 for i in range(200)]},
                {"kind": "closed", "periodsUs": [0, 1.0e6]}]
    return {"type": "run", "key": "rt|eclip-rt|-|b1", "plan": plan, "mode": None, "warmupS": 0.1, "windowS": 0.6,
            "checkOutputs": True, "arrivals": arrivals}
