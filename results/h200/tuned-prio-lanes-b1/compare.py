#!/usr/bin/env python3
# From the repository root: python3 results/h200/tuned-prio-lanes-b1/compare.py > results/h200/tuned-prio-lanes-b1/compare.txt
# This series (--tune --stream-priorities) against tuned-lanes-b1 (--tune alone, the same profiles and code, 3.5 hours
# before on another machine start), and in its own process: the tuned plan unraised against the set of raised workers kept
import json, glob
R = 'results/h200'
PARTS = ['p12', 'p34', 'p56', 'p7', 'm12', 'm3', 'm4', 'm56']
def runs(series):
    out = {}
    for d in PARTS:
        for r in json.load(open(f'{R}/{series}/{d}/results.json'))['runs']:
            if r.get('backend') == 'gpu' and r['policy'] == 'eclip-fit': out[r['mix']] = r
    return out
before, now = runs('tuned-lanes-b1'), runs('tuned-prio-lanes-b1')
order = ['mix1', 'mix2', 'mix3', 'mix4', 'mix5', 'mix6', 'mix7', 'more1', 'more2', 'more3', 'more4', 'more5', 'more6']
print('mix     --tune alone  with priorities    Δ    | own process: plan unraised  set kept            Δ     | tuned plan as before')
dr, dw = [], []
for m in order:
    b, n = before[m], now[m]
    bs, ns = b['metrics']['system']['stpVsBaseline'], n['metrics']['system']['stpVsBaseline']
    trail = n['tuning']['runs']
    sets = [x for x in trail if x['phase'] == 'set']
    plan = sets[0]['plan']
    unraised = [x['stpVsBaseline'] for x in trail if x['phase'] != 'set' and x['plan'] == plan][-1]
    kept = next((x for x in sets if x.get('kept')), None)
    chosen = kept['stpVsBaseline'] if kept else unraised
    before_plan = next(x['plan'] for x in b['tuning']['runs'] if abs(x['stpVsBaseline'] - b['tuning']['stpVsBaseline']) < 1e-4)
    dr.append(ns - bs); dw.append(chosen - unraised)
    raised = '+'.join(kept['raised']) if kept else 'none'
    print(f"{m:6}  {bs:.3f}         {ns:.3f}          {ns - bs:+.3f}  | {unraised:.3f}  {raised:27} {chosen:.3f}  {chosen - unraised:+.3f} | {'yes' if before_plan == plan else 'no'} [{plan}]")
print(f"mean Δ own runs (not back to back) {sum(dr) / len(dr):+.4f}; mean Δ windows, set kept − plan unraised (same process) {sum(dw) / len(dw):+.4f} over {len(dw)}")
