# Which recorded eclip-fit plans are the same plan (the same pool partitions and kernel groups per worker):
# C's plans made here for the mixes C was not run on (C-here/) against A's and B's as they ran, and the device's
# plans against each other. python3 same-plans.py (in this folder)
import glob, json

def sig(p):
    d = json.load(open(p))
    parts = {q['id']: tuple(q['slices']) for q in d['pool']['partitions']}
    return [[(g['first'], g['last'], parts[g['partition']]) for g in w['groups']] for w in d['workers']]

def plan(arms, mix):
    for a in arms:
        for f in glob.glob(f'{a}/plans/{mix}.eclip-fit.b1.plan.json') + glob.glob(f'{a}/{mix}.eclip-fit.b1.plan.json'):
            return f
    return None

mixes = [f'mix{i}' for i in range(1, 8)] + [f'more{i}' for i in range(1, 7)]
arms = {'A': ['A1', 'A2'], 'A again': ['A3', 'A4'], 'B': ['B1', 'B2'], 'C': ['C3', 'C-here']}
print('mix     ' + '  '.join(f'{x:>14}' for x in ['C = A', 'C = B', 'A again = A', 'C from']))
for m in mixes:
    p = {k: plan(v, m) for k, v in arms.items()}
    same = lambda x, y: '–' if not (p[x] and p[y]) else ('same' if sig(p[x]) == sig(p[y]) else 'differs')
    print(f'{m:7} ' + '  '.join(f'{x:>14}' for x in [same('C', 'A'), same('C', 'B'), same('A again', 'A'), p['C'].split('/')[0] if p['C'] else '–']))
