# This folder's table from its parts (python3 table.py sv sf s8): per part, mix, transport and front-ends, served ÷ bench, eclip-fit's
# served STP ratio (the bench's), its worst worker, ÷ bound, server CPU per request, served req/s and errors.
# Each part's transports are in serve/<transport>/; the front-end processes each server had are printed too.
import json, os, sys
def tot(r): return sum(w['throughputRps'] for w in r['workers'])
for p in sys.argv[1:]:
    b = json.load(open(f'{p}/bench/results.json'))
    bench = {(r['mix'], r['policy'].split('/')[0]): r for r in b['runs'] if r['backend'] == 'gpu'}
    dirs = [(t, f'{p}/serve/{t}') for t in ('shm', 'grpc', 'http') if os.path.isdir(f'{p}/serve/{t}')]
    for t, d in dirs:
        runs = {(r['mix'], r['policy']): r for r in json.load(open(f'{d}/results.json'))['runs']}
        for mix in sorted({k[0] for k in runs}):
            base, fit = runs[(mix, 'baseline')], runs[(mix, 'eclip-fit')]
            bb, bf = bench[(mix, 'baseline')], bench[(mix, 'eclip-fit')]
            s, bs = fit['metrics']['system'], bf['metrics']['system']
            cpu = lambda r: r['metrics'].get('hostCpuMsPerRequest', {})
            fe = next((n.split(' front-end')[0].split()[-1] for n in fit['notes'] if 'front-end processes in front' in n), '0')
            err = sum(w.get('errorsTotal', 0) for r in (base, fit) for w in r['workers'])
            print(f"| {p} | {b['runs'][0]['batch']} | {mix} | {t} | {fe} | {tot(base)/tot(bb):.2f} / {tot(fit)/tot(bf):.2f} | "
                  f"{s['stpVsBaseline']:.3f} ({bs['stpVsBaseline']:.3f}) | {s['worstVsBaseline']:.2f} {s['worstWorker']} | "
                  f"{s['stpVsBound']:.2f} | {cpu(base).get('server', 0):.3f} / {cpu(fit).get('server', 0):.3f} | "
                  f"{tot(base):,.0f} / {tot(fit):,.0f} | {err} |")
