#!/usr/bin/env python3
# Each mix's eclip-fit plan at batch 8 made with several floors: predicted STP ratio, worst worker, * where the plan
# (pool and groups) differs from the first directory's. Usage: python3 plans.py DIR... (DIR: 8-MIX.json/.log from
# `eclip plan ... --out DIR/8-MIX.json > DIR/8-MIX.log`), the first the default floor.
import json, re, statistics as st, sys
dirs=sys.argv[1:]; b=8
ms=['mix1','mix2','mix3','mix4','mix5','mix6','mix7','more1','more2','more3','more4','more5','more6']
def get(d,m):
    t=open(f'{d}/{b}-{m}.log').read()
    stp=re.search(r"evaluated STP [0-9.]+, ([0-9.]+)× baseline's",t); w=re.search(r"worst worker (\S+) at ([0-9.]+)",t)
    p=json.load(open(f'{d}/{b}-{m}.json'))
    return float(stp.group(1)), w.group(1), float(w.group(2)), json.dumps([p['pool'],[w['groups'] for w in p['workers']]],sort_keys=True)
for m in ms:
    r=[get(d,m) for d in dirs]
    print(m, ' | '.join(f"{x[0]:.3f} {x[1]} {x[2]:.3f}{'' if x[3]==r[0][3] else ' *'}" for x in r))
for d in dirs:
    R=[get(d,m) for m in ms]; print(d, 'mean %.4f'%st.mean(x[0] for x in R), 'changed', sum(x[3]!=get(dirs[0],m)[3] for x,m in zip(R,ms)))
