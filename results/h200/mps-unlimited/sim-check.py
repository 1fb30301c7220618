#!/usr/bin/env python3
"""The simulator with the MPS client rate (profiles/h200/sim-calibration.json's `mps`) against the GPU's capped `mps`
runs, which the rate was not fitted on: per batch, the simulated STP ÷ baseline's of mps-unlimited (the fit: the
rate itself) and of mps against the GPU's. Run from the repository's root: sim-check.py B8_DIR... -- B1_DIR...
(the simulator's bench outputs with --policies baseline,mps,mps-unlimited, README)."""
import json
import statistics as st
import sys

H = 'results/h200/'
i = sys.argv.index('--')
sims = {8: sys.argv[1:i], 1: sys.argv[i + 1:]}


def stp(files, policy):
    out = {}
    for f in files:
        for r in json.load(open(f))['runs']:
            if r.get('role') == 'mix' and r['policy'] == policy:
                out[r['mix']] = r['metrics']['system']['stpVsBaseline']
    return out


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
