"""The GPU runs of this series: eclip-fit with and without `--stream-priorities` on the three mixes where the option
raises workers, rounds in alternating order (four for mix7 and more5, two for more2), each run against the baseline of its own bench. Also checks that the
plans the GPU ran are this folder's `plans/` (raised) and the STP row's series' (plain), and gives the paper's seven at
batch 1 with mix7's raised plan in place of its plain one. From the repository's root:

  python3 results/h100/priorities-reprofiled/gpu.py > results/h100/priorities-reprofiled/gpu.txt
"""

import json
import os
import statistics

from plans import core  # this folder's plans.py: a plan's pool, workers and parameters

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..", "..")
CASES = [("mix7", 1, "results/h100/shipped-13/n-p1"), ("more5", 1, "results/h100/shipped-13/n-m1"),
         ("more2", 8, "results/h100/reprofiled-b8/n-m8")]


def fit_run(results):
    """The GPU eclip-fit run of a results file: (system metrics, run metrics, workers)."""
    runs = json.load(open(results))["runs"]
    x = next(r for r in runs if r["policy"] == "eclip-fit" and r["backend"] == "gpu" and r["role"] == "mix")
    return x["metrics"]["system"], x["metrics"], x["workers"]


print("mix    batch variant round  STP/base  worst worker       max p95/base  req/J/base  plan as expected")
summary = {}
for mix, b, recorded in CASES:
    for variant in ("plain", "prio"):
        for rnd in range(1, 5):
            part = os.path.join(HERE, "gpu", f"r{rnd}-{mix}-b{b}-{variant}")
            if not os.path.isdir(part):
                continue
            s, m, workers = fit_run(os.path.join(part, "results.json"))
            ran = core(os.path.join(part, "plans", f"{mix}.eclip-fit.b{b}.plan.json"))
            want = (os.path.join(HERE, "plans", f"{mix}.b{b}.stream-priorities.plan.json") if variant == "prio"
                    else os.path.join(ROOT, recorded, "plans", f"{mix}.eclip-fit.b{b}.plan.json"))
            p95 = max(w["p95VsBaseline"] for w in workers)
            summary.setdefault((mix, b, variant), []).append((s["stpVsBaseline"], s["worstVsBaseline"], p95))
            print(f"{mix:<6} {b:>5} {variant:<7} {rnd:>5}  {s['stpVsBaseline']:8.3f}  {s['worstWorker']:<13} "
                  f"{s['worstVsBaseline']:.3f}  {p95:12.3f}  {m['requestsPerJVsBaseline']:10.3f}  "
                  f"{'yes' if ran == core(want) else 'NO'}")

print("\nmean of the rounds: STP/base (worst worker's lowest, highest p95/base; spread of the rounds)")
for (mix, b, variant), rows in summary.items():
    print(f"{mix:<6} b{b} {variant:<5} {statistics.mean(r[0] for r in rows):.3f} "
          f"(worst {min(r[1] for r in rows):.3f}, p95 {max(r[2] for r in rows):.3f}; {len(rows)} rounds, "
          f"{min(r[0] for r in rows):.3f}-{max(r[0] for r in rows):.3f})")

# the paper's seven at batch 1 with --stream-priorities: the six unraised mixes run the STP row's plans (shipped-13
# n-p1, measured there); mix7 runs its raised plan, measured here (the mean of its rounds)
n_p1 = json.load(open(os.path.join(ROOT, "results/h100/shipped-13/n-p1/results.json")))["runs"]
stp, worst = {}, {}
for r in n_p1:
    if r["policy"] == "eclip-fit" and r["backend"] == "gpu" and r["role"] == "mix" and r["mix"] != "mix7":
        s = r["metrics"]["system"]
        stp[r["mix"]], worst[r["mix"]] = s["stpVsBaseline"], s["worstVsBaseline"]
rows = summary[("mix7", 1, "prio")]
stp["mix7"], worst["mix7"] = statistics.mean(r[0] for r in rows), min(r[1] for r in rows)
plain7 = next(r["metrics"]["system"]["stpVsBaseline"] for r in n_p1
              if r["mix"] == "mix7" and r["policy"] == "eclip-fit" and r["backend"] == "gpu" and r["role"] == "mix")
print(f"\npaper's seven, batch 1, --stream-priorities: STP {statistics.mean(stp.values()):.3f} x baseline's, "
      f"worst worker {min(worst.values()):.3f} ({min(worst, key=worst.get)}); with mix7's plain plan as n-p1 "
      f"measured it: {statistics.mean([*(v for k, v in stp.items() if k != 'mix7'), plain7]):.3f}")
