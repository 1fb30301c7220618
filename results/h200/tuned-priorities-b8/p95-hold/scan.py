#!/usr/bin/env python3
"""What the p95 hold on the tuning's choice (src/plan/tune.ts, holdP95) would have taken in every recorded GPU
tuning with a trail, read off the trail alone (nothing re-run): where the choice's window put a worker's p95 past
the cap, the best run of the trail that met the floors (as held) and kept every p95 within it. The trail records each
run's highest p95, so a run is within the cap where that is. Runs tuned with floors under the default (0.9, read off
the plan's notes) are listed but not held, as the rule does not hold them.
  python3 scan.py [CAP=1.07] [ROOT=results]   (from the repository's root)"""
import glob
import json
import os
import re
import sys

cap = float(sys.argv[1]) if len(sys.argv) > 1 else 1.07
root = sys.argv[2] if len(sys.argv) > 2 else 'results'
print(f'cap {cap}; columns: series, mix, batch, floor, the choice in tuning (STP ratio, highest p95, raised), '
      'its own run (STP ratio, highest p95), what the hold takes from the trail (phase, STP ratio, highest p95, raised)')
n = held = 0
for f in sorted(glob.glob(os.path.join(root, 'h*', '**', 'results.json'), recursive=True)):
    try:
        runs = json.load(open(f)).get('runs', [])
    except (OSError, ValueError):
        continue
    for run in runs:
        t = run.get('tuning')
        if not t or run.get('backend') != 'gpu' or 'runs' not in t or 'worstP95VsBaseline' not in t:
            continue
        n += 1
        floor = 0.9
        plan = os.path.join(os.path.dirname(f), run.get('planFile') or '')
        if os.path.isfile(plan):
            m = re.search(r'floors (?:NOT )?met \(([0-9.]+)×', json.load(open(plan))['solver'].get('notes', ''))
            floor = float(m.group(1)) if m else floor
        own = max(w.get('p95VsBaseline') or 0 for w in run['workers'])
        if t['worstP95VsBaseline'] <= cap + 1e-9:
            continue
        kept = [r for r in t['runs'] if r.get('kept') and r['phase'] == 'set']
        raised = ','.join(kept[0]['raised']) if kept else '-'
        ok = [r for r in t['runs'] if r.get('floorsMet') and r.get('worstP95VsBaseline', 9) <= cap + 1e-9]
        best = max(ok, key=lambda r: r['stpVsBaseline']) if ok else None
        take = 'not held (floor under 0.9)' if floor < 0.9 else (
            f"{best['phase']} {best['stpVsBaseline']:.3f} {best['worstP95VsBaseline']:.3f} {','.join(best.get('raised', [])) or '-'}"
            if best else 'none within the cap: unchanged')
        held += floor >= 0.9 and best is not None
        print(f"{os.path.dirname(f)}  {run['mix']}  b{run['batch']}  {floor}  "
              f"{t['stpVsBaseline']:.3f} {t['worstP95VsBaseline']:.3f} {raised}  "
              f"{run['metrics']['system']['stpVsBaseline']:.3f} {own:.3f}  -> {take}")
print(f'{n} tuned GPU runs with a trail; the hold changes the choice in {held}')
