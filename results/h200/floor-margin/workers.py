#!/usr/bin/env python3
# Per worker, from each part's results.json: the eclip-fit run's rate ÷ baseline's on the GPU and on the simulator
# (the bench's own simulated runs of the same plans), and the simulator's error on each worker's absolute rate
# under baseline and under the plan. Usage, in this folder: python3 workers.py > workers.txt
import json

print(f"{'part':4} {'mix':6} {'worker':15} {'gpu ratio':>9} {'sim ratio':>9} {'Δ':>7} {'sim err base':>12} {'sim err plan':>12}")
for part in ['A1', 'A2', 'A3', 'A4', 'B1', 'B2', 'B3', 'B4']:
    runs = json.load(open(f'{part}/results.json'))['runs']
    for mix in dict.fromkeys(r['mix'] for r in runs):
        get = lambda be, pol: next(r for r in runs if r['mix'] == mix and r['backend'] == be and r['policy'] == pol)
        gb, ge, sb, se = get('gpu', 'baseline'), get('gpu', 'eclip-fit'), get('sim', 'baseline'), get('sim', 'eclip-fit')
        for i, w in enumerate(ge['workers']):
            rate = lambda run: run['workers'][i]['throughputRps']
            g, s = rate(ge) / rate(gb), rate(se) / rate(sb)
            print(f"{part:4} {mix:6} {w['name']:15} {g:9.3f} {s:9.3f} {g - s:+7.3f} {rate(sb) / rate(gb) - 1:+12.3f} {rate(se) / rate(ge) - 1:+12.3f}")
