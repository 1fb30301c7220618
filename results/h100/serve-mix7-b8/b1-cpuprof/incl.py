# Inclusive shares of busy time per function, over the 4 s with the most samples in the request path (as topwin.py).
# Usage: python3 incl.py PROFILE.cpuprofile fn,fn,...
import json,sys,collections
f=sys.argv[1]; win=4.0; names=sys.argv[2].split(',')
p=json.load(open(f))
nodes={n['id']:n for n in p['nodes']}
parent={}
for n in p['nodes']:
    for c in n.get('children',[]): parent[c]=n['id']
t=p['startTime']; ts=[]
for d in p['timeDeltas']: t+=d; ts.append(t)
SERVE={'writev','decodeBody','writeJson','fastInfer','encodeInferResponse','decodeInferRequest'}
w=[nodes[s]['callFrame']['functionName'] in SERVE for s in p['samples']]
best=(0,0,0); j=0; c=0
for i in range(len(ts)):
    while ts[i]-ts[j]>win*1e6:
        c-=w[j]; j+=1
    c+=w[i]
    if c>best[0]: best=(c,j,i)
_,a,b=best
incl=collections.Counter(); tot=0; idle=0
for k in range(a,b+1):
    dt=p['timeDeltas'][k+1] if k+1<len(ts) else 0
    tot+=dt
    x=p['samples'][k]
    if nodes[x]['callFrame']['functionName']=='(idle)': idle+=dt; continue
    seen=set()
    while x is not None:
        fn=nodes[x]['callFrame']['functionName']
        if fn in names and fn not in seen: incl[fn]+=dt; seen.add(fn)
        x=parent.get(x)
busy=tot-idle
print(f"busy {busy/1000:.0f} ms of {tot/1000:.0f}")
for n in names: print(f"{incl[n]/busy*100:5.1f}% of busy  {n}")
