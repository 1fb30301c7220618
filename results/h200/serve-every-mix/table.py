# The README's table from the parts (python3 table.py sv8 sv1m7): per mix and transport, served ÷ bench, eclip-fit's
# served STP ratio (the bench's), its worst worker, ÷ bound, server CPU per request, served req/s and errors.
# A part served on one transport has its results in serve/, on several in serve/<transport>/. With --by-part
# (python3 table.py --by-part sv sf s8) each row names its part first and the server's front-end processes after
# the transport.
import json, os, sys
def tot(r): return sum(w['throughputRps'] for w in r['workers'])
by_part = '--by-part' in sys.argv
for p in [a for a in sys.argv[1:] if a != '--by-part']:
    b = json.load(open(f'{p}/bench/results.json'))
    bench = {(r['mix'], r['policy'].split('/')[0]): r for r in b['runs'] if r['backend'] == 'gpu'}
    dirs = [(t, f'{p}/serve/{t}') for t in ('shm', 'cuda-shm', 'grpc', 'http') if os.path.isdir(f'{p}/serve/{t}')] or [('shm', f'{p}/serve')]
    for t, d in dirs:
        runs = {(r['mix'], r['policy']): r for r in json.load(open(f'{d}/results.json'))['runs']}
        for mix in sorted({k[0] for k in runs}):
            base, fit = runs[(mix, 'baseline')], runs[(mix, 'eclip-fit')]
            bb, bf = bench[(mix, 'baseline')], bench[(mix, 'eclip-fit')]
            s, bs = fit['metrics']['system'], bf['metrics']['system']
            cpu = lambda r: r['metrics'].get('hostCpuMsPerRequest', {})
            fe = next((n.split(' front-end')[0].split()[-1] for n in fit['notes'] if 'front-end processes in front' in n), '0')
            lead = f"| {p} " if by_part else ''
            t_fe = f"{t} | {fe}" if by_part else t
            err = sum(w.get('errorsTotal', 0) for r in (base, fit) for w in r['workers'])
            print(f"{lead}| {b['runs'][0]['batch']} | {mix} | {t_fe} | {tot(base)/tot(bb):.2f} / {tot(fit)/tot(bf):.2f} | "
                  f"{s['stpVsBaseline']:.3f} ({bs['stpVsBaseline']:.3f}) | {s['worstVsBaseline']:.2f} {s['worstWorker']} | "
                  f"{s['stpVsBound']:.2f} | {cpu(base).get('server', 0):.3f} / {cpu(fit).get('server', 0):.3f} | "
                  f"{tot(base):,.0f} / {tot(fit):,.0f} | {err} |")
