#!/usr/bin/env python3
# From the repository root: python3 results/h200/tuned-lanes-b1/compare.py > results/h200/tuned-lanes-b1/compare.txt
# tuned-lanes-b1 against the untuned plans of the same profiles (all-mixes-b1 p1/m1; op-spans-b1 s1 for the three
# mixes with resnext101, whose profile gained op spans after all-mixes-b1), and the tuning's windows in its own process
import json, re, glob
R = 'results/h200'
def runs(d):
    out = {}
    for f in glob.glob(f'{R}/{d}/results.json'):
        for r in json.load(open(f))['runs']:
            if r.get('backend') == 'gpu' and r['policy'] != 'baseline': out[r['mix']] = (r, f)
    return out
untuned = {}
for d in ['all-mixes-b1/p1', 'all-mixes-b1/m1']: untuned.update({m: (v, d) for m, v in runs(d).items()})
for m, v in runs('op-spans-b1/s1').items(): untuned[m] = (v, 'op-spans-b1/s1')
tuned = {}
for d in ['p12', 'p34', 'p56', 'p7', 'm12', 'm3', 'm4', 'm56']: tuned.update(runs(f'tuned-lanes-b1/{d}'))
def desc(plan_file):
    n = json.load(open(plan_file))['solver']['notes']
    head = n.split(':')[0]
    return re.sub(r'overlap prices ', '', head[head.index('homes'):])
order = ['mix1','mix2','mix3','mix4','mix5','mix6','mix7','more1','more2','more3','more4','more5','more6']
print('mix     untuned (series)            tuned    Δ     | windows, one process: untuned plan  chosen    Δ   | same plan')
dw = []; dr = []
for m in order:
    (u, uf), ud = untuned[m]; t, tf = tuned[m]
    tu = t['tuning']; trail = tu['runs']
    pf = glob.glob(f"{uf.rsplit('/',1)[0]}/plans/{m}.eclip-fit.b1.plan.json")[0]
    ud_desc = desc(pf)
    first = next((x for x in trail if x['plan'] == ud_desc), None)
    chosen = min(trail, key=lambda x: abs(x['stpVsBaseline'] - tu['stpVsBaseline']))
    us = u['metrics']['system']['stpVsBaseline']; ts = t['metrics']['system']['stpVsBaseline']
    dr.append(ts - us)
    w = f"{first['stpVsBaseline']:.3f}  {tu['stpVsBaseline']:.3f}  {tu['stpVsBaseline']-first['stpVsBaseline']:+.3f}" if first else 'not in trail'
    if first: dw.append(tu['stpVsBaseline'] - first['stpVsBaseline'])
    print(f"{m:6}  {us:.3f} ({ud:16})  {ts:.3f}  {ts-us:+.3f}  | {w:28} | {'yes' if first and chosen is first else 'no'}  [{ud_desc}]")
print(f"mean Δ own runs (not back to back) {sum(dr)/len(dr):+.4f}; mean Δ windows (same process) {sum(dw)/len(dw):+.4f} over {len(dw)}")
