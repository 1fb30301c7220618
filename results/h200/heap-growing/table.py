"""Prints the heap-growing series' table from each call's part logs (call1/ … call5/): per part, transport, mix and
policy the served ÷ bench (mean over the two windows [min–max]), the served requests/s (Σ over workers, mean over
windows), the served STP (Σ rate/solo) ÷ baseline's and the worst worker ÷ its baseline rate (each window against
baseline's of the same index), and the server's CPU per request (the server process and its front-ends), as
serve-bench's report gives them."""

import re
from pathlib import Path

HERE = Path(__file__).parent
# part: (heap growing factor, front-ends, batch)
ARMS = {"f8": ("fixed", 8, 8), "v8": ("V8's own", 8, 8), "f0": ("fixed", 0, 8), "v0": ("V8's own", 0, 8),
        "fs": ("fixed", 0, 1), "vs": ("V8's own", 0, 1), "f1": ("fixed", 8, 1), "v1": ("V8's own", 8, 1),
        "fa": ("fixed", 8, 8), "va": ("V8's own", 8, 8), "vb": ("V8's own", 8, 8), "fb": ("fixed", 8, 8)}
# the parts in the order each call ran them (call.sh, then with ORDER=v8-first B1=1; call-b1.sh, then ORDER=v8-first;
# call-stream.sh)
ORDER = {"call1": ["f8", "v8", "f0", "v0"], "call2": ["v8", "f8", "v0", "f0", "vs", "fs"],
         "call3": ["f1", "v1"], "call4": ["v1", "f1"], "call5": ["fa", "va", "vb", "fb"]}


def tables(section: str) -> dict[str, dict[tuple[str, str], str]]:
    """Each table of a report section by its title: {(mix, policy): cell}, the policies from the header line."""
    out: dict[str, dict[tuple[str, str], str]] = {}
    for block in section.split("\n\n"):
        lines = block.strip("\n").split("\n")
        if len(lines) < 3 or not lines[1].startswith("mix "):
            continue
        policies = lines[1].split()[1:]
        rows = {}
        for line in lines[2:]:
            cells = re.split(r"\s{2,}", line.strip())
            if re.match(r"^mix\d+$", cells[0]) and len(cells) == len(policies) + 1:
                for policy, cell in zip(policies, cells[1:]):
                    rows[(cells[0], policy)] = cell
        if rows:
            out[lines[0]] = rows
    return out


def find(ts: dict[str, dict[tuple[str, str], str]], prefix: str) -> dict[tuple[str, str], str]:
    return next((rows for title, rows in ts.items() if title.startswith(prefix)), {})


print("| call | part | heap growing | batch | front-ends | transport | mix | policy | served ÷ bench | served req/s "
      "| STP ÷ baseline's | worst worker ÷ baseline | server CPU per request, ms |")
print("|---|---|---|---:|---:|---|---|---|---|---:|---|---|---:|")
for call, parts in ORDER.items():
    for part in parts:
        text = (HERE / call / f"{part}.log").read_text()
        for m in re.finditer(r"^transport ([\w-]+):.*?(?=^transport |\Z)", text, re.S | re.M):
            ts = tables(m.group(0))
            served = find(ts, "Served ÷ bench: ")
            rate = find(ts, "Sustained throughput per worker, requests/s")
            cpu = find(ts, "Server CPU per request in the window")
            stp = find(ts, "System throughput STP (Σ rate/solo, solo rates from the profiles) ÷ baseline STP")
            worst = find(ts, "Worst worker: ")
            for (mix, policy), cell in served.items():
                rps = sum(float(x) for x in rate.get((mix, policy), "").split(" / ") if x)
                arm, fe, batch = ARMS[part]
                print(f"| {call} | `{part}` | {arm} | {batch} | {fe} | {m.group(1)} | {mix} | {policy} | {cell} | "
                      f"{rps:,.0f} | {stp.get((mix, policy), '')} | {worst.get((mix, policy), '')} | "
                      f"{cpu.get((mix, policy), '')} |")
