"""Which eclip-fit plans `--stream-priorities` changes on the shipped H100 profiles, and whether today's plans
without it are the ones the series of the README's STP row measured. From the repository's root, after planning every
mix both ways into DIR as $m.b$b.plain.json and $m.b$b.prio.json (this folder's README has the commands):

  python3 results/h100/priorities-reprofiled/plans.py DIR
"""

import json
import sys

RECORDED = {  # the series whose plans the README's H100 STP cells measured
    (1, "mix"): "results/h100/shipped-13/n-p1", (1, "more"): "results/h100/shipped-13/n-m1",
    (8, "mix"): "results/h100/reprofiled-b8/n-p8", (8, "more"): "results/h100/reprofiled-b8/n-m8",
}
MIXES = [f"mix{i}" for i in range(1, 8)] + [f"more{i}" for i in range(1, 7)]


def core(path):
    """A plan without its notes and date: the pool, each worker's groups and streams, the parameters."""
    p = json.load(open(path))
    return json.dumps({k: p[k] for k in ("pool", "workers", "params", "repartitionAtSwitch") if k in p}, sort_keys=True)


def main(D):
    print("batch mix    today's plan = recorded   --stream-priorities")
    for b in (1, 8):
        for m in MIXES:
            rec = f"{RECORDED[(b, m.rstrip('0123456789'))]}/plans/{m}.eclip-fit.b{b}.plan.json"
            plain, prio = core(f"{D}/{m}.b{b}.plain.json"), core(f"{D}/{m}.b{b}.prio.json")
            pp = json.load(open(f"{D}/{m}.b{b}.prio.json"))
            raised = [w["name"] for w in pp["workers"] if w.get("streamPriority") == "high"]
            stp = pp["solver"]["stp"]["value"] / pp["solver"]["stp"]["baseline"]
            what = "the same plan"
            if prio != plain:
                what = f"raises {', '.join(raised)} (predicted STP {stp:.3f} x baseline's)"
            print(f"{b:>5} {m:<6} {'yes' if core(rec) == plain else 'NO':<22} {what}")


if __name__ == "__main__":
    main(sys.argv[1])
