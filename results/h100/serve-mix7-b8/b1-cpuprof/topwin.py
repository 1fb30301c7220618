# Self time per function over the 4 s of a .cpuprofile with the most samples in the request path, as shares of the window.
# Usage: python3 topwin.py PROFILE.cpuprofile [window s] [rows]
import json,sys,collections
f=sys.argv[1]; win=float(sys.argv[2]) if len(sys.argv)>2 else 4.0
p=json.load(open(f))
nodes={n['id']:n for n in p['nodes']}
t=p['startTime']; ts=[]
for d in p['timeDeltas']: t+=d; ts.append(t)
SERVE={'writev','decodeBody','writeJson','fastInfer','encodeInferResponse','decodeInferRequest'}
idle=[nodes[s]['callFrame']['functionName'] not in SERVE for s in p['samples']]
# busiest window
best=(0,0); j=0; busy=0
import bisect
n=len(ts)
for i in range(n):
    while ts[i]-ts[j] > win*1e6:
        busy-= (0 if idle[j] else 1); j+=1
    busy+= (0 if idle[i] else 1)
    if busy>best[0]: best=(busy,j,i)
_,a,b=best
self_=collections.Counter()
for k in range(a,b+1):
    dt=p['timeDeltas'][k+1] if k+1<n else 0
    cf=nodes[p['samples'][k]]['callFrame']
    self_[f"{cf['functionName'] or '(anon)'} {cf['url'].split('/')[-1]}:{cf['lineNumber']}"]+=dt
tot=sum(self_.values())
print(f"window {(ts[b]-ts[a])/1e6:.2f} s (the one with most samples in the request path), busy {1-self_.get('(idle) :-1',0)/tot:.3f}")
for k,v in self_.most_common(int(sys.argv[3]) if len(sys.argv)>3 else 40): print(f"{v/tot*100:5.1f}% {v/1000:8.1f} ms {k}")
