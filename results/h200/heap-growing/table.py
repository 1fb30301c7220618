"""Prints the heap-growing series' table from each call's part logs (call1/, call2/): per part, transport and mix the
served ÷ bench (mean over the two windows [min–max]), the served requests/s (Σ over workers, mean over windows) and
the server's CPU per request (the server process and its front-ends), as serve-bench's report gives them."""

import re
from pathlib import Path

HERE = Path(__file__).parent
ARMS = {"f8": ("fixed", 8, 8), "v8": ("V8's own", 8, 8), "f0": ("fixed", 0, 8), "v0": ("V8's own", 0, 8),
        "fs": ("fixed", 0, 1), "vs": ("V8's own", 0, 1)}
# the parts in the order each call ran them (call.sh; the second with ORDER=v8-first B1=1)
ORDER = {"call1": ["f8", "v8", "f0", "v0"], "call2": ["v8", "f8", "v0", "f0", "vs", "fs"]}


def tables(section: str) -> dict[str, dict[str, str]]:
    """Each table of a report section by the start of its title: {mix: the row's cells after the mix name}."""
    out: dict[str, dict[str, str]] = {}
    for block in section.split("\n\n"):
        lines = block.strip("\n").split("\n")
        rows = {}
        for line in lines[2:]:
            m = re.match(r"^(mix\d+)\s+(.*)$", line)
            if m:
                rows[m.group(1)] = m.group(2).strip()
        if rows:
            out[lines[0]] = rows
    return out


def find(ts: dict[str, dict[str, str]], prefix: str) -> dict[str, str]:
    return next((rows for title, rows in ts.items() if title.startswith(prefix)), {})


print("| call | part | heap growing | batch | front-ends | transport | mix | served ÷ bench | served req/s | server CPU per request, ms |")
print("|---|---|---|---:|---:|---|---|---|---:|---:|")
for call in ("call1", "call2"):
    for part in ORDER[call]:
        text = (HERE / call / f"{part}.log").read_text()
        for m in re.finditer(r"^transport ([\w-]+):.*?(?=^transport |\Z)", text, re.S | re.M):
            ts = tables(m.group(0))
            served = find(ts, "Served ÷ bench: ")
            rate = find(ts, "Sustained throughput per worker, requests/s")
            cpu = find(ts, "Server CPU per request in the window")
            for mix in served:
                rps = sum(float(x) for x in rate.get(mix, "").split(" / ") if x)
                arm, fe, batch = ARMS[part]
                print(f"| {call} | `{part}` | {arm} | {batch} | {fe} | {m.group(1)} | {mix} | {served[mix]} | {rps:,.0f} | "
                      f"{cpu.get(mix, '')} |")
