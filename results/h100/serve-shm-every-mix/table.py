import json,sys
parts=sys.argv[1:]
def tot(r): return sum(w['throughputRps'] for w in r['workers'])
for p in parts:
    b=json.load(open(f'{p}/bench/results.json'))
    bench={(r['mix'],r['policy'].split('/')[0]):r for r in b['runs']}
    for t in ['shm','cuda-shm']:
        d=json.load(open(f'{p}/serve/{t}/results.json'))
        runs={(r['mix'],r['policy']):r for r in d['runs']}
        for mix in sorted({k[0] for k in runs}):
            base=runs[(mix,'baseline')]; fit=runs[(mix,'eclip-fit')]
            bb=bench[(mix,'baseline')]; bf=bench[(mix,'eclip-fit')]
            sb=tot(base)/tot(bb); sf=tot(fit)/tot(bf)
            s=fit['metrics']['system']; bs=bf['metrics']['system']
            cpu=lambda r: r['metrics'].get('hostCpuMsPerRequest',{})
            err=sum(w.get('errorsTotal',0) for r in (base,fit) for w in r['workers'])
            print(f"| {b['runs'][0]['batch']} | {mix} | {t} | {sb:.2f} / {sf:.2f} | {s['stpVsBaseline']:.3f} ({bs['stpVsBaseline']:.3f}) | {s['worstVsBaseline']:.2f} {s['worstWorker']} | {s['stpVsBound']:.2f} | {cpu(base).get('server',0):.3f} / {cpu(fit).get('server',0):.3f} ({cpu(base).get('eventLoop',0):.3f} / {cpu(fit).get('eventLoop',0):.3f}) | {tot(base):,.0f} / {tot(fit):,.0f} | {err} |")
