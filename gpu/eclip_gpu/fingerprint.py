"""Fingerprint of a kernel sequence; must equal src/formats/fingerprint.ts (shared vectors in test/fixtures)."""

from __future__ import annotations

import hashlib
from typing import Iterable, Sequence


def kernel_line(name: str, grid: Sequence[int], block: Sequence[int], shared_mem_bytes: int) -> str:
    return f"{name}|{','.join(str(int(g)) for g in grid)}|{','.join(str(int(b)) for b in block)}|{int(shared_mem_bytes)}"


def fingerprint(kernels: Iterable[dict]) -> str:
    """kernels: dicts with name, grid, block, sharedMemBytes (the profile format's field names)."""
    text = "\n".join(kernel_line(k["name"], k["grid"], k["block"], k["sharedMemBytes"]) for k in kernels)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
