#!/usr/bin/env python3
# From the repository root: python3 results/h200/tuned-prio-kappa-b1/compare.py > results/h200/tuned-prio-kappa-b1/compare.txt
# This series (--tune --stream-priorities, planned on the κ calibration) against tuned-prio-lanes-b1 (the same options
# on the calibration before, 7 hours before, another machine start): each mix's STP ratio, the raised workers kept,
# and whether the tuning chose the same plan; in this series' own process, the set kept against the plan unraised.
import json
R = 'results/h200'
PARTS = ['p12', 'p34', 'p56', 'p7', 'm12', 'm3', 'm4', 'm56']
def runs(series):
    out = {}
    for d in PARTS:
        for r in json.load(open(f'{R}/{series}/{d}/results.json'))['runs']:
            if r.get('backend') == 'gpu' and r['policy'] == 'eclip-fit': out[r['mix']] = r
    return out
def chosen(run):
    trail = run['tuning']['runs']
    sets = [x for x in trail if x['phase'] == 'set']
    plan = sets[0]['plan'] if sets else max((x for x in trail if x['phase'] != 'set'), key=lambda x: x['stpVsBaseline'])['plan']
    unraised = [x['stpVsBaseline'] for x in trail if x['phase'] != 'set' and x['plan'] == plan][-1]
    kept = next((x for x in sets if x.get('kept')), None)
    return plan, unraised, ('+'.join(kept['raised']) if kept else 'none'), (kept['stpVsBaseline'] if kept else unraised)
before, now = runs('tuned-prio-lanes-b1'), runs('tuned-prio-kappa-b1')
order = ['mix1', 'mix2', 'mix3', 'mix4', 'mix5', 'mix6', 'mix7', 'more1', 'more2', 'more3', 'more4', 'more5', 'more6']
print('mix     before  κ cal.    Δ    | raised before               raised now                  | same plan | own process: unraised  kept    Δ')
dr, dw, same = [], [], 0
for m in order:
    b, n = before[m], now[m]
    bs, ns = b['metrics']['system']['stpVsBaseline'], n['metrics']['system']['stpVsBaseline']
    bp, _, braised, _ = chosen(b)
    np_, unraised, raised, kept = chosen(n)
    dr.append(ns - bs); dw.append(kept - unraised); same += bp == np_
    print(f"{m:6}  {bs:.3f}   {ns:.3f}  {ns - bs:+.3f}  | {braised:27} {raised:27} | {'yes' if bp == np_ else 'no ':3}       | {unraised:.3f}  {kept:.3f}  {kept - unraised:+.3f}  [{np_}]")
print(f"mean Δ own runs (not back to back) {sum(dr) / len(dr):+.4f}; same plan chosen in {same} of {len(order)};"
      f" mean Δ windows, set kept − plan unraised (same process) {sum(dw) / len(dw):+.4f}")
