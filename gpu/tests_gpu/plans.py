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
