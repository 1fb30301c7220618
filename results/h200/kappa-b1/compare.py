#!/usr/bin/env python3
# From the repository root: python3 results/h200/kappa-b1/compare.py > results/h200/kappa-b1/compare.txt
# eclip-fit at batch 1 planned with the calibration before (before.sim-calibration.json, parts *s) and with the candidate
# (../tuned-prio-lanes-b1/candidate-b1-kappa.sim-calibration.json, parts *k, shipped since), each against its own
# baseline run in the same `eclip bench`, the two arms back to back; round 1 (k*) and round 2 (r*). Per mix: measured STP ÷ baseline's, the worst worker's rate and the worst p95 ÷ its
# baseline's, and the simulator's own prediction for the plan (its notes, on each arm's calibration); requests/J: summary.txt.
import json, re, statistics as st
D = 'results/h200/kappa-b1'
ROUNDS = {1: ['k1', 'k2', 'k34', 'k5'], 2: ['r14', 'r2', 'r3', 'r5']}
ORDER = ['mix1', 'mix2', 'mix4', 'mix7', 'more2', 'more3', 'more4', 'more5', 'more6']
def load(part):
    out = {}
    for r in json.load(open(f'{D}/{part}/results.json'))['runs']:
        if r.get('backend') == 'gpu' and r['policy'] == 'eclip-fit':
            plan = json.load(open(f"{D}/{part}/{r['planFile']}"))
            notes = plan['solver'].get('notes', '')
            sim = re.search(r'evaluated STP [\d.]+, ([\d.]+)× baseline', notes)
            homes = re.search(r'homes ([\d/]+) SMs, overlap prices ([^:]+):', notes)
            out[r['mix']] = (r, float(sim.group(1)) if sim else float('nan'), f"{homes.group(1)} {homes.group(2)}" if homes else '?')
    return out
arms = {(n, a): {} for n in ROUNDS for a in 'sk'}
for n, parts in ROUNDS.items():
    for p in parts:
        for a in 'sk': arms[(n, a)].update(load(p + a))
def m(x, k):
    if k == 'p95': return max(w['p95VsBaseline'] for w in x[0]['workers'])  # the worst worker's p95 ÷ its baseline's
    return x[0]['metrics']['system'][k] if k in x[0]['metrics']['system'] else x[0]['metrics'][k]
print('mix    round  before: STP worst  p95   sim  | κ: STP  worst  p95   sim    |  Δ STP   Δ worst')
deltas, dworst = {1: [], 2: []}, {1: [], 2: []}
for mix in ORDER:
    for n in ROUNDS:
        s, k = arms[(n, 's')][mix], arms[(n, 'k')][mix]
        d = m(k, 'stpVsBaseline') - m(s, 'stpVsBaseline'); dw = m(k, 'worstVsBaseline') - m(s, 'worstVsBaseline')
        deltas[n].append(d); dworst[n].append(dw)
        print(f"{mix:6} {n}      {m(s, 'stpVsBaseline'):.3f}  {m(s, 'worstVsBaseline'):.3f}  {m(s, 'p95'):.2f}  {s[1]:.3f} |"
              f"      {m(k, 'stpVsBaseline'):.3f}  {m(k, 'worstVsBaseline'):.3f}  {m(k, 'p95'):.2f}  {k[1]:.3f} | {d:+.3f}  {dw:+.3f}")
print()
for mix in ORDER:
    print(f"{mix:6} plans  before [{arms[(1, 's')][mix][2]}]  κ [{arms[(1, 'k')][mix][2]}]"
          f"{'' if arms[(1, 's')][mix][2] == arms[(2, 's')][mix][2] and arms[(1, 'k')][mix][2] == arms[(2, 'k')][mix][2] else '  (round 2 differs)'}")
print()
both = [(a + b) / 2 for a, b in zip(deltas[1], deltas[2])]
for n in ROUNDS:
    print(f"round {n}: mean Δ STP {st.mean(deltas[n]):+.4f} over {len(ORDER)} mixes, mean Δ worst {st.mean(dworst[n]):+.4f}")
print(f"both rounds: mean Δ STP {st.mean(both):+.4f} (median {st.median(both):+.4f}); round-to-round |Δ − Δ| mean "
      f"{st.mean(abs(a - b) for a, b in zip(deltas[1], deltas[2])):.4f}; over all 13 mixes (4 with the same plan, Δ 0) {sum(both) / 13:+.4f}")
for a, name in (('s', 'before'), ('k', 'κ')):
    for key, label in (('stpVsBaseline', 'STP'), ('totalRpsVsBaseline', 'requests/s')):
        v = [st.mean(m(arms[(n, a)][mix], key) for n in ROUNDS) for mix in ORDER]
        print(f"{name}: mean {label} ÷ baseline's over the {len(ORDER)} {st.mean(v):.4f}", end='; ')
    w = min(m(arms[(n, a)][mix], 'worstVsBaseline') for n in ROUNDS for mix in ORDER)
    p = max(m(arms[(n, a)][mix], 'p95') for n in ROUNDS for mix in ORDER)
    sim = [arms[(1, a)][mix][1] for mix in ORDER]
    print(f"worst worker {w:.3f}; worst p95 {p:.2f}; simulator's own prediction {st.mean(sim):.4f}")
