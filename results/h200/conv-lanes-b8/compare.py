#!/usr/bin/env python3
# From the repository root: python3 results/h200/conv-lanes-b8/compare.py > results/h200/conv-lanes-b8/compare.txt
# Per mix and arm (off: the new resnet152.b8 profile without its gemmTarget; on: with it, conv lanes at 8-120 SMs;
# shipped: profiles/h200 as shipped), each eclip-fit run on the GPU against its own baseline run: STP ratio, worst
# worker, worst p95 ratio, resnet152's and vgg19's rates against baseline, and the simulator's STP ratio beside it.
import json
D = 'results/h200/conv-lanes-b8'
ARMS = {'off': ['off1', 'off2', 'off3'], 'on': ['on1', 'on2', 'on3'], 'shipped': ['ship1']}
MIXES = ['mix4', 'more3', 'more5']
def runs(part):
    out = {}
    for r in json.load(open(f'{D}/{part}/results.json'))['runs']:
        if r['policy'] == 'eclip-fit': out[(r['mix'], r['backend'])] = r
    return out
def rate(run, model):
    return min(w['normVsBaseline'] for w in run['workers'] if w['model'] == model)
print('mix    arm     part   STP÷base  (sim)   worst worker        worst p95 ratio      resnet152  vgg19')
means = {}
for m in MIXES:
    for arm, parts in ARMS.items():
        for p in parts:
            g, s = runs(p)[(m, 'gpu')], runs(p)[(m, 'sim')]
            sy = g['metrics']['system']
            worst_p95 = max(g['workers'], key=lambda w: w['p95VsBaseline'])
            means.setdefault((m, arm), []).append(sy['stpVsBaseline'])
            print(f"{m:6} {arm:7} {p:6} {sy['stpVsBaseline']:.3f}   ({s['metrics']['system']['stpVsBaseline']:.3f})"
                  f"  {sy['worstVsBaseline']:.3f} {sy['worstWorker']:10}  {worst_p95['p95VsBaseline']:.2f} {worst_p95['name']:12}"
                  f"  {rate(g, 'resnet152'):.2f}       {rate(g, 'vgg19'):.2f}")
print()
print('mix    off (mean of 3)  on (mean of 3)  on − off  shipped  on − shipped')
d_off, d_ship = [], []
for m in MIXES:
    off, on, ship = (sum(means[(m, a)]) / len(means[(m, a)]) for a in ('off', 'on', 'shipped'))
    d_off.append(on - off); d_ship.append(on - ship)
    print(f"{m:6} {off:.3f}            {on:.3f}           {on - off:+.3f}    {ship:.3f}    {on - ship:+.3f}")
print(f"mean over the 3 mixes: on − off {sum(d_off) / 3:+.4f}, on − shipped {sum(d_ship) / 3:+.4f}")
