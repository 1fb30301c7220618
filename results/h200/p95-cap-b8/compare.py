# Per mix: eclip-fit's STP ÷ baseline's, worst worker and worst p95, each arm's two runs averaged, and on − off.
# Run here: python3 compare.py > compare.txt
import json, statistics as st
ARMS = {'off': ['off1', 'off2'], 'on (--max-p95 1.07)': ['on1', 'on2']}
def runs(part):
    r = json.load(open(f'{part}/results.json'))
    return {x['mix']: x for x in r['runs'] if x['backend'] == 'gpu' and x['policy'] == 'eclip-fit'}
data = {a: [runs(p) for p in ps] for a, ps in ARMS.items()}
mixes = list(data['off'][0])
def cell(a, m):
    rs = [d[m] for d in data[a]]
    stp = st.mean(x['metrics']['system']['stpVsBaseline'] for x in rs)
    worst = min(x['metrics']['system']['worstVsBaseline'] for x in rs)
    p95 = max(max(w['p95VsBaseline'] for w in x['workers']) for x in rs)
    who = max(rs[0]['workers'], key=lambda w: w['p95VsBaseline'])['name']
    return stp, worst, p95, who
print(f"{'mix':6} {'off STP':>8} {'worst':>6} {'p95':>5}  {'on STP':>7} {'worst':>6} {'p95':>5}  {'on−off':>7}")
tot = {'off': [], 'on': []}
for m in mixes:
    o, n = cell('off', m), cell('on (--max-p95 1.07)', m)
    tot['off'].append(o); tot['on'].append(n)
    print(f"{m:6} {o[0]:8.3f} {o[1]:6.3f} {o[2]:5.3f}  {n[0]:7.3f} {n[1]:6.3f} {n[2]:5.3f}  {n[0]-o[0]:+7.3f}   p95: {o[3]} / {n[3]}")
mo, mn = st.mean(x[0] for x in tot['off']), st.mean(x[0] for x in tot['on'])
print(f"{'mean':6} {mo:8.4f} {min(x[1] for x in tot['off']):6.3f} {max(x[2] for x in tot['off']):5.3f}  {mn:7.4f} {min(x[1] for x in tot['on']):6.3f} {max(x[2] for x in tot['on']):5.3f}  {mn-mo:+7.4f}")
print("each arm: the mean of its two runs' STP ratios; worst worker the lower, worst p95 the higher of the two runs")
