#!/usr/bin/env python3
# From the repository root: python3 results/h200/tuned-prio-lanes-b1/rank-agreement.py
# How well two GPU series rank the same plans: per mix, the plans both tunings measured (the same description, raised
# sets left out), Spearman's rho between their 1-s windows' STP ratios. The simulator's rho on the same trails is in
# trail-sim.txt: the gap between the two is what a better simulator could win back.
import glob, json, statistics
R = 'results/h200'
PARTS = ['p12', 'p34', 'p56', 'p7', 'm12', 'm3', 'm4', 'm56']
def windows(series):
    out = {}
    for d in PARTS:
        for r in json.load(open(f'{R}/{series}/{d}/results.json'))['runs']:
            if r.get('backend') == 'gpu' and r['policy'] == 'eclip-fit':
                out[r['mix']] = {x['plan']: x['stpVsBaseline'] for x in r['tuning']['runs'] if x['phase'] != 'set'}
    return out
def ranks(v):
    order = sorted(range(len(v)), key=lambda i: v[i]); r = [0.0] * len(v); i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]: j += 1
        for k in range(i, j + 1): r[order[k]] = (i + j) / 2
        i = j + 1
    return r
def spearman(x, y):
    a, b = ranks(x), ranks(y); ma, mb = statistics.mean(a), statistics.mean(b)
    num = sum((p - ma) * (q - mb) for p, q in zip(a, b))
    den = (sum((p - ma) ** 2 for p in a) * sum((q - mb) ** 2 for q in b)) ** 0.5
    return num / den
a, b = windows('tuned-lanes-b1'), windows('tuned-prio-lanes-b1')
rhos, gaps = [], []
print('mix     plans  rho (tuned-lanes-b1 windows, tuned-prio-lanes-b1 windows)  mean |difference|')
for m in sorted(a, key=lambda m: (m.startswith('more'), m)):
    both = [p for p in a[m] if p in b[m]]
    x, y = [a[m][p] for p in both], [b[m][p] for p in both]
    rho = spearman(x, y); rhos.append(rho); gap = statistics.mean(abs(p - q) for p, q in zip(x, y)); gaps.append(gap)
    print(f'{m:6}  {len(both):5}  {rho:+.3f}  {gap:.4f}')
print(f'mean          {statistics.mean(rhos):+.3f}  {statistics.mean(gaps):.4f}  ({sum(len([p for p in a[m] if p in b[m]]) for m in a)} plans)')
