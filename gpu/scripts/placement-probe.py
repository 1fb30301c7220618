"""The baseline's placement under an eclip-fit plan (every kernel on the whole GPU: eclip-fit's fallback, a set plan
that keeps its models there) against baseline itself, closed loops in one backend process, arms interleaved:

  baseline   the baseline plan (whole mode: one graph per request on each worker's ordinary stream)
  fit-now    the same placement as an eclip-fit plan, as the executor runs it now (execute.on_every_sm: whole mode on
             the ordinary stream, as baseline)
  fit-green  the same plan captured as before that rule: graph mode on a green context of all SMs, with the
             fork/join edges of a graph-mode capture

Prints each arm's Σ req/s per repeat and its ratio to the baseline run next to it; writes JSON lines to --out.

    python3 gpu/scripts/placement-probe.py PLAN.json... [--reps 3] [--window 3] [--warmup 1] [--out probe.jsonl]

PLAN.json: a baseline plan of the mix (`eclip plan --policy baseline`); the eclip-fit arms are that plan relabelled.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eclip_gpu import execute  # noqa: E402
from eclip_gpu.runner import Runner  # noqa: E402


def rate(result: dict) -> float:
    """Σ over workers of requests ended in the window ÷ the window."""
    w0, w1 = result["windowStartUs"], result["windowEndUs"]
    n = sum(sum(1 for e in w["endUs"] if w0 <= e <= w1) for w in result["workers"])
    return n / ((w1 - w0) / 1e6)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("plans", nargs="+")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--window", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--out", default="placement-probe.jsonl")
    a = ap.parse_args()
    runner = Runner()
    rule = execute.on_every_sm
    rows = []
    with open(a.out, "w") as log:
        for path in a.plans:
            base = json.loads(Path(path).read_text())
            fit = copy.deepcopy(base)
            fit["policy"] = "eclip-fit"
            for rep in range(a.reps):
                got = {}
                for arm in ("baseline", "fit-now", "fit-green"):
                    execute.on_every_sm = rule if arm != "fit-green" else (lambda *_: False)
                    msg = {"plan": base if arm == "baseline" else fit, "mode": "graph", "warmupS": a.warmup,
                           "windowS": a.window}
                    got[arm] = rate(runner.run(msg, lambda _m: None))
                execute.on_every_sm = rule
                row = {"mix": base["mix"], "rep": rep, **{k: round(v, 1) for k, v in got.items()}}
                log.write(json.dumps(row) + "\n")
                log.flush()
                rows.append(row)
                print(f"{row['mix']} rep {rep}: baseline {got['baseline']:.0f} req/s, fit-now "
                      f"{got['fit-now'] / got['baseline']:.4f}, fit-green {got['fit-green'] / got['baseline']:.4f}",
                      flush=True)
    runner.close()
    print("mix        arm        ÷ baseline, mean [min–max] over repeats")
    for mix in dict.fromkeys(r["mix"] for r in rows):
        mine = [r for r in rows if r["mix"] == mix]
        for arm in ("fit-now", "fit-green"):
            q = [r[arm] / r["baseline"] for r in mine]
            print(f"{mix:10s} {arm:10s} {sum(q) / len(q):.4f} [{min(q):.4f}–{max(q):.4f}]")


if __name__ == "__main__":
    main()
