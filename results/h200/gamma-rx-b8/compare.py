# Per mix: eclip-fit's STP ÷ baseline's, worst worker and worst p95 under each calibration (ship: the shipped
# profiles/h200/sim-calibration.json; cand: candidate.sim-calibration.json), each arm's two runs, and cand − ship.
# Run here: python3 compare.py > compare.txt
import json, statistics as st
ARMS = {'ship': ['s1', 's2'], 'cand': ['c1', 'c2']}
def runs(part):
    r = json.load(open(f'{part}/results.json'))
    return {x['mix']: x for x in r['runs'] if x['backend'] == 'gpu' and x['policy'] == 'eclip-fit'}
data = {a: [runs(p) for p in ps] for a, ps in ARMS.items()}
mixes = list(data['ship'][0])
def cell(a, m):
    rs = [d[m] for d in data[a]]
    stp = st.mean(x['metrics']['system']['stpVsBaseline'] for x in rs)
    lo = min(rs, key=lambda x: x['metrics']['system']['worstVsBaseline'])['metrics']['system']
    hi = max((w for x in rs for w in x['workers']), key=lambda w: w['p95VsBaseline'])
    return stp, lo['worstVsBaseline'], lo['worstWorker'], hi['p95VsBaseline'], hi['name']
print(f"{'mix':6} {'ship STP':>8} {'worst':>18} {'p95':>18}   {'cand STP':>8} {'worst':>18} {'p95':>18}  {'cand−ship':>9}")
tot = {'ship': [], 'cand': []}
for m in mixes:
    o, n = cell('ship', m), cell('cand', m)
    tot['ship'].append(o); tot['cand'].append(n)
    f = lambda c: f"{c[0]:8.3f} {c[1]:5.3f} {c[2]:>12} {c[3]:5.3f} {c[4]:>12}"
    print(f"{m:6} {f(o)}   {f(n)}  {n[0]-o[0]:+9.3f}")
mo, mn = st.mean(x[0] for x in tot['ship']), st.mean(x[0] for x in tot['cand'])
g = lambda t: f"{min(x[1] for x in t):5.3f} {'':>12} {max(x[3] for x in t):5.3f} {'':>12}"
print(f"{'mean':6} {mo:8.4f} {g(tot['ship'])}   {mn:8.4f} {g(tot['cand'])}  {mn-mo:+9.4f}")
print("each arm: the mean of its two runs' STP ratios; worst worker the lower, worst p95 the higher of the two runs")
