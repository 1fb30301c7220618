#!/usr/bin/env python3
"""MPS's own cost beside its caps, per mix: the GPU's `mps` STP ÷ baseline's against the simulator's caps-only MPS
alone and times the GPU's `mps-unlimited` STP ÷ baseline's (MPS with no caps: what running each model in its own MPS
client costs). Run from the repository's root: mps-cost.py SIM_DIR... (the simulator's bench outputs, README)."""
import json
import statistics as st
import sys

H = 'results/h200/'


def stp(files, policy):
    out = {}
    for f in files:
        for r in json.load(open(f))['runs']:
            if r.get('role') == 'mix' and r['policy'] == policy:
                out[r['mix']] = r['metrics']['system']['stpVsBaseline']
    return out


sims = [f'{d}/results.json' for d in sys.argv[1:]]
for batch, mps, unlimited in [
    (8, [f'{H}mps-b8/{p}/results.json' for p in ['M1', 'M4', 'N1', 'N4']],
     [f'{H}mps-unlimited/{p}/results.json' for p in ['V1', 'V4', 'W1', 'W4']]),
    (1, [f'{H}mps-b1/{p}/results.json' for p in ['Q1', 'Q4', 'U1', 'U4']],
     [f'{H}mps-unlimited/{p}/results.json' for p in ['X1', 'X4']] + [f'{H}mps-b1/{p}/results.json' for p in ['U1', 'U4']]),
]:
    g = stp(mps, 'mps')
    u = stp(unlimited, 'mps-unlimited')
    s = stp([f for f in sims if json.load(open(f))['runs'][0]['batch'] == batch], 'mps')
    print(f'batch {batch}: STP ÷ baseline\'s | GPU mps | simulated mps (caps only) | GPU mps-unlimited | '
          'simulated × GPU mps-unlimited | error: caps only | error: × mps-unlimited')
    e1, e2 = [], []
    for m in g:
        p = s[m] * u[m]
        e1.append(s[m] / g[m] - 1)
        e2.append(p / g[m] - 1)
        print(f'  {m:6} {g[m]:.3f} {s[m]:.3f} {u[m]:.3f} {p:.3f} {100 * e1[-1]:+.1f}% {100 * e2[-1]:+.1f}%')
    print(f'  mean error {100 * st.mean(e1):+.1f}% → {100 * st.mean(e2):+.1f}%; mean |error| '
          f'{100 * st.mean(map(abs, e1)):.1f}% → {100 * st.mean(map(abs, e2)):.1f}%; largest |error| '
          f'{100 * max(map(abs, e1)):.1f}% → {100 * max(map(abs, e2)):.1f}%\n')
