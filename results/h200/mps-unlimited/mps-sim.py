#!/usr/bin/env python3
"""The simulator's MPS against the GPU's capped `mps` runs (results/h200/mps-b1 and mps-b8), from the repository's root:
  mps-sim.py cost SIM_DIR...          per mix, the simulator's caps-only MPS STP ÷ baseline's, alone and times the GPU's
                                      `mps-unlimited` ratio (what running each model as its own MPS client costs)
  mps-sim.py check B8_DIR... -- B1_DIR...   the simulator with the calibration's MPS client rate: its mps-unlimited
                                      and mps STP ÷ baseline's against the GPU's
SIM_DIR, B8_DIR, B1_DIR: the simulator's bench outputs (README)."""
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


def cost(args):
    sims = [f'{d}/results.json' for d in args]
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


def check(args):
    i = args.index('--')
    sims = {8: args[:i], 1: args[i + 1:]}
    for batch, parts in [(8, ['mps-b8/M1', 'mps-b8/M4', 'mps-b8/N1', 'mps-b8/N4']),
                         (1, ['mps-b1/Q1', 'mps-b1/Q4', 'mps-b1/U1', 'mps-b1/U4'])]:
        gpu = stp([f'{H}{p}/results.json' for p in parts], 'mps')
        files = [f'{d}/results.json' for d in sims[batch]]
        sim, unl = stp(files, 'mps'), stp(files, 'mps-unlimited')
        e = [sim[m] / gpu[m] - 1 for m in gpu]
        print(f'batch {batch}: simulated mps-unlimited STP ÷ baseline\'s, mean {st.mean(unl.values()):.3f}; simulated mps '
              f'against the GPU: mean error {100 * st.mean(e):+.1f}%, mean |error| {100 * st.mean(map(abs, e)):.1f}%, '
              f'largest {100 * max(map(abs, e)):.1f}%, within 8% in {sum(abs(x) <= 0.08 for x in e)} of {len(e)}')
        print('  ' + ', '.join(f'{m} {100 * (sim[m] / gpu[m] - 1):+.1f}%' for m in gpu))


{'cost': cost, 'check': check}[sys.argv[1]](sys.argv[2:])
