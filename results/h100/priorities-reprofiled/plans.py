"""Which eclip-fit plans `--stream-priorities` changes on the shipped H100 profiles, and whether today's plans without it
are the ones the README's STP cells measured. Run from the repository's root after planning every mix both ways:

  for b in 1 8; do for m in mix1 … mix7; do ./bin/eclip.mjs plan --mix $m --profiles profiles/h100 --policy eclip-fit \
    --batch $b [--stream-priorities] --out DIR/$m.b$b.{plain,prio}.json; done; done   # more1–6: --mix mixes/more.yaml --mix-name
  python3 results/h100/priorities-reprofiled/plans.py DIR
"""

import json
import sys

D = sys.argv[1]
RECORDED = {  # the series whose plans the README's H100 STP cells measured
    (1, "mix"): "results/h100/shipped-13/n-p1", (1, "more"): "results/h100/shipped-13/n-m1",
    (8, "mix"): "results/h100/reprofiled-b8/n-p8", (8, "more"): "results/h100/reprofiled-b8/n-m8",
}
MIXES = [f"mix{i}" for i in range(1, 8)] + [f"more{i}" for i in range(1, 7)]


def core(path):
    """A plan without its notes and date: the pool, each worker's groups and streams, the parameters."""
    p = json.load(open(path))
    return json.dumps({k: p[k] for k in ("pool", "workers", "params", "repartitionAtSwitch") if k in p}, sort_keys=True)


print("batch mix    today's plan = recorded   --stream-priorities")
for b in (1, 8):
    for m in MIXES:
        rec = f"{RECORDED[(b, m.rstrip('0123456789'))]}/plans/{m}.eclip-fit.b{b}.plan.json"
        plain, prio = core(f"{D}/{m}.b{b}.plain.json"), core(f"{D}/{m}.b{b}.prio.json")
        raised = [w["name"] for w in json.load(open(f"{D}/{m}.b{b}.prio.json"))["workers"] if w.get("streamPriority")]
        print(f"{b:>5} {m:<6} {'yes' if core(rec) == plain else 'NO':<22} "
              f"{'the same plan' if prio == plain else 'raises ' + ', '.join(raised)}")
