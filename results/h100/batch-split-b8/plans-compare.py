import json,re,sys
PLANS=sys.argv[1] if len(sys.argv)>1 else "/tmp/plans"
mixes=['mix1','mix2','mix3','mix4','mix5','mix6','mix7','more1','more2','more3','more4','more5','more6']
def key(p):
    return json.dumps({'pool':[(x['sms'],x['slices']) for x in p['pool']['partitions']],
        'workers':[{k:v for k,v in w.items() if k not in ('predictedUs','alpha')} for w in p['workers']]},sort_keys=True)
def notes(t):
    m=re.search(r'evaluated STP ([\d.]+), ([\d.]+)× baseline',t); w=re.search(r'worst worker (\S+) at ([\d.]+)× baseline',t)
    h=re.search(r'notes: homes ([\d/]+) SMs',t)
    return (m.group(2) if m else '?', f"{w.group(1)} {w.group(2)}" if w else '?', h.group(1) if h else '?')
print(f"{'mix':6} {'plan':9} {'shipped: STP÷base, worst worker, homes':44} {'candidate: same':44}")
n=0
for m in mixes:
    try:
        a=json.load(open(f'{PLANS}/shipped/{m}.json')); b=json.load(open(f'{PLANS}/cand/{m}.json'))
    except FileNotFoundError: print(m,'missing'); continue
    same=key(a)==key(b); n+=not same
    na=notes(open(f'{PLANS}/shipped/{m}.txt').read()); nb=notes(open(f'{PLANS}/cand/{m}.txt').read())
    print(f"{m:6} {'same' if same else 'CHANGED':9} {na[0]+'  '+na[1]+'  '+na[2]:44} {nb[0]+'  '+nb[1]+'  '+nb[2]:44}")
print(f"plans changed: {n} of {len(mixes)}")
